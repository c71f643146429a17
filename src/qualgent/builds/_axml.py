"""Read an APK's identity from its binary AndroidManifest.xml (Android binary XML, "AXML").

Why not pyaxmlparser here (it remains the reference the tests compare against): its
``AXMLPrinter`` builds a full lxml tree and copies a string into every attribute that
references it, so a 300 KB manifest whose 3000 elements all point at one 30k-character
string costs 86 MB, and an 8 MB one can cost tens of GB; it also materializes every string
offset and resource id as a Python int and keeps namespaces in a list it searches per chunk.
This reader walks the chunks once, in place, and decodes only the few strings it needs:
memory stays at the manifest's size, and time is bounded by a chunk budget.

What it reads, as Android does: ``<manifest package versionCode versionName>`` and the
``android:label`` of ``<application>``, or, when the application has none, the label of the
first launcher activity (the name the launcher shows). ``android:`` attributes are matched
by their framework resource id when the manifest carries a resource map, else by name.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from qualgent.builds._budget import Budget
from qualgent.builds._restypes import (
    ANDROID_ATTR_IDS,
    ANDROID_NS,
    NO_INDEX,
    RES_STRING_POOL_TYPE,
    RES_XML_END_ELEMENT_TYPE,
    RES_XML_RESOURCE_MAP_TYPE,
    RES_XML_START_ELEMENT_TYPE,
    TYPE_DYNAMIC_REFERENCE,
    TYPE_INT_DEC,
    TYPE_INT_HEX,
    TYPE_REFERENCE,
    TYPE_STRING,
    Chunk,
    FormatError,
    StringPool,
    children,
    chunk_at,
    u32,
)

MAX_CHUNKS = 1_000_000  # an 8 MB manifest has at most this many chunks

_WANTED = ("label", "name", "versionCode", "versionName")  # the android: attributes read
_WANTED_BY_ID = {ANDROID_ATTR_IDS[name]: name for name in _WANTED}
_ACTIVITIES = ("activity", "activity-alias")
_MAIN = "android.intent.action.MAIN"
_LAUNCHER = "android.intent.category.LAUNCHER"
_NAME_CHARS = 64  # enough for any element or attribute name compared here
_ELEMENT_EXT = struct.Struct("<IIHHH")  # ns, name, attributeStart, attributeSize, attributeCount
_ATTRIBUTE = struct.Struct("<IIIHBBI")  # ns, name, rawValue, size, res0, dataType, data


@dataclass(frozen=True)
class Ref:
    """A reference to a resource (0xPPTTEEEE), resolved through resources.arsc."""

    id: int


Value = str | Ref | None


@dataclass(frozen=True)
class Manifest:
    package: Value
    version_name: Value
    version_code: Value
    label: Value


class _Reader:
    def __init__(self, data: bytes | bytearray, max_chars: int) -> None:
        self.data = data
        self.max_chars = max_chars
        self.pool: StringPool | None = None
        self.res_map: Chunk | None = None

    def string(self, index: int, max_chars: int | None = None) -> str | None:
        if self.pool is None or index == NO_INDEX:
            return None
        return self.pool.get(index, self.max_chars if max_chars is None else max_chars)

    def attributes(self, chunk: Chunk) -> dict[str, tuple[int, int, int]]:
        """The wanted attributes of a start-element chunk: name -> (raw, type, data)."""
        ext = chunk.body
        if ext + _ELEMENT_EXT.size > chunk.end:
            raise FormatError("truncated element")
        _ns, _name, start, size, count = _ELEMENT_EXT.unpack_from(self.data, ext)
        if size < _ATTRIBUTE.size:
            raise FormatError("bad attribute size")
        found: dict[str, tuple[int, int, int]] = {}
        for i in range(count):
            pos = ext + start + i * size
            if pos + _ATTRIBUTE.size > chunk.end:
                raise FormatError("truncated attribute")
            ns, name, raw, _size, _res0, kind, value = _ATTRIBUTE.unpack_from(self.data, pos)
            key = self._attribute_key(ns, name)
            if key is not None:
                found[key] = (raw, kind, value)
        return found

    def _attribute_key(self, ns: int, name: int) -> str | None:
        res_id = self._resource_id(name)
        if res_id:
            return _WANTED_BY_ID.get(res_id)
        text = self.string(name, _NAME_CHARS)
        if ns == NO_INDEX:
            return "package" if text == "package" else None
        if text in _WANTED and self.string(ns, len(ANDROID_NS)) == ANDROID_NS:
            return text
        return None

    def _resource_id(self, name: int) -> int:
        if self.res_map is None or name >= (self.res_map.end - self.res_map.body) // 4:
            return 0
        return u32(self.data, self.res_map.body + 4 * name, self.res_map.end)

    def value(self, attr: tuple[int, int, int] | None, allow_int: bool = False) -> Value:
        if attr is None:
            return None
        raw, kind, data = attr
        if kind == TYPE_STRING:
            return self.string(raw if raw != NO_INDEX else data)
        if kind in (TYPE_REFERENCE, TYPE_DYNAMIC_REFERENCE):
            return Ref(data) if data else None
        if allow_int and kind == TYPE_INT_DEC:
            return str(data - (1 << 32) if data & 0x80000000 else data)
        if allow_int and kind == TYPE_INT_HEX:
            return str(data)
        return None

    def tag(self, chunk: Chunk) -> str | None:
        if chunk.body + 8 > chunk.end:
            raise FormatError("truncated element")
        return self.string(u32(self.data, chunk.body + 4, chunk.end), _NAME_CHARS)


def read_manifest(data: bytes | bytearray, max_chars: int) -> Manifest:
    """Identity fields of a binary manifest; strings are cut to ``max_chars + 1`` characters.

    Raises FormatError (a ValueError) if ``data`` is not a binary XML ``<manifest>``.
    """
    try:
        return _read(data, max_chars)
    except (struct.error, IndexError) as exc:
        raise FormatError(str(exc)) from exc


def _read(data: bytes | bytearray, max_chars: int) -> Manifest:
    root = chunk_at(data, 0, len(data))
    if root.header_size != 8:
        raise FormatError("not binary XML")
    reader = _Reader(data, max_chars)
    manifest: dict[str, tuple[int, int, int]] | None = None
    label: Value = None
    path: list[str | None] = []  # open element names, down to an activity's intent filter
    depth = 0
    activity_label: Value = None
    launcher: set[str] = set()
    for chunk in children(data, root, Budget(MAX_CHUNKS)):
        if chunk.type == RES_STRING_POOL_TYPE and reader.pool is None:
            reader.pool = StringPool(data, chunk)
        elif chunk.type == RES_XML_RESOURCE_MAP_TYPE and reader.res_map is None:
            reader.res_map = chunk
        elif chunk.type == RES_XML_START_ELEMENT_TYPE:
            if reader.pool is None:
                raise FormatError("element before the string pool")
            depth += 1
            tag = reader.tag(chunk)
            if depth == 1:
                if tag != "manifest":
                    raise FormatError("the root element is not <manifest>")
                manifest = reader.attributes(chunk)
            elif depth == 2 and tag == "application":
                label = reader.value(reader.attributes(chunk).get("label"))
                if label is not None:
                    break
            elif depth == 3 and path[1] == "application" and tag in _ACTIVITIES:
                activity_label = reader.value(reader.attributes(chunk).get("label"))
            elif depth == 4 and path[2] in _ACTIVITIES and tag == "intent-filter":
                launcher = set()
            elif depth == 5 and path[2] in _ACTIVITIES and path[3] == "intent-filter" and (
                tag in ("action", "category")
            ):
                name = reader.value(reader.attributes(chunk).get("name"))
                if isinstance(name, str):
                    launcher.add(name)
            if depth <= 5:
                path.append(tag)
        elif chunk.type == RES_XML_END_ELEMENT_TYPE:
            if depth <= 0:
                raise FormatError("unbalanced end element")
            closing = path.pop() if depth <= 5 else None
            depth -= 1
            if (closing == "intent-filter" and depth == 3 and path[2] in _ACTIVITIES
                    and {_MAIN, _LAUNCHER} <= launcher and activity_label is not None):
                label = activity_label
                break
            if closing == "application" and depth == 1:
                break
    if manifest is None:
        raise FormatError("no <manifest> element")
    return Manifest(
        package=reader.value(manifest.get("package")),
        version_name=reader.value(manifest.get("versionName"), allow_int=True),
        version_code=reader.value(manifest.get("versionCode"), allow_int=True),
        label=label,
    )
