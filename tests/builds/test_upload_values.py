"""Through the API: a build whose identity values are not clean text is refused with
invalid_build naming the value and stores nothing; optional values that are not text come
back as null instead of as their Python repr."""

from __future__ import annotations

import plistlib

from qualgent.builds.demo import android_manifest
from tests.builds import hostile as h
from tests.conftest import Db, Org


def _ipa(plist: dict) -> bytes:
    return h.build_zip([h.deflated("Payload/Evil.app/Info.plist",
                                   plistlib.dumps(plist, fmt=plistlib.FMT_BINARY))])


def _upload(org: Org, name: str, data: bytes):  # noqa: ANN202 - httpx.Response
    return org.http.post("/v1/apps/upload", files={"file": (name, data)},
                         data={"app_name": "values", "version": "1"})


def test_bundle_id_with_nul_is_refused_and_stores_nothing(org: Org, db: Db) -> None:
    r = _upload(org, "nul.ipa", _ipa({"CFBundleIdentifier": "com.a\x00b"}))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_build"
    assert r.json()["message"] == (
        "The uploaded file is not a valid iOS app (IPA): its Info.plist CFBundleIdentifier "
        "contains a control character (U+0000).")
    r = _upload(org, "long.apk", h.build_zip([h.deflated(
        "AndroidManifest.xml", android_manifest("c" * 300, "1", 1, "L"))]))
    assert r.status_code == 422 and "package is longer than 255 characters" in r.text
    assert db.scalar("SELECT count(*) FROM app_files") == 0


def test_optional_values_that_are_not_text_come_back_null(org: Org) -> None:
    r = _upload(org, "bytes.ipa", _ipa({
        "CFBundleIdentifier": "com.example.values",
        "CFBundleShortVersionString": b"\x00\x01",
        "CFBundleVersion": 12,
        "CFBundleDisplayName": "Shown\x00Name",
    }))
    assert r.status_code == 200, r.text
    file = r.json()["file"]
    assert (file["package_name"], file["version_name"], file["version_code"],
            file["label"]) == ("com.example.values", None, "12", None)
