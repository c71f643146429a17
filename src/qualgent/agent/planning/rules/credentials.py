"""Rules for signing in without a typing verb: a field label followed by its value ("email
demo@example.com", "pw hunter2") and a whole sign-in in one clause ("Log in with X and Y",
"Sign in as X / Y", "Log in with the demo account (X, Y)").

Testers write credentials this way far more than they write "type X into the Email field";
the label names the input, and an email-like value tells the user name from the password.
"""

from __future__ import annotations

import re

from qualgent.agent.intents import Action, Intent, Target
from qualgent.agent.matching import candidates
from qualgent.agent.planning.rules.clauses import VERBS, base_verb
from qualgent.agent.planning.rules.phrases import match, unquote
from qualgent.drivers.base import ElementKind, Hierarchy

# Short forms of field names: "pw hunter2" is the password.
_ALIASES = {"pw": "password", "pwd": "password", "pass": "password", "passwd": "password",
            "user": "username", "login": "username", "e-mail": "email", "mail": "email"}
_USER_FIELDS = ("email", "username", "user name", "login", "phone")
_SUBMITS = ("Sign in", "Log in", "Login", "Sign on", "Continue", "Submit")
_FILLER = frozenset({"the", "a", "an", "my", "demo", "test", "account", "user", "credentials",
                     "details", "email", "e-mail", "username", "password", "pw", "and", "as",
                     "with", "using", "of", "login"})
SIGN_IN_LEAD = re.compile(r"^(?:log|sign)\s*(?:in|on)(?:\s+to\s+(?:the\s+)?app)?\s+"
                          r"(?:with|as|using)\s+\S", re.I)


def _field(screen: Hierarchy, name: str) -> Target | None:
    """The input called `name` on screen, as a target, or None."""
    target = Target.of(name)
    if any(m.score >= 0.9 and (m.element.editable or m.element.kind == ElementKind.INPUT)
           for m in candidates(screen, target, "type")):
        return target
    return None


def parse_labelled_value(c: str, quoted: list[str], screen: Hierarchy,
                         prev: list[Intent]) -> list[Intent] | None:
    """"email demo@example.com", "Password: hunter2": the value typed into that input."""
    m = match(r"^(?P<l>[A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*)?)\s*:?\s+(?P<v>\S+)$", c)
    if not m or base_verb(c.split()[0]) in VERBS:
        return None
    label = m.group("l").lower()
    label = _ALIASES.get(label, label)
    target = _field(screen, label)
    if target is None:
        return None
    value, _ = unquote(m.group("v"), quoted)
    return [Intent(Action.TYPE, target, value=value)]


def parse_sign_in(c: str, quoted: list[str], screen: Hierarchy,
                  prev: list[Intent]) -> list[Intent] | None:
    """"Log in with X and Y": X into the user-name input, Y into the password, then the
    sign-in button. The email-like value (with an @) is the user whichever comes first."""
    if not SIGN_IN_LEAD.match(c):
        return None
    rest = re.sub(r"^\S+\s*(?:in|on)?(?:\s+to\s+(?:the\s+)?app)?\s+(?:with|as|using)\s+", "",
                  re.sub(r"^(?:log|sign)in\b", "log in", c, flags=re.I), flags=re.I)
    values = [unquote(w, quoted)[0] for w in re.split(r"[\s,/()]+|:", rest)
              if w and w.lower() not in _FILLER]
    if len(values) != 2:
        return None
    user, password = values
    if "@" in password and "@" not in user:
        user, password = password, user
    user_field = next((t for n in _USER_FIELDS if (t := _field(screen, n))), None)
    password_field = _field(screen, "password")
    # Not on this screen yet (the app still launching): the usual names.
    user_field = user_field or Target.of("email")
    password_field = password_field or Target.of("password")
    submit = Target.of("Sign in")
    for name in _SUBMITS:
        if any(m.score >= 0.97 and m.element.clickable
               for m in candidates(screen, Target.of(name, exact=True), "tap")):
            submit = Target.of(name, exact=True)
            break
    return [Intent(Action.TYPE, user_field, value=user),
            Intent(Action.TYPE, password_field, value=password),
            Intent(Action.TAP, submit)]
