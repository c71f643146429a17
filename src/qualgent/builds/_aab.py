"""Decode the protobuf XML and resource table of an Android App Bundle.

An AAB stores ``base/manifest/AndroidManifest.xml`` as an aapt2 ``XmlNode`` message and its
resources as a ``ResourceTable`` message (``frameworks/base/tools/aapt2/Resources.proto``), not
as binary AXML / resources.arsc, so APK parsers cannot read it.

Two layers, for bounded memory on untrusted input:

* The large repeated structures (an element's attributes and children, a table's packages,
  types, entries and configuration values) are walked on the wire with ``_pbwire``: parsing
  them with the runtime would materialize every element, about 30 times the wire size for
  empty ones. The walked messages' field numbers are listed in ``_WALKED`` below.
* The small leaf messages the walk selects (one ``XmlAttribute``, one ``ConfigValue``) are
  decoded by the ``protobuf`` runtime, the reference decoder (varints, UTF-8 of strings,
  unknown fields, malformed input rejected with ``DecodeError``), from descriptors built at
  runtime. Declaring only the fields we read keeps the schema to a table that can be checked
  line by line against Resources.proto; none of these leaves has a repeated field, so their
  decoded size stays near their wire size. Generated ``*_pb2`` modules would need protoc at
  build time and tie us to one protobuf major version.

One deliberate deviation: ``ConfigValue.config`` (an ``aapt.pb.Configuration`` message) is
declared as ``bytes``, which is wire-compatible, so "default configuration" is simply "empty".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from qualgent.builds._budget import Budget
from qualgent.builds._pbwire import WireError, fields, pick
from qualgent.builds._restypes import ANDROID_NS

# Wire fields one manifest read or one label resolution may visit: a large real manifest
# needs some 10k (the walk stops at <application>), a table of 100k strings some 300k.
MAX_FIELDS = 1_000_000
_MAX_HOPS = 3  # reference aliases followed when resolving a label

_F = descriptor_pb2.FieldDescriptorProto
_STR, _U32, _I32, _BYTES = _F.TYPE_STRING, _F.TYPE_UINT32, _F.TYPE_INT32, _F.TYPE_BYTES

# Leaf messages decoded by the runtime: message -> (field name, number, scalar type or
# message name). Numbers are those of aapt2's Resources.proto; only the fields read here are
# declared, and none is repeated.
_SCHEMA: dict[str, list[tuple[str, int, Any]]] = {
    "XmlAttribute": [
        ("namespace_uri", 1, _STR),
        ("name", 2, _STR),
        ("value", 3, _STR),
        ("compiled_item", 6, "Item"),
    ],
    "Item": [
        ("ref", 1, "Reference"),
        ("str", 2, "String"),
        ("styled_str", 4, "String"),
        ("prim", 7, "Primitive"),
    ],
    "Reference": [("id", 2, _U32), ("name", 3, _STR)],
    "String": [("value", 1, _STR)],  # StyledString also has its text at field 1
    "Primitive": [("int_decimal_value", 6, _I32)],
    "ConfigValue": [("config", 1, _BYTES), ("value", 2, "Value")],
    "Value": [("item", 4, "Item")],
}


class _WALKED:
    """Field numbers (Resources.proto) of the messages walked on the wire."""

    XML_NODE_ELEMENT = 1
    XML_ELEMENT_NAME, XML_ELEMENT_ATTRIBUTE, XML_ELEMENT_CHILD = 3, 4, 5
    XML_ATTRIBUTE_NAMESPACE, XML_ATTRIBUTE_NAME = 1, 2
    TABLE_PACKAGE = 2
    PACKAGE_ID, PACKAGE_TYPE = 1, 3
    TYPE_ID, TYPE_NAME, TYPE_ENTRY = 1, 2, 3
    ENTRY_ID, ENTRY_NAME, ENTRY_CONFIG_VALUE = 1, 2, 6
    ID_ID = 1  # PackageId, TypeId and EntryId


def _build_messages() -> dict[str, Any]:
    """Compile ``_SCHEMA`` into message classes in a private descriptor pool."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="qualgent/builds/aapt_subset.proto", package="aapt.pb", syntax="proto3"
    )
    for msg_name, msg_fields in _SCHEMA.items():
        msg = fdp.message_type.add(name=msg_name)
        for name, number, ftype in msg_fields:
            field = msg.field.add(name=name, number=number, label=_F.LABEL_OPTIONAL)
            if isinstance(ftype, str):
                field.type, field.type_name = _F.TYPE_MESSAGE, f".aapt.pb.{ftype}"
            else:
                field.type = ftype
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(fdp.SerializeToString())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"aapt.pb.{name}"))
        for name in _SCHEMA
    }


_MESSAGES = _build_messages()


@dataclass(frozen=True)
class Ref:
    """A resource reference: numeric id (0xPPTTEEEE, 0 if absent) and/or "type/entry" name."""

    id: int
    name: str


@dataclass(frozen=True)
class Manifest:
    package: str
    version_name: str | None
    version_code: str | None
    label: str | None  # literal label, if it is not a reference
    label_ref: Ref | None


def _views(buf: memoryview, number: int, budget: Budget) -> Iterator[memoryview]:
    """Each length-delimited value of repeated field ``number``."""
    for n, value in fields(buf, budget):
        if n == number and isinstance(value, memoryview):
            yield value


def _bytes(found: dict[int, int | memoryview], number: int) -> bytes:
    value = found.get(number)
    return bytes(value) if isinstance(value, memoryview) else b""


def _element_name(element: memoryview, budget: Budget) -> bytes:
    return _bytes(pick(element, (_WALKED.XML_ELEMENT_NAME,), budget), _WALKED.XML_ELEMENT_NAME)


def _element(node: memoryview, budget: Budget) -> memoryview | None:
    value = pick(node, (_WALKED.XML_NODE_ELEMENT,), budget).get(_WALKED.XML_NODE_ELEMENT)
    return value if isinstance(value, memoryview) else None


_ATTRIBUTE_IDS = (_WALKED.XML_ATTRIBUTE_NAMESPACE, _WALKED.XML_ATTRIBUTE_NAME)


def _take_attribute(view: memoryview, wanted: dict[tuple[bytes, bytes], str],
                    found: dict[str, Any], budget: Budget) -> None:
    """Add the XmlAttribute in ``view`` to ``found`` if it is wanted and not found yet."""
    ids = pick(view, _ATTRIBUTE_IDS, budget)
    key = wanted.get((_bytes(ids, _ATTRIBUTE_IDS[0]), _bytes(ids, _ATTRIBUTE_IDS[1])))
    if key is not None and key not in found:
        found[key] = _MESSAGES["XmlAttribute"].FromString(bytes(view))


def _attributes(element: memoryview, wanted: dict[tuple[bytes, bytes], str],
                budget: Budget) -> dict[str, Any]:
    """The first attribute of each wanted (namespace, name), decoded: key -> XmlAttribute.
    The walk stops once all are found."""
    found: dict[str, Any] = {}
    for view in _views(element, _WALKED.XML_ELEMENT_ATTRIBUTE, budget):
        _take_attribute(view, wanted, found, budget)
        if len(found) == len(wanted):
            break
    return found


def _text(attr: Any | None) -> str | None:
    if attr is None:
        return None
    if attr.value:
        return str(attr.value)
    item = attr.compiled_item
    if item.HasField("prim"):
        return str(item.prim.int_decimal_value)
    return None


_NS = ANDROID_NS.encode()
_MANIFEST_ATTRS = {(b"", b"package"): "package", (_NS, b"versionName"): "versionName",
                   (_NS, b"versionCode"): "versionCode"}
_APPLICATION_ATTRS = {(_NS, b"label"): "label"}


def parse_manifest(data: bytes | bytearray) -> Manifest:
    """Read identity fields of a protobuf AndroidManifest.xml.

    Raises ValueError if ``data`` is not a protobuf ``<manifest>`` element.
    """
    budget = Budget(MAX_FIELDS)
    try:
        root = _element(memoryview(data), budget)
        if root is None or _element_name(root, budget) != b"manifest":
            raise ValueError("root element is not <manifest>")
        attrs, app = _manifest_element(root, budget)
        label_attr = (
            _attributes(app, _APPLICATION_ATTRS, budget).get("label") if app is not None
            else None
        )
    except (WireError, DecodeError) as exc:
        raise ValueError("not a protobuf XmlNode") from exc
    label: str | None = None
    label_ref: Ref | None = None
    if label_attr is not None:
        item = label_attr.compiled_item
        if item.HasField("ref"):
            label_ref = Ref(item.ref.id, item.ref.name)
        elif label_attr.value.startswith("@"):
            label_ref = Ref(0, label_attr.value[1:])
        else:
            label = label_attr.value or None
    package = attrs.get("package")
    return Manifest(
        package=package.value if package is not None else "",
        version_name=_text(attrs.get("versionName")),
        version_code=_text(attrs.get("versionCode")),
        label=label,
        label_ref=label_ref,
    )


def _manifest_element(root: memoryview, budget: Budget
                      ) -> tuple[dict[str, Any], memoryview | None]:
    """The wanted attributes of <manifest> and its first <application> child, in one walk
    of the root that stops once both are found."""
    attrs: dict[str, Any] = {}
    app: memoryview | None = None
    for number, value in fields(root, budget):
        if not isinstance(value, memoryview):
            continue
        if number == _WALKED.XML_ELEMENT_ATTRIBUTE and len(attrs) < len(_MANIFEST_ATTRS):
            _take_attribute(value, _MANIFEST_ATTRS, attrs, budget)
        elif number == _WALKED.XML_ELEMENT_CHILD and app is None:
            element = _element(value, budget)
            if element is not None and _element_name(element, budget) == b"application":
                app = element
        if app is not None and len(attrs) == len(_MANIFEST_ATTRS):
            break
    return attrs, app


def _entry_name(name: str) -> str:
    """Strip an optional package: "pkg:string/app_name" -> "string/app_name"."""
    return name.rpartition(":")[2]


def resolve_string(table_data: bytes | bytearray, ref: Ref) -> str | None:
    """Resolve ``ref`` to a string in a ResourceTable, preferring the default configuration.

    Follows up to ``_MAX_HOPS`` reference aliases; returns None when it cannot be resolved.
    """
    try:
        return _resolve(memoryview(table_data), ref, 0, Budget(MAX_FIELDS))
    except (ValueError, DecodeError):  # WireError, BudgetExceeded
        return None


def _id(found: dict[int, int | memoryview], number: int, budget: Budget) -> int:
    """The id inside a PackageId / TypeId / EntryId sub-message (0 if absent)."""
    view = found.get(number)
    if not isinstance(view, memoryview):
        return 0
    value = pick(view, (_WALKED.ID_ID,), budget).get(_WALKED.ID_ID)
    return value if isinstance(value, int) else 0


def _resolve(table: memoryview, ref: Ref, depth: int, budget: Budget) -> str | None:
    w = _WALKED
    type_name, _, entry_name = _entry_name(ref.name).partition("/")
    wanted_type, wanted_entry = type_name.encode(), entry_name.encode()
    for package in _views(table, w.TABLE_PACKAGE, budget):
        package_id = _id(pick(package, (w.PACKAGE_ID,), budget), w.PACKAGE_ID, budget)
        if ref.id and package_id != ref.id >> 24:
            continue
        for rtype in _views(package, w.PACKAGE_TYPE, budget):
            head = pick(rtype, (w.TYPE_ID, w.TYPE_NAME), budget)
            if ref.id and _id(head, w.TYPE_ID, budget) != (ref.id >> 16) & 0xFF:
                continue
            if not ref.id and _bytes(head, w.TYPE_NAME) != wanted_type:
                continue
            for entry in _views(rtype, w.TYPE_ENTRY, budget):
                head = pick(entry, (w.ENTRY_ID, w.ENTRY_NAME), budget)
                if ref.id and _id(head, w.ENTRY_ID, budget) != ref.id & 0xFFFF:
                    continue
                if not ref.id and _bytes(head, w.ENTRY_NAME) != wanted_entry:
                    continue
                return _entry_string(table, entry, depth, budget)
    return None


def _entry_string(table: memoryview, entry: memoryview, depth: int,
                  budget: Budget) -> str | None:
    """The first string or reference among the entry's values in the default configuration
    (empty config), else the first among the others, in file order."""
    fallback: Any | None = None
    for view in _views(entry, _WALKED.ENTRY_CONFIG_VALUE, budget):
        cv = _MESSAGES["ConfigValue"].FromString(bytes(view))
        item = cv.value.item
        usable = (item.HasField("str") or item.HasField("styled_str")
                  or (item.HasField("ref") and depth < _MAX_HOPS))
        if not usable:
            continue
        if not cv.config:
            return _item_string(table, item, depth, budget)
        if fallback is None:
            fallback = item
    return _item_string(table, fallback, depth, budget) if fallback is not None else None


def _item_string(table: memoryview, item: Any, depth: int, budget: Budget) -> str | None:
    """A usable Item's string: its text, or what its reference resolves to."""
    if item.HasField("str") or item.HasField("styled_str"):
        return str(item.str.value or item.styled_str.value)
    return _resolve(table, Ref(item.ref.id, item.ref.name), depth + 1, budget)
