"""Twilio's request signature (X-Twilio-Signature), checked the way its helper libraries do.

The signature is base64(HMAC-SHA1(auth token, url + each POST parameter's name and value)),
parameters sorted by name (several values of one name sorted too), where url is the URL
Twilio requested, query string included. Twilio has signed URLs both with and without the
default port, so, like its libraries, both forms are accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit


def compute(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The signature Twilio sends for a POST of `params` (name, value pairs) to `url`."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    payload = url + "".join(name + value for name in sorted(values)
                            for value in sorted(values[name]))
    digest = hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_forms(url: str) -> tuple[str, str]:
    """`url` without its port, and with one (the scheme's default when it names none)."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, colon, port = hostport.rpartition(":")
    if not (colon and port.isdigit()):  # no port ("[::1]" splits at a colon of the address)
        host, port = hostport, ""
    if port:
        return urlunsplit(parts._replace(netloc=userinfo + at + host)), url
    default = "443" if parts.scheme == "https" else "80"
    return url, urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}:{default}"))


def valid(token: str, url: str, params: list[tuple[str, str]], signature: str | None) -> bool:
    """True when `signature` is Twilio's for this request (compared in constant time)."""
    if not signature:
        return False
    given = signature.strip().encode()
    ok = False
    for form in _port_forms(url):
        ok |= hmac.compare_digest(compute(token, form, params).encode(), given)
    return ok
