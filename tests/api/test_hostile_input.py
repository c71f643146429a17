"""Hostile request bodies are refused with 400/413/422 in the error shape, never a 500, and
change nothing: the reliability report's probes 2b, 2c, 2f, 2k and L3, over real HTTP."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from qualgent.apps.upload import MAX_FORM_BYTES, MAX_PARTS
from tests.api.test_auth_and_errors import _error
from tests.conftest import FIXTURE_APK, Db, Org, Server

JSON = {"content-type": "application/json"}


def _case(**fields: object) -> dict:
    return {"name": "n", "steps": [{"description": "Wait {{t}} s"}], **fields}


def _job(vars_json: str) -> bytes:
    job = {"app_file_id": str(uuid.uuid4()), "test_case_id": str(uuid.uuid4()),
           "device": {"name": "Pixel 7", "platform": "Android"}, "vars": "VARS"}
    return json.dumps({"jobs": [job]}).replace('"VARS"', vars_json).encode()


def _case_with_default(number: str) -> str:
    body = _case(variables=[{"name": "t", "type": "number", "default": "NUMBER"}])
    return json.dumps(body).replace('"NUMBER"', number)


def _refused(r: httpx.Response, status: int, error: str, field: str) -> None:
    body = _error(r, status, error)
    assert body["details"]["field"] == field, body
    assert "x-ratelimit-limit" in r.headers


def _nothing_stored(db: Db) -> None:
    assert db.scalar("SELECT count(*) FROM test_cases") == 0
    assert db.scalar("SELECT count(*) FROM test_runs") == 0
    assert db.scalar("SELECT count(*) FROM app_files") == 0


@pytest.mark.parametrize(("body", "field"), [
    (_case(name="a\x00b"), "name"),
    (_case(description="d\x00"), "description"),
    (_case(steps=[{"description": "Tap \x00 A"}]), "steps[0].description"),
    (_case(variables=[{"name": "t", "type": "string", "default": "x\x00"}]),
     "variables[0].default"),
    (_case(variables=[{"name": "t\x00", "type": "string"}]), "variables[0].name"),
    (_case(**{"na\x00me": "x"}), "body"),
])
def test_nul_in_a_test_case_is_refused(org: Org, db: Db, body: dict, field: str) -> None:
    _refused(org.http.post("/v1/test-cases", json=body), 422, "invalid_request", field)
    _nothing_stored(db)


def test_nul_in_an_update_changes_nothing(org: Org, db: Db) -> None:
    case = org.test_case()
    r = org.http.put(f"/v1/test-cases/{case['id']}", json={"name": "new\x00name"})
    _refused(r, 422, "invalid_request", "name")
    r = org.http.put(f"/v1/test-cases/{case['id']}",
                     json={"steps": [{"description": "ok"}, {"description": "\x00"}]})
    _refused(r, 422, "invalid_request", "steps[1].description")
    assert db.scalar("SELECT count(*) FROM test_case_versions") == 1
    assert org.http.get(f"/v1/test-cases/{case['id']}").json()["test_case"]["name"] == case[
        "name"]


@pytest.mark.parametrize(("vars_json", "field"), [
    ('{"a\\u0000": 1}', "jobs[0].vars"),
    ('{"t": "\\u0000"}', "jobs[0].vars.t"),
    ('{"t": "\\ud800"}', "jobs[0].vars.t"),
    ('{"t": NaN}', "jobs[0].vars.t"),
    ('{"t": -Infinity}', "jobs[0].vars.t"),
    ('{"t": 1e999}', "jobs[0].vars.t"),
    ('{"t": [1, {"u": Infinity}]}', "jobs[0].vars.t[1].u"),
])
def test_unstorable_run_vars_are_refused(org: Org, db: Db, vars_json: str, field: str) -> None:
    r = org.http.post("/v1/test-cases/run", content=_job(vars_json), headers=JSON)
    _refused(r, 422, "invalid_request", field)
    _nothing_stored(db)


@pytest.mark.parametrize("value", ['"yes"', '"true"', "1", '"1"'])
def test_booleans_are_json_booleans(org: Org, db: Db, value: str) -> None:
    """use_sim: "yes" must not book a SIM device by accident (lax parsing took it as true)."""
    body = _job("{}").replace(b'"vars": {}', b'"use_sim": ' + value.encode())
    _refused(org.http.post("/v1/test-cases/run", content=body, headers=JSON), 422,
             "invalid_request", "jobs[0].use_sim")
    case = _case(variables=[{"name": "t", "type": "string", "required": value}])
    _refused(org.http.post("/v1/test-cases", content=json.dumps(case).replace(
        f'"required": {json.dumps(value)}', f'"required": {value}'), headers=JSON), 422,
        "invalid_request", "variables[0].required")
    _nothing_stored(db)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400",
                                    "1" + "0" * 400 + ".5"])
def test_non_finite_variable_defaults_are_refused(org: Org, db: Db, number: str) -> None:
    r = org.http.post("/v1/test-cases", content=_case_with_default(number), headers=JSON)
    _refused(r, 422, "invalid_request", "variables[0].default")
    _nothing_stored(db)


def test_large_but_finite_numbers_are_kept(org: Org) -> None:
    r = org.http.post("/v1/test-cases", content=_case_with_default("1e308"), headers=JSON)
    assert r.status_code == 200, r.text
    assert float(r.json()["test_case"]["variables"][0]["default"]) == 1e308


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize(("body", "words"), [
    (b'{"name":"\xff\xfe","steps":[{"description":"a"}]}', "UTF-8"),
    (_job(_nested(100)), "nested"),
    (_job(_nested(5000)), "nested"),
    (_nested(100_000).encode(), "nested"),
    (_case_with_default("9" * 5000).encode(), "digits"),
    (b'{"name": ', "JSON"),
])
def test_unreadable_bodies_are_malformed(org: Org, db: Db, body: bytes, words: str) -> None:
    path = "/v1/test-cases/run" if body.startswith(b'{"jobs"') else "/v1/test-cases"
    r = org.http.post(path, content=body, headers=JSON)
    _refused(r, 400, "malformed_body", "body")
    assert words in r.json()["message"]
    _nothing_stored(db)


def test_reasonable_nesting_in_vars_is_accepted(org: Org) -> None:
    """A run's vars may hold structured values: 30 levels pass the guard (the run itself
    then fails for its unknown ids, not for the body)."""
    r = org.http.post("/v1/test-cases/run", content=_job('{"t": ' + _nested(30) + "}"),
                      headers=JSON)
    _error(r, 404, "S-90004")


@pytest.mark.parametrize("path", ["/v1/test-cases", "/v1/test-cases/run",
                                  "/v1/test-cases/run-all", "/v1/apps/delete"])
def test_a_post_without_a_body_names_the_body(org: Org, path: str) -> None:
    r = org.http.post(path)
    body = _error(r, 400, "missing_parameter")
    assert body["details"]["field"] == "body"
    assert "body" in body["message"]


def _raw_response(port: int, head: bytes, body: bytes = b"", wait: float = 10) -> bytes:
    """Send head (+ body) and read until the server closes or the JSON answer is complete."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(head + body)
        out = b""
        while not (b"\r\n\r\n" in out and out.rstrip().endswith(b"}")):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    return out


@pytest.mark.parametrize(("body", "field"), [
    (json.dumps(_case(name="a\x00b")).encode(), "name"),
    (_case_with_default("NaN").encode(), "variables[0].default"),
], ids=["nul", "nan"])
def test_a_second_content_type_does_not_hide_a_json_body(
    org: Org, server: Server, db: Db, body: bytes, field: str
) -> None:
    """The route reads the first Content-Type (JSON): the body guard checks what it reads."""
    port = int(server.base_url.rsplit(":", 1)[1])
    head = (f"POST /v1/test-cases HTTP/1.1\r\nHost: x\r\nX-Api-Key: {org.key}\r\n"
            "Content-Type: application/json\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    status, _, rest = _raw_response(port, head, body).partition(b"\r\n")
    assert b" 422 " in status, rest[-300:]
    err = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert (err["error"], err["details"]["field"]) == ("invalid_request", field)
    _nothing_stored(db)


def test_json_body_over_the_cap_is_refused_from_its_declared_length(
    org: Org, server: Server, db: Db
) -> None:
    """The answer comes before the body is sent: nothing of 3 GB is read."""
    port = int(server.base_url.rsplit(":", 1)[1])
    head = (f"POST /v1/test-cases HTTP/1.1\r\nHost: x\r\nX-Api-Key: {org.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {3 << 30}\r\n\r\n").encode()
    started = time.monotonic()
    answer = _raw_response(port, head, b'{"name": "')
    assert time.monotonic() - started < 5
    status, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status, answer[:300]
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert b"x-ratelimit-limit" in headers.lower()
    assert b"connection: close" in headers.lower()
    err = json.loads(payload)
    assert err["error"] == "payload_too_large"
    assert err["details"]["max_bytes"] == server.settings.max_json_body_bytes
    _nothing_stored(db)


def test_chunked_json_body_over_the_cap_is_refused_while_streaming(org: Org, db: Db) -> None:
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"name": "'
        for _ in range(200):  # 200 MB offered; the server stops at 1 MB
            sent += 1
            yield b"a" * (1 << 20)
        yield b'", "steps": [{"description": "x"}]}'

    try:
        r = org.http.post("/v1/test-cases", content=body(), headers=JSON)
    except httpx.TransportError:  # the server may close while the client still sends
        pytest.fail("the 413 should arrive before the connection closes")
    _error(r, 413, "payload_too_large")
    assert "x-ratelimit-limit" in r.headers
    assert sent < 200
    _nothing_stored(db)


def test_a_body_just_under_the_cap_is_read(org: Org) -> None:
    steps = [{"description": "T" * 1900}] * 500  # ~0.96 MB
    r = org.http.post("/v1/test-cases", json={"name": "big", "steps": steps})
    assert r.status_code == 200, r.text


# --- multipart uploads -------------------------------------------------------------------

BOUNDARY = b"qgboundary"
MULTIPART = {"content-type": "multipart/form-data; boundary=qgboundary"}


def _part(name: str | bytes, value: bytes, filename: bytes | None = None) -> bytes:
    raw_name = name.encode() if isinstance(name, str) else name
    disposition = b'form-data; name="' + raw_name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return (b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n"
            + value + b"\r\n")


def _form(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


def _upload_parts(**fields: bytes) -> list[bytes]:
    values = {"app_name": b"Settings", "version": b"1.0", **fields}
    return [_part(k, v) for k, v in values.items()]


def _apk_part(filename: bytes = b"settings.apk") -> bytes:
    return _part("file", FIXTURE_APK.read_bytes(), filename)


def _no_blobs(server: Server) -> None:
    root = server.settings.blob_root
    assert not root.exists() or not [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize(("body", "words"), [
    (b"garbage", "malformed"),
    (b"--qgboundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.apk\"\r\n"
     b"[bad\r\n\r\nxx\r\n--qgboundary--\r\n", "malformed"),
    (_form(_part("file", b"PK", b"a" * 10_000 + b".apk")), "header"),
])
def test_malformed_multipart_is_400(org: Org, db: Db, server: Server, body: bytes,
                                    words: str) -> None:
    r = org.http.post("/v1/apps/upload", content=body, headers=MULTIPART)
    _refused(r, 400, "malformed_body", "body")
    assert words in r.json()["message"].lower()
    _nothing_stored(db)
    _no_blobs(server)


def test_an_unusable_boundary_is_400(org: Org) -> None:
    r = org.http.post("/v1/apps/upload", content=b"--" + b"b" * 300 + b"--\r\n",
                      headers={"content-type": "multipart/form-data; boundary=" + "b" * 300})
    _refused(r, 400, "malformed_body", "body")


@pytest.mark.parametrize("field", ["app_name", "version", "os", "package_name"])
def test_nul_in_an_upload_field_is_refused(org: Org, db: Db, server: Server,
                                           field: str) -> None:
    parts = _upload_parts(**{field: b"a\x00b"})
    r = org.http.post("/v1/apps/upload", content=_form(*parts, _apk_part()), headers=MULTIPART)
    _refused(r, 422, "invalid_request", field)
    _nothing_stored(db)
    _no_blobs(server)


def test_a_file_part_without_a_filename_is_a_missing_file(org: Org, db: Db,
                                                          server: Server) -> None:
    """A client that sends the build as a plain field (no filename) is told so, whatever
    bytes the build holds."""
    body = _form(_part("file", b"PK\x03\x04\x00 binary"), *_upload_parts())
    r = org.http.post("/v1/apps/upload", content=body, headers=MULTIPART)
    _refused(r, 400, "missing_parameter", "file")
    assert "filename" in r.json()["message"]
    _nothing_stored(db)
    _no_blobs(server)


def test_nul_in_the_filename_is_refused(org: Org, db: Db, server: Server) -> None:
    body = _form(*_upload_parts(), _apk_part(b"a\x00b.apk"))
    _refused(org.http.post("/v1/apps/upload", content=body, headers=MULTIPART),
             422, "invalid_request", "file")
    _nothing_stored(db)
    _no_blobs(server)


def test_too_many_form_fields_are_refused(org: Org, db: Db, server: Server) -> None:
    extra = [_part(f"f{i}", b"v") for i in range(MAX_PARTS)]
    body = _form(*_upload_parts(), *extra, _apk_part())
    r = org.http.post("/v1/apps/upload", content=body, headers=MULTIPART)
    body_json = _error(r, 400, "malformed_body")
    assert body_json["details"]["max_parts"] == MAX_PARTS
    _nothing_stored(db)
    _no_blobs(server)


def test_form_text_over_its_total_cap_is_refused(org: Org, db: Db, server: Server) -> None:
    """A part without a name is never kept, but its bytes still count."""
    body = _form(*_upload_parts(), _part("", b"v" * (MAX_FORM_BYTES + 1)), _apk_part())
    r = org.http.post("/v1/apps/upload", content=body, headers=MULTIPART)
    _error(r, 413, "payload_too_large")
    assert "x-ratelimit-limit" in r.headers
    _nothing_stored(db)
    _no_blobs(server)


def test_a_hand_built_form_within_the_caps_uploads(org: Org, db: Db) -> None:
    extra = [_part(f"f{i}", b"v" * 100) for i in range(MAX_PARTS - 3)]
    body = _form(*_upload_parts(), *extra, _apk_part())
    r = org.http.post("/v1/apps/upload", content=body, headers=MULTIPART)
    assert r.status_code == 200, r.text
    assert r.json()["file"]["package_name"] == "io.appium.settings"
    assert db.scalar("SELECT count(*) FROM app_files") == 1
