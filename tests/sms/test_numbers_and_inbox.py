"""Provider numbers assigned to devices, the texts a device reads for its run, pruning, and
`qualgent admin set-device-number`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from qualgent import sms
from qualgent.drivers.base import Sms
from tests.conftest import Db, eventually, start_server
from tests.sms.conftest import TOKEN, Webhook, add_device, inbound, stored, with_pool

NUMBER = "+15550100001"


def _assign(db_url: str, serial: str, number: str) -> str:
    return with_pool(db_url, lambda pool: sms.assign(pool, serial, number))


def _read(db_url: str, serial: str, since: datetime) -> list[Sms]:
    return with_pool(db_url, lambda pool: sms.read_messages(pool, serial, since))


def _clock(db_url: str) -> datetime:
    return with_pool(db_url, sms.clock)


def test_assigning_a_number_validates_it_and_shows_the_device_as_sms_capable(
        db_url: str, db: Db) -> None:
    device = add_device(db, "00008110-AAA")
    other = add_device(db, "R5CT1234")
    assert _assign(db_url, "00008110-AAA", "+1 (555) 010-0001") == NUMBER
    assert db.scalar("SELECT sms_enabled FROM devices WHERE id = $1::uuid", device) is True
    assert db.scalar("SELECT sms_enabled FROM devices WHERE id = $1::uuid", other) is False
    for bad in ("15550100001", "+1555", "+0155501000011", "+1555010000123456", "+1555abc0001",
                ""):
        with pytest.raises(sms.NumberRefused, match="E.164"):
            _assign(db_url, "R5CT1234", bad)
    with pytest.raises(sms.NumberRefused, match="already assigned to device 00008110-AAA"):
        _assign(db_url, "R5CT1234", NUMBER)
    assert _assign(db_url, "00008110-AAA", NUMBER) == NUMBER  # again: no change
    assert with_pool(db_url, lambda pool: sms.numbers(pool, ["00008110-AAA", "R5CT1234",
                                                             "nope"])) == {
        "00008110-AAA": NUMBER}
    assert with_pool(db_url, lambda pool: sms.unassign(pool, "00008110-AAA")) == NUMBER
    assert with_pool(db_url, lambda pool: sms.unassign(pool, "00008110-AAA")) is None
    assert _assign(db_url, "R5CT1234", NUMBER) == NUMBER  # free again
    assert db.scalar("SELECT sms_enabled FROM devices WHERE id = $1::uuid", other) is True


def test_a_device_reads_its_numbers_texts_of_its_window_oldest_first(
        db_url: str, db: Db, webhook: Webhook) -> None:
    _assign(db_url, "iphone-1", NUMBER)
    _assign(db_url, "iphone-2", "+15550100002")
    before = _clock(db_url)
    for body in ("first 111111", "second 222222"):
        assert webhook.post(inbound(to=NUMBER, body=body)).status_code == 200
    assert webhook.post(inbound(to="+15550100002", body="other 333333")).status_code == 200
    assert webhook.post(inbound(to="+15550100009", body="nobody's 444444")).status_code == 200
    texts = _read(db_url, "iphone-1", before)
    assert [(t.sender, t.body) for t in texts] == [("+15557654321", "first 111111"),
                                                   ("+15557654321", "second 222222")]
    assert texts[0].received_at <= texts[1].received_at
    assert [t.body for t in _read(db_url, "iphone-2", before)] == ["other 333333"]
    assert _read(db_url, "no-number", before) == []
    assert _read(db_url, "iphone-1", _clock(db_url)) == []  # nothing since
    with pytest.raises(ValueError, match="timezone"):
        _read(db_url, "iphone-1", datetime.now())


def test_a_run_never_sees_the_code_sent_to_the_previous_run_on_the_device(
        db_url: str, db: Db, webhook: Webhook) -> None:
    """Two organizations' runs one after the other on one device: each reads only the texts
    of its own window, so the first run's one-time code never reaches the second run."""
    _assign(db_url, "iphone-1", NUMBER)
    first_run = _clock(db_url)
    assert webhook.post(inbound(to=NUMBER, body="Acme code 111111")).status_code == 200
    assert [t.body for t in _read(db_url, "iphone-1", first_run)] == ["Acme code 111111"]
    second_run = _clock(db_url)  # the device's next run begins
    assert _read(db_url, "iphone-1", second_run) == []
    assert webhook.post(inbound(to=NUMBER, body="Globex code 222222")).status_code == 200
    assert [t.body for t in _read(db_url, "iphone-1", second_run)] == ["Globex code 222222"]


def test_a_number_given_to_another_device_brings_none_of_its_old_texts(
        db_url: str, db: Db, webhook: Webhook) -> None:
    _assign(db_url, "iphone-1", NUMBER)
    window = _clock(db_url)
    assert webhook.post(inbound(to=NUMBER, body="for iphone-1 555555")).status_code == 200
    with_pool(db_url, lambda pool: sms.unassign(pool, "iphone-1"))
    _assign(db_url, "pixel-9", NUMBER)
    assert _read(db_url, "pixel-9", window) == []  # even with a window that began before
    assert _read(db_url, "iphone-1", window) == []  # and the old holder reads nothing now


def test_the_reaper_deletes_texts_older_than_the_keep_period(db_url: str, db: Db,
                                                            tmp_path: Path) -> None:
    db.fetch("INSERT INTO inbound_sms (to_number, from_number, body, received_at) VALUES "
             "($1, 'x', 'old 111111', now() - interval '3 hours'), "
             "($1, 'x', 'recent 222222', now() - interval '1 hour')", NUMBER)
    srv = start_server(db_url, tmp_path / "data", lease_seconds=0.2, sms_keep_hours=2,
                       twilio_auth_token=TOKEN)
    try:  # the API's reaper pass, with no operator action
        eventually(lambda: [m["body"] for m in stored(db)] == ["recent 222222"])
    finally:
        srv.stop()
    assert with_pool(db_url, lambda pool: sms.prune(pool, 0.5)) == 1


def _qualgent(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `qualgent` command, as an operator runs it."""
    command = Path(sys.executable).parent / "qualgent"
    return subprocess.run([str(command), *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=120)


def test_the_admin_command_assigns_and_clears_numbers(db_url: str, db: Db,
                                                      tmp_path: Path) -> None:
    env = {"QUALGENT_DATABASE_URL": db_url, "QUALGENT_DATA_DIR": str(tmp_path)}
    device = add_device(db, "00008110-AAA")
    done = _qualgent(env, "admin", "set-device-number", "00008110-AAA", "+1 555 010 0001",
                     "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"serial": "00008110-AAA", "phone_number": NUMBER}
    assert db.scalar("SELECT sms_enabled FROM devices WHERE id = $1::uuid", device) is True
    taken = _qualgent(env, "admin", "set-device-number", "other", NUMBER)
    assert taken.returncode == 1 and "already assigned to device 00008110-AAA" in taken.stderr
    bad = _qualgent(env, "admin", "set-device-number", "other", "555-0100", "--json")
    assert bad.returncode == 1 and "E.164" in json.loads(bad.stdout)["error"]
    neither = _qualgent(env, "admin", "set-device-number", "other")
    assert neither.returncode == 2 and "NUMBER or --clear" in neither.stderr
    cleared = _qualgent(env, "admin", "set-device-number", "00008110-AAA", "--clear")
    assert cleared.returncode == 0 and f"cleared: {NUMBER}" in cleared.stdout
    assert db.fetch("SELECT * FROM device_numbers") == []
