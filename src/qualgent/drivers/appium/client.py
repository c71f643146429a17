"""A thin W3C WebDriver client for Appium, on httpx (no selenium).

Only the calls the Appium driver makes. Every call has a timeout; a server that cannot be
reached, drops the connection or does not answer in time raises DeviceLost, and an error the
server reports ({"value": {"error", "message"}}) raises a WebDriverError named by its W3C code.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import httpx

from qualgent.drivers.base import DeviceFailure, DeviceLost

log = logging.getLogger(__name__)

ELEMENT_KEY = "element-6066-11e4-a52f-4f735466cecf"  # W3C web element identifier
_LEGACY_ELEMENT_KEY = "ELEMENT"  # JSONWP, still sent by some servers


class WebDriverError(DeviceFailure):
    """An error the WebDriver server reported; `error` is its W3C code ("no such element")."""

    def __init__(self, error: str, message: str, status: int = 500) -> None:
        super().__init__(f"{error}: {message}" if message else error)
        self.error = error
        self.message = message
        self.status = status


class InvalidSessionId(WebDriverError):
    """The session is gone (Appium's newCommandTimeout expired, or the server restarted)."""


class SessionNotCreated(WebDriverError):
    """The server could not start a session with these capabilities."""


class UnsupportedCommand(WebDriverError):
    """The server (or its driver) does not implement this command."""


class NoSuchElement(WebDriverError):
    """No element answers (e.g. no focused element for /element/active)."""


_ERRORS: dict[str, type[WebDriverError]] = {
    "invalid session id": InvalidSessionId,
    "session not created": SessionNotCreated,
    "unknown command": UnsupportedCommand,
    "unknown method": UnsupportedCommand,
    "unsupported operation": UnsupportedCommand,
    "not implemented": UnsupportedCommand,
    "no such element": NoSuchElement,
}


def error_for(error: str, message: str, status: int = 500) -> WebDriverError:
    return _ERRORS.get(error, WebDriverError)(error, message, status)


class WebDriverClient:
    """One Appium server (`url`, e.g. http://127.0.0.1:4723) and at most one session on it.

    `timeout` bounds every call (connect, each read); calls that take long on a real device
    (install, video) pass their own.
    """

    def __init__(self, url: str, *, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session_id: str | None = None
        self._http = httpx.Client(timeout=self._timeout(timeout), transport=transport,
                                  headers={"Content-Type": "application/json; charset=utf-8"})

    @staticmethod
    def _timeout(seconds: float) -> httpx.Timeout:
        return httpx.Timeout(seconds, connect=min(seconds, 10.0))

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ the wire

    def request(self, method: str, path: str, body: dict | None = None, *,
                timeout: float | None = None) -> Any:
        """The `value` of the answer to `method path`; raises WebDriverError or DeviceLost."""
        url = f"{self.url}{path}"
        try:
            resp = self._http.request(
                method, url, json=body if body is not None or method != "POST" else {},
                timeout=self._timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.TimeoutException as exc:
            raise DeviceLost(f"Appium at {self.url} did not answer {method} {path} within "
                             f"{timeout or self.timeout:g} s") from exc
        except (httpx.TransportError, OSError) as exc:  # refused, reset, closed mid-answer
            raise DeviceLost(f"Appium at {self.url} is unreachable ({type(exc).__name__}: "
                             f"{exc})") from exc
        try:
            payload = resp.json()
        except ValueError:
            payload = None
        value = payload.get("value") if isinstance(payload, dict) else None
        if isinstance(value, dict) and isinstance(value.get("error"), str):
            raise error_for(value["error"], str(value.get("message") or ""), resp.status_code)
        if resp.status_code >= 400 or not isinstance(payload, dict):
            text = resp.text[:300].strip()
            raise WebDriverError("unknown error", f"HTTP {resp.status_code} from {method} "
                                 f"{path}: {text or 'no body'}", resp.status_code)
        return value

    def _session(self, path: str) -> str:
        if self.session_id is None:
            raise InvalidSessionId("invalid session id", "no session was started")
        return f"/session/{self.session_id}{path}"

    def call(self, method: str, path: str, body: dict | None = None, *,
             timeout: float | None = None) -> Any:
        """A command on the current session (`path` relative to /session/{id})."""
        return self.request(method, self._session(path), body, timeout=timeout)

    # ------------------------------------------------------------------ sessions

    def status(self, timeout: float | None = None) -> dict:
        value = self.request("GET", "/status", timeout=timeout)
        return value if isinstance(value, dict) else {}

    def new_session(self, capabilities: dict, *, timeout: float | None = None) -> dict:
        """Start a session; returns the capabilities the server granted."""
        value = self.request("POST", "/session", {
            "capabilities": {"alwaysMatch": capabilities, "firstMatch": [{}]}}, timeout=timeout)
        if not isinstance(value, dict) or not isinstance(value.get("sessionId"), str):
            raise SessionNotCreated("session not created", f"unexpected answer: {value!r:.200}")
        self.session_id = value["sessionId"]
        caps = value.get("capabilities")
        return caps if isinstance(caps, dict) else {}

    def delete_session(self) -> None:
        if self.session_id is None:
            return
        try:
            self.request("DELETE", f"/session/{self.session_id}")
        except InvalidSessionId:
            pass
        finally:
            self.session_id = None

    # ------------------------------------------------------------------ commands

    def source(self) -> str:
        value = self.call("GET", "/source")
        if not isinstance(value, str):
            raise WebDriverError("unknown error", "the page source is not a string")
        return value

    def screenshot(self) -> bytes:
        return _b64(self.call("GET", "/screenshot"), "screenshot")

    def window_rect(self) -> dict:
        value = self.call("GET", "/window/rect")
        if not isinstance(value, dict) or not value.get("width") or not value.get("height"):
            raise WebDriverError("unknown error", f"unexpected window rect {value!r:.200}")
        return value

    def perform_actions(self, actions: list[dict]) -> None:
        self.call("POST", "/actions", {"actions": actions})

    def execute(self, script: str, args: dict | None = None, *,
                timeout: float | None = None) -> Any:
        """`execute/sync` of a `mobile:` command with one argument object."""
        return self.call("POST", "/execute/sync",
                         {"script": script, "args": [args or {}]}, timeout=timeout)

    def active_element(self) -> str:
        value = self.call("GET", "/element/active")
        if isinstance(value, dict):
            eid = value.get(ELEMENT_KEY) or value.get(_LEGACY_ELEMENT_KEY)
            if isinstance(eid, str):
                return eid
        raise NoSuchElement("no such element", "no element has the focus", 404)

    def element_value(self, element_id: str, text: str) -> None:
        self.call("POST", f"/element/{element_id}/value", {"text": text, "value": list(text)})

    def element_clear(self, element_id: str) -> None:
        self.call("POST", f"/element/{element_id}/clear")

    def back(self) -> None:
        self.call("POST", "/back")

    def logs(self, log_type: str) -> list[dict]:
        """Log entries since the last read of this type ({"timestamp", "level", "message"})."""
        value = self.call("POST", "/se/log", {"type": log_type})
        return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []

    def start_recording_screen(self, options: dict | None = None) -> None:
        self.call("POST", "/appium/start_recording_screen", {"options": options or {}})

    def stop_recording_screen(self, *, timeout: float | None = None) -> bytes:
        return _b64(self.call("POST", "/appium/stop_recording_screen", {"options": {}},
                              timeout=timeout), "recording")


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise WebDriverError("unknown error", f"the {what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise WebDriverError("unknown error", f"the {what} is not valid base64") from exc
