"""The device pool as the API shows it."""

from __future__ import annotations

from tests.conftest import Db, Org


def test_devices_grouped_by_form_factor_and_only_available(org: Org, db: Db) -> None:
    db.admin("register_device", "Pixel 7", "Android", "14", "phone", True)
    db.admin("register_device", "iPhone 14 Pro", "iOS", "16.0", "phone", False)
    db.admin("register_device", "iPad Pro", "iOS", "16.0", "tablet", False)
    db.admin("register_device", "Galaxy Tab", "Android", "13", "tablet", False)
    assert org.http.get("/v1/devices").json() == {
        "phone": [
            {"name": "Pixel 7", "platform": "Android", "os_version": "14", "sms_enabled": True},
            {"name": "iPhone 14 Pro", "platform": "iOS", "os_version": "16.0",
             "sms_enabled": False},
        ],
        "tablet": [
            {"name": "Galaxy Tab", "platform": "Android", "os_version": "13",
             "sms_enabled": False},
            {"name": "iPad Pro", "platform": "iOS", "os_version": "16.0", "sms_enabled": False},
        ],
    }
    db.fetch("UPDATE devices SET available = false WHERE name = 'Galaxy Tab'")
    assert [d["name"] for d in org.http.get("/v1/devices").json()["tablet"]] == ["iPad Pro"]
