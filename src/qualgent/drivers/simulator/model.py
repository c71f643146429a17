"""The simulator's app model: a small, declarative, JSON-serialisable description of an app.

A build made for the simulator carries one (``assets/qualgent-app.json`` in an APK,
``Payload/<Name>.app/qualgent-app.json`` in an IPA). ``load_model`` validates it strictly
(unknown keys, unknown screens, undeclared state, bad references all raise ``ModelError`` with
the path of the offending value) and returns an ``AppModel`` the device interprets. The format
is documented in the README ("Simulator app models"); in short::

    {"format": "qualgent-app/1", "package": "...", "label": "...", "start": "<screen id>",
     "state": {"name": initial JSON value, ...}, "data": {"name": [{...}, ...], ...},
     "dark_mode": "<state name>",                        # optional: dark palette when truthy
     "screens": {"<id>": {"title": "...", "elements": [...], "tabs": [...], "on_enter": [...]}}}

Strings in texts, messages and conditions are templates: ``{input.<id>}``, ``{state.<name>}``,
``{item.<field>}`` and ``{data.<name>}`` are replaced by their values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qualgent.drivers.base import EDITABLE_KINDS, TOGGLE_KINDS, ElementKind

FORMAT = "qualgent-app/1"

CLICKABLE_KINDS = frozenset({ElementKind.BUTTON, ElementKind.LINK, ElementKind.TAB})
TAPPABLE_KINDS = CLICKABLE_KINDS | {ElementKind.TEXT, ElementKind.IMAGE}
# The kinds a model's elements may have.
KINDS = EDITABLE_KINDS | TOGGLE_KINDS | TAPPABLE_KINDS | {ElementKind.LIST, ElementKind.ROW}

_COMMON_KEYS = {"kind", "id", "text", "description", "visible", "box", "weight"}
_KIND_KEYS: dict[ElementKind, set[str]] = {
    ElementKind.INPUT: {"hint", "secret", "value", "on_submit"},
    ElementKind.SWITCH: {"bind", "on_tap"},
    ElementKind.LIST: {"items", "source", "item_text", "item_description", "item_id", "filter",
                       "on_item_tap", "empty_text"},
    ElementKind.ROW: {"elements"},
}
_KIND_KEYS[ElementKind.SEARCH] = _KIND_KEYS[ElementKind.INPUT]
_KIND_KEYS[ElementKind.CHECKBOX] = _KIND_KEYS[ElementKind.SWITCH]
for _kind in TAPPABLE_KINDS:
    _KIND_KEYS[_kind] = {"on_tap"}

# verb -> allowed modifier keys
_VERBS: dict[str, set[str]] = {
    "go": {"reset"},
    "back": set(),
    "show": set(),
    "set": set(),
    "add": set(),
    "random_code": {"digits"},
    "sms": {"sender"},
    "crash": set(),
    "if": {"then", "else"},
}
_CONDITIONS = ("eq", "ne", "empty", "all", "any", "not")
_NAMESPACES = ("input", "state", "item", "data")

TEMPLATE_RE = re.compile(r"\{([A-Za-z_]\w*(?:\.\w+)+)\}")
_NAME_RE = re.compile(r"[A-Za-z_]\w*")


class ModelError(ValueError):
    """The app model is invalid; str(exc) names the offending path and says why."""


@dataclass(frozen=True)
class Action:
    verb: str  # one of _VERBS
    arg: Any  # the verb's value (screen id, template, mapping, condition...)
    opts: Mapping[str, Any] = field(default_factory=dict)  # modifiers; "then"/"else" parsed


@dataclass(frozen=True)
class ElementSpec:
    kind: ElementKind
    key: str  # stable key of this element within the app, e.g. "home/2"
    flow_index: int  # index of the top-level element it belongs to (rows share theirs)
    id: str | None = None
    text: str | None = None
    description: str | None = None
    hint: str | None = None
    secret: bool = False
    value: str = ""
    box: tuple[float, float, float, float] | None = None  # percent of the screen
    visible: Any = None  # a condition, or None for always
    on_tap: tuple[Action, ...] = ()
    on_submit: tuple[Action, ...] = ()
    bind: str | None = None
    items: tuple[Mapping[str, Any], ...] = ()
    source: str | None = None  # "data.<name>" or "state.<name>"
    item_text: str = "{item.text}"
    item_description: str | None = None
    item_id: str | None = None
    filter: str | None = None
    on_item_tap: tuple[Action, ...] = ()
    empty_text: str | None = None
    children: tuple[ElementSpec, ...] = ()
    weight: float = 1.0  # share of its row's width

    @property
    def editable(self) -> bool:
        return self.kind in EDITABLE_KINDS


@dataclass(frozen=True)
class Screen:
    id: str
    title: str | None
    elements: tuple[ElementSpec, ...]
    tabs: tuple[ElementSpec, ...]
    on_enter: tuple[Action, ...]
    scroll: bool = False  # the elements under the title scroll as one page (a long form)

    def walk(self) -> list[ElementSpec]:
        """Every element, rows' children included (not the rows themselves), then the tabs."""
        out: list[ElementSpec] = []
        for spec in self.elements:
            out.extend(spec.children if spec.kind == ElementKind.ROW else (spec,))
        return out + list(self.tabs)


@dataclass(frozen=True)
class AppModel:
    package: str
    label: str
    start: str
    screens: Mapping[str, Screen]
    state: Mapping[str, Any]  # initial values
    data: Mapping[str, Any]
    dark_mode: str | None
    raw: Mapping[str, Any]  # the validated JSON document, for re-serialisation


# ------------------------------------------------------------------------------- loading


def load_model(source: Mapping[str, Any] | str | bytes) -> AppModel:
    """Validate an app model (a dict, or its JSON text) and return it; raises ModelError."""
    if isinstance(source, str | bytes):
        try:
            source = json.loads(source)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelError(f"app model: not valid JSON ({exc})") from exc
    return _Parser().model(source)


class _Parser:
    def __init__(self) -> None:
        self.state_names: set[str] = set()
        self.data_names: set[str] = set()
        self.screen_ids: set[str] = set()
        self.inputs: set[str] = set()  # input ids of the screen being parsed
        self.go_targets: list[tuple[str, str]] = []  # (path, screen id), checked at the end

    def model(self, doc: Any) -> AppModel:
        path = "app model"
        doc = _mapping(doc, path)
        _keys(doc, path, {"format", "package", "label", "start", "screens"},
              {"state", "data", "dark_mode"})
        if doc["format"] != FORMAT:
            raise ModelError(f"{path}.format: expected {FORMAT!r}, got {doc['format']!r}")
        package = _string(doc["package"], f"{path}.package")
        if not re.fullmatch(r"[A-Za-z][\w]*(\.[A-Za-z][\w]*)+", package):
            raise ModelError(f"{path}.package: {package!r} is not a package name like a.b.c")
        label = _string(doc["label"], f"{path}.label")
        state = _mapping(doc.get("state", {}), f"{path}.state")
        data = _mapping(doc.get("data", {}), f"{path}.data")
        for name in state:
            _name(name, f"{path}.state")
        for name, rows in data.items():
            _name(name, f"{path}.data")
            self._rows(rows, f"{path}.data.{name}")
        self.state_names, self.data_names = set(state), set(data)
        dark_mode = doc.get("dark_mode")
        if dark_mode is not None:
            self._state_name(dark_mode, f"{path}.dark_mode")
        screens_doc = _mapping(doc["screens"], f"{path}.screens")
        if not screens_doc:
            raise ModelError(f"{path}.screens: an app needs at least one screen")
        self.screen_ids = set(screens_doc)
        screens = {sid: self.screen(sid, s, f"{path}.screens.{sid}")
                   for sid, s in screens_doc.items()}
        start = _string(doc["start"], f"{path}.start")
        self.go_targets.append((f"{path}.start", start))
        for where, target in self.go_targets:
            if target not in screens:
                raise ModelError(f"{where}: unknown screen {target!r} "
                                 f"(screens: {', '.join(sorted(screens))})")
        try:
            raw = json.loads(json.dumps(doc))
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{path}: not JSON-serialisable ({exc})") from exc
        return AppModel(package=package, label=label, start=start, screens=screens,
                        state=raw.get("state", {}), data=raw.get("data", {}),
                        dark_mode=dark_mode, raw=raw)

    def screen(self, sid: str, doc: Any, path: str) -> Screen:
        _name(sid, path.rsplit(".", 1)[0])
        doc = _mapping(doc, path)
        _keys(doc, path, {"elements"}, {"title", "tabs", "on_enter", "scroll"})
        elements_doc = _list(doc["elements"], f"{path}.elements")
        tabs_doc = _list(doc.get("tabs", []), f"{path}.tabs")
        # Input ids first, so that actions anywhere on the screen may refer to them.
        self.inputs = set()
        ids: set[str] = set()
        for el in elements_doc + tabs_doc:
            for child in _flatten(el):
                if isinstance(child, Mapping) and isinstance(child.get("id"), str):
                    if child["id"] in ids:
                        raise ModelError(f"{path}: two elements have the id {child['id']!r}")
                    ids.add(child["id"])
                    if isinstance(child.get("kind"), str) and child["kind"] in EDITABLE_KINDS:
                        self.inputs.add(child["id"])
        title = doc.get("title")
        if title is not None:
            self._template(title, f"{path}.title")
        elements = tuple(self.element(el, f"{path}.elements[{i}]", f"{sid}/{i}", i)
                         for i, el in enumerate(elements_doc))
        tabs = tuple(self.element(el, f"{path}.tabs[{i}]", f"{sid}/tab{i}", len(elements_doc))
                     for i, el in enumerate(tabs_doc))
        for i, tab in enumerate(tabs):
            if tab.kind not in CLICKABLE_KINDS:
                raise ModelError(f"{path}.tabs[{i}]: a tab bar holds tab, button or link "
                                 f"elements, not '{tab.kind}'")
        on_enter = self.actions(doc.get("on_enter", []), f"{path}.on_enter")
        scroll = _bool(doc.get("scroll", False), f"{path}.scroll")
        if scroll:
            for i, el in enumerate(elements):
                if el.kind == ElementKind.LIST:
                    raise ModelError(f"{path}.elements[{i}]: a scrolling screen cannot hold a "
                                     f"list (it scrolls as one page)")
        return Screen(id=sid, title=title, elements=elements, tabs=tabs, on_enter=on_enter,
                      scroll=scroll)

    def element(self, doc: Any, path: str, key: str, flow_index: int,
                in_row: bool = False) -> ElementSpec:
        doc = _mapping(doc, path)
        kind = doc.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            raise ModelError(f"{path}.kind: expected one of {', '.join(sorted(KINDS))}, "
                             f"got {kind!r}")
        kind = ElementKind(kind)
        _keys(doc, path, {"kind"}, (_COMMON_KEYS | _KIND_KEYS[kind]) - {"kind"})
        args: dict[str, Any] = {"kind": kind, "key": key, "flow_index": flow_index}
        if "id" in doc:
            args["id"] = _string(doc["id"], f"{path}.id")
        for name in ("text", "description", "hint", "filter", "empty_text", "item_text",
                     "item_description", "item_id"):
            if name in doc:
                args[name] = self._template(doc[name], f"{path}.{name}")
        if "value" in doc:
            args["value"] = _string(doc["value"], f"{path}.value", allow_empty=True)
        if "secret" in doc:
            args["secret"] = _bool(doc["secret"], f"{path}.secret")
        if "weight" in doc:
            if not in_row:
                raise ModelError(f"{path}.weight: only elements inside a row have a weight")
            w = doc["weight"]
            if not isinstance(w, int | float) or isinstance(w, bool) or w <= 0:
                raise ModelError(f"{path}.weight: expected a positive number, got {w!r}")
            args["weight"] = float(w)
        if "box" in doc:
            args["box"] = _box(doc["box"], f"{path}.box")
        if "visible" in doc:
            args["visible"] = self.condition(doc["visible"], f"{path}.visible")
        for name in ("on_tap", "on_submit", "on_item_tap"):
            if name in doc:
                args[name] = self.actions(doc[name], f"{path}.{name}")
        if kind in TOGGLE_KINDS:
            if "bind" not in doc:
                raise ModelError(f"{path}: a {kind} needs 'bind', the state value it toggles")
            args["bind"] = self._state_name(doc["bind"], f"{path}.bind")
        if kind == ElementKind.LIST:
            if "items" not in doc and "source" not in doc:
                raise ModelError(f"{path}: a list needs 'items', 'source' or both")
            if "items" in doc:
                items = _list(doc["items"], f"{path}.items")
                args["items"] = tuple({"text": it} if isinstance(it, str) else it for it in items)
                self._rows(list(args["items"]), f"{path}.items")
            if "source" in doc:
                args["source"] = self._source(doc["source"], f"{path}.source")
        if kind == ElementKind.ROW:
            if in_row:
                raise ModelError(f"{path}: rows cannot be nested")
            children = _list(doc["elements"], f"{path}.elements")
            if not children:
                raise ModelError(f"{path}.elements: a row needs at least one element")
            args["children"] = tuple(
                self.element(c, f"{path}.elements[{j}]", f"{key}.{j}", flow_index, True)
                for j, c in enumerate(children))
            for j, child in enumerate(args["children"]):
                if child.kind == ElementKind.LIST or child.box is not None:
                    raise ModelError(f"{path}.elements[{j}]: a row cannot hold a list or an "
                                     f"element with an explicit box")
        return ElementSpec(**args)

    def actions(self, doc: Any, path: str) -> tuple[Action, ...]:
        return tuple(self.action(a, f"{path}[{i}]") for i, a in enumerate(_list(doc, path)))

    def action(self, doc: Any, path: str) -> Action:
        doc = _mapping(doc, path)
        verbs = [k for k in doc if k in _VERBS]
        if len(verbs) != 1:
            raise ModelError(f"{path}: an action has exactly one of "
                             f"{', '.join(_VERBS)}; got keys {sorted(doc)}")
        verb = verbs[0]
        _keys(doc, path, {verb}, _VERBS[verb])
        arg = doc[verb]
        where = f"{path}.{verb}"
        opts: dict[str, Any] = {}
        if verb == "go":
            self.go_targets.append((where, _string(arg, where)))
            opts["reset"] = _bool(doc.get("reset", False), f"{path}.reset")
        elif verb == "back" or verb == "crash":
            if verb == "back" and arg is not True:
                raise ModelError(f"{where}: write \"back\": true")
            if verb == "crash":
                self._template(arg, where)
        elif verb == "show":
            self._template(arg, where)
        elif verb == "set":
            arg = _mapping(arg, where)
            for name, value in arg.items():
                self._state_name(name, where)
                if isinstance(value, str):
                    self._template(value, f"{where}.{name}")
        elif verb == "add":
            self._state_name(arg, where)
        elif verb == "random_code":
            self._state_name(arg, where)
            digits = doc.get("digits", 6)
            if not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 12:
                raise ModelError(f"{path}.digits: expected an integer from 1 to 12")
            opts["digits"] = digits
        elif verb == "sms":
            self._template(arg, where)
            if "sender" in doc:
                opts["sender"] = _string(doc["sender"], f"{path}.sender")
        elif verb == "if":
            arg = self.condition(arg, where)
            if "then" not in doc:
                raise ModelError(f"{path}: an 'if' needs 'then'")
            opts["then"] = self.actions(doc["then"], f"{path}.then")
            opts["else"] = self.actions(doc.get("else", []), f"{path}.else")
        return Action(verb=verb, arg=arg, opts=opts)

    def condition(self, doc: Any, path: str) -> Any:
        doc = _mapping(doc, path)
        if len(doc) != 1 or next(iter(doc)) not in _CONDITIONS:
            raise ModelError(f"{path}: a condition is one of {', '.join(_CONDITIONS)} "
                             f"(e.g. {{\"eq\": [\"{{input.email}}\", \"a@b.c\"]}}); "
                             f"got keys {sorted(doc)}")
        op, arg = next(iter(doc.items()))
        where = f"{path}.{op}"
        if op in ("eq", "ne"):
            pair = _list(arg, where)
            if len(pair) != 2:
                raise ModelError(f"{where}: expected two templates to compare")
            for i, t in enumerate(pair):
                self._template(t, f"{where}[{i}]")
        elif op == "empty":
            self._ref(_string(arg, where), where)
        elif op in ("all", "any"):
            for i, c in enumerate(_list(arg, where)):
                self.condition(c, f"{where}[{i}]")
        else:
            self.condition(arg, where)
        return doc

    def _template(self, value: Any, path: str) -> str:
        text = _string(value, path, allow_empty=True)
        for ref in TEMPLATE_RE.findall(text):
            self._ref(ref, path)
        return text

    def _ref(self, ref: str, path: str) -> None:
        ns, _, rest = ref.partition(".")
        name = rest.split(".")[0]
        if ns not in _NAMESPACES or not name:
            raise ModelError(f"{path}: reference {ref!r} must start with one of "
                             f"{', '.join(n + '.' for n in _NAMESPACES)}")
        if ns == "state" and name not in self.state_names:
            raise ModelError(f"{path}: state {name!r} is not declared in the model's 'state'")
        if ns == "data" and name not in self.data_names:
            raise ModelError(f"{path}: data {name!r} is not declared in the model's 'data'")
        if ns == "input" and name not in self.inputs:
            raise ModelError(f"{path}: this screen has no input with the id {name!r}")

    def _state_name(self, value: Any, path: str) -> str:
        name = _string(value, path)
        if name not in self.state_names:
            raise ModelError(f"{path}: state {name!r} is not declared in the model's 'state'")
        return name

    def _source(self, value: Any, path: str) -> str:
        ref = _string(value, path)
        ns, _, name = ref.partition(".")
        if ns not in ("data", "state") or not name or "." in name:
            raise ModelError(f"{path}: expected 'data.<name>' or 'state.<name>', got {ref!r}")
        self._ref(ref, path)
        return ref

    @staticmethod
    def _rows(rows: Any, path: str) -> None:
        for i, row in enumerate(_list(rows, path)):
            _mapping(row, f"{path}[{i}]")


def _flatten(el: Any) -> list[Any]:
    if (isinstance(el, Mapping) and el.get("kind") == ElementKind.ROW
            and isinstance(el.get("elements"), list)):
        return [el, *el["elements"]]
    return [el]


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ModelError(f"{path}: expected an object, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ModelError(f"{path}: keys must be strings, got {key!r}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ModelError(f"{path}: expected a list, got {type(value).__name__}")
    return list(value)


def _string(value: Any, path: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ModelError(f"{path}: expected a non-empty string, got {value!r}")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ModelError(f"{path}: expected true or false, got {value!r}")
    return value


def _name(value: str, path: str) -> None:
    if not _NAME_RE.fullmatch(value):
        raise ModelError(f"{path}: {value!r} is not a valid name (letters, digits and _, "
                         f"not starting with a digit)")


def _box(value: Any, path: str) -> tuple[float, float, float, float]:
    box = _list(value, path)
    if len(box) != 4 or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                for v in box):
        raise ModelError(f"{path}: expected [left, top, right, bottom] in percent of the screen")
    left, top, right, bottom = (float(v) for v in box)
    if not (0 <= left < right <= 100 and 0 <= top < bottom <= 100):
        raise ModelError(f"{path}: expected 0 <= left < right <= 100 and 0 <= top < bottom <= 100")
    return left, top, right, bottom


def _keys(doc: Mapping[str, Any], path: str, required: set[str], optional: set[str]) -> None:
    missing = sorted(required - set(doc))
    if missing:
        raise ModelError(f"{path}: missing {', '.join(repr(m) for m in missing)}")
    unknown = sorted(set(doc) - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise ModelError(f"{path}: unknown key {unknown[0]!r} (allowed: {allowed})")


# ---------------------------------------------------------------------------- evaluating


def resolve(ref: str, ctx: Mapping[str, Any]) -> Any:
    """The value at a dotted reference such as ``state.cart`` or ``item.name`` (None if absent)."""
    value: Any = ctx
    for part in ref.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(as_text(v) for v in value)
    return str(value)


def render_template(template: str, ctx: Mapping[str, Any]) -> str:
    return TEMPLATE_RE.sub(lambda m: as_text(resolve(m.group(1), ctx)), template)


def evaluate(cond: Mapping[str, Any], ctx: Mapping[str, Any]) -> bool:
    op, arg = next(iter(cond.items()))
    if op == "eq":
        return render_template(arg[0], ctx) == render_template(arg[1], ctx)
    if op == "ne":
        return render_template(arg[0], ctx) != render_template(arg[1], ctx)
    if op == "empty":
        return not resolve(arg, ctx)
    if op == "all":
        return all(evaluate(c, ctx) for c in arg)
    if op == "any":
        return any(evaluate(c, ctx) for c in arg)
    return not evaluate(arg, ctx)  # "not"
