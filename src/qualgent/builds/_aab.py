"""Decode the protobuf XML and resource table of an Android App Bundle.

An AAB stores ``base/manifest/AndroidManifest.xml`` as an aapt2 ``XmlNode`` message and its
resources as a ``ResourceTable`` message (``frameworks/base/tools/aapt2/Resources.proto``), not
as binary AXML / resources.arsc, so APK parsers cannot read it.

Why the ``protobuf`` package with descriptors built at runtime rather than a hand-written
wire-format walker: the protobuf runtime is the reference decoder (varints, unknown fields,
malformed input all handled and rejected with ``DecodeError``), and declaring only the fields we
read keeps the schema to a table that can be checked line by line against Resources.proto.
Fields we omit are kept as unknown fields and ignored. Generated ``*_pb2`` modules would need
protoc at build time and tie us to one protobuf major version.

One deliberate deviation: ``ConfigValue.config`` (an ``aapt.pb.Configuration`` message) is
declared as ``bytes``, which is wire-compatible, so "default configuration" is simply "empty".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

ANDROID_NS = "http://schemas.android.com/apk/res/android"

_F = descriptor_pb2.FieldDescriptorProto
_STR, _U32, _I32, _BYTES = _F.TYPE_STRING, _F.TYPE_UINT32, _F.TYPE_INT32, _F.TYPE_BYTES
_REPEATED = True

# message -> (field name, field number, scalar type or message name[, repeated]).
# Numbers are those of aapt2's Resources.proto; only the fields read here are declared.
_SCHEMA: dict[str, list[tuple[Any, ...]]] = {
    "XmlNode": [("element", 1, "XmlElement")],
    "XmlElement": [
        ("namespace_uri", 2, _STR),
        ("name", 3, _STR),
        ("attribute", 4, "XmlAttribute", _REPEATED),
        ("child", 5, "XmlNode", _REPEATED),
    ],
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
    "ResourceTable": [("package", 2, "Package", _REPEATED)],
    "Package": [("package_id", 1, "Id"), ("type", 3, "Type", _REPEATED)],
    "Type": [("type_id", 1, "Id"), ("name", 2, _STR), ("entry", 3, "Entry", _REPEATED)],
    "Entry": [
        ("entry_id", 1, "Id"),
        ("name", 2, _STR),
        ("config_value", 6, "ConfigValue", _REPEATED),
    ],
    "Id": [("id", 1, _U32)],  # PackageId, TypeId and EntryId share this shape
    "ConfigValue": [("config", 1, _BYTES), ("value", 2, "Value")],
    "Value": [("item", 4, "Item")],
}


def _build_messages() -> dict[str, Any]:
    """Compile ``_SCHEMA`` into message classes in a private descriptor pool."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="qualgent/builds/aapt_subset.proto", package="aapt.pb", syntax="proto3"
    )
    for msg_name, fields in _SCHEMA.items():
        msg = fdp.message_type.add(name=msg_name)
        for name, number, ftype, *repeated in fields:
            field = msg.field.add(name=name, number=number)
            field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
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


def _attr(element: Any, name: str, ns: str = ANDROID_NS) -> Any | None:
    return next((a for a in element.attribute if a.name == name and a.namespace_uri == ns), None)


def _text(attr: Any | None) -> str | None:
    if attr is None:
        return None
    if attr.value:
        return str(attr.value)
    item = attr.compiled_item
    if item.HasField("prim"):
        return str(item.prim.int_decimal_value)
    return None


def parse_manifest(data: bytes) -> Manifest:
    """Read identity fields of a protobuf AndroidManifest.xml.

    Raises ValueError if ``data`` is not a protobuf ``<manifest>`` element.
    """
    node = _MESSAGES["XmlNode"]()
    try:
        node.ParseFromString(data)
    except DecodeError as exc:
        raise ValueError("not a protobuf XmlNode") from exc
    root = node.element
    if root.name != "manifest":
        raise ValueError("root element is not <manifest>")
    package = _attr(root, "package", ns="")
    label: str | None = None
    label_ref: Ref | None = None
    app = next((c.element for c in root.child if c.element.name == "application"), None)
    label_attr = _attr(app, "label") if app is not None else None
    if label_attr is not None:
        item = label_attr.compiled_item
        if item.HasField("ref"):
            label_ref = Ref(item.ref.id, item.ref.name)
        elif label_attr.value.startswith("@"):
            label_ref = Ref(0, label_attr.value[1:])
        else:
            label = label_attr.value or None
    return Manifest(
        package=package.value if package is not None else "",
        version_name=_text(_attr(root, "versionName")),
        version_code=_text(_attr(root, "versionCode")),
        label=label,
        label_ref=label_ref,
    )


def _entry_name(name: str) -> str:
    """Strip an optional package: "pkg:string/app_name" -> "string/app_name"."""
    return name.rpartition(":")[2]


def resolve_string(table_data: bytes, ref: Ref) -> str | None:
    """Resolve ``ref`` to a string in a ResourceTable, preferring the default configuration.

    Follows up to three reference aliases; returns None when it cannot be resolved.
    """
    table = _MESSAGES["ResourceTable"]()
    try:
        table.ParseFromString(table_data)
    except DecodeError:
        return None
    return _resolve(table, ref, 0)


def _resolve(table: Any, ref: Ref, depth: int) -> str | None:
    wanted_name = _entry_name(ref.name)
    for pkg in table.package:
        for rtype in pkg.type:
            for entry in rtype.entry:
                res_id = (pkg.package_id.id << 24) | (rtype.type_id.id << 16) | entry.entry_id.id
                if ref.id and res_id != ref.id:
                    continue
                if not ref.id and f"{rtype.name}/{entry.name}" != wanted_name:
                    continue
                # Default configuration first, then the rest in file order.
                for cv in sorted(entry.config_value, key=lambda cv: bool(cv.config)):
                    item = cv.value.item
                    if item.HasField("str") or item.HasField("styled_str"):
                        return str(item.str.value or item.styled_str.value)
                    if item.HasField("ref") and depth < 3:
                        return _resolve(table, Ref(item.ref.id, item.ref.name), depth + 1)
                return None
    return None
