"""The chunk format shared by Android binary XML and resources.arsc (AOSP ResourceTypes.h).

The one home of the format's constants (chunk and value types, the android namespace and
attribute ids), for the readers and for the demo build's encoder. Otherwise only what
reading a build's identity needs: chunk headers, bounds-checked reads, a walk over a chunk's
children with a work budget, and a string pool that decodes one string on demand, at most
``max_chars`` of it. Nothing is built per chunk or per pool entry, so memory stays at the
size of the buffer whatever the counts and offsets in it claim; every offset is checked
against the enclosing chunk, and a bad one raises ``FormatError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from qualgent.builds._budget import Budget

ANDROID_NS = "http://schemas.android.com/apk/res/android"

# Framework resource ids of the android: attributes a manifest uses (android.R.attr).
ANDROID_ATTR_IDS = {
    "label": 0x01010001,
    "icon": 0x01010002,
    "name": 0x01010003,
    "exported": 0x01010010,
    "minSdkVersion": 0x0101020C,
    "versionCode": 0x0101021B,
    "versionName": 0x0101021C,
    "targetSdkVersion": 0x01010270,
}

# Chunk types (ResChunk_header.type)
RES_STRING_POOL_TYPE = 0x0001
RES_TABLE_TYPE = 0x0002
RES_XML_TYPE = 0x0003
RES_XML_START_NAMESPACE_TYPE = 0x0100
RES_XML_END_NAMESPACE_TYPE = 0x0101
RES_XML_START_ELEMENT_TYPE = 0x0102
RES_XML_END_ELEMENT_TYPE = 0x0103
RES_XML_RESOURCE_MAP_TYPE = 0x0180
RES_TABLE_PACKAGE_TYPE = 0x0200
RES_TABLE_TYPE_TYPE = 0x0201

# Value types (Res_value.dataType)
TYPE_REFERENCE = 0x01
TYPE_STRING = 0x03
TYPE_DYNAMIC_REFERENCE = 0x07
TYPE_INT_DEC = 0x10
TYPE_INT_HEX = 0x11
TYPE_INT_BOOLEAN = 0x12

NO_INDEX = 0xFFFFFFFF  # an absent string or entry

_HEADER = struct.Struct("<HHI")  # ResChunk_header: type, headerSize, size
_POOL_HEADER = struct.Struct("<IIIII")  # stringCount, styleCount, flags, stringsStart, stylesStart
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_UTF8_FLAG = 0x100


class FormatError(ValueError):
    """The bytes are not a well-formed chunk structure."""


@dataclass(frozen=True)
class Chunk:
    type: int
    start: int
    header_size: int
    end: int

    @property
    def body(self) -> int:
        """Where the data after the header starts."""
        return self.start + self.header_size


def chunk_at(data: bytes | bytearray, pos: int, end: int) -> Chunk:
    """The chunk whose header is at ``pos``; it must lie entirely before ``end``."""
    if pos < 0 or pos + _HEADER.size > end:
        raise FormatError("truncated chunk header")
    kind, header_size, size = _HEADER.unpack_from(data, pos)
    if header_size < _HEADER.size or size < header_size or pos + size > end:
        raise FormatError(f"bad chunk at {pos}")
    return Chunk(kind, pos, header_size, pos + size)


def children(data: bytes | bytearray, parent: Chunk, budget: Budget) -> Iterator[Chunk]:
    """The chunks that follow ``parent``'s header, in order (each at least 8 bytes long)."""
    pos = parent.body
    while pos + _HEADER.size <= parent.end:
        budget.spend()
        child = chunk_at(data, pos, parent.end)
        yield child
        pos = child.end


def u16(data: bytes | bytearray, pos: int, end: int) -> int:
    if pos < 0 or pos + 2 > end:
        raise FormatError("truncated value")
    return int(_U16.unpack_from(data, pos)[0])


def u32(data: bytes | bytearray, pos: int, end: int) -> int:
    if pos < 0 or pos + 4 > end:
        raise FormatError("truncated value")
    return int(_U32.unpack_from(data, pos)[0])


class StringPool:
    """A ResStringPool chunk, read in place."""

    def __init__(self, data: bytes | bytearray, chunk: Chunk) -> None:
        if chunk.type != RES_STRING_POOL_TYPE or chunk.header_size < 8 + _POOL_HEADER.size:
            raise FormatError("not a string pool")
        count, _styles, flags, strings_start, _styles_start = _POOL_HEADER.unpack_from(
            data, chunk.start + 8
        )
        self._data = data
        self._count = count
        self._offsets = chunk.body
        self._strings = chunk.start + strings_start
        self._end = chunk.end
        self._utf8 = bool(flags & _UTF8_FLAG)
        if self._offsets + 4 * count > chunk.end or (count and self._strings > chunk.end):
            raise FormatError("string pool offsets outside the chunk")

    def get(self, index: int, max_chars: int) -> str | None:
        """String ``index``, cut to ``max_chars + 1`` characters (so that a caller can tell
        that it is longer than ``max_chars``); None if the index or its bytes are invalid."""
        if not 0 <= index < self._count:
            return None
        pos = self._strings + u32(self._data, self._offsets + 4 * index, self._end)
        try:
            if self._utf8:
                _chars, pos = self._length8(pos)
                size, pos = self._length8(pos)
                if pos + size > self._end:
                    return None
                raw = bytes(self._data[pos:pos + min(size, 4 * (max_chars + 1))])
                text = raw.decode("utf-8", "replace")
            else:
                chars, pos = self._length16(pos)
                if pos + 2 * chars > self._end:
                    return None
                raw = bytes(self._data[pos:pos + 2 * min(chars, max_chars + 1)])
                text = raw.decode("utf-16-le", "replace")
        except FormatError:
            return None
        return text[:max_chars + 1]

    def _length8(self, pos: int) -> tuple[int, int]:
        if pos + 1 > self._end:
            raise FormatError("truncated string")
        first = self._data[pos]
        if first & 0x80:
            if pos + 2 > self._end:
                raise FormatError("truncated string")
            return ((first & 0x7F) << 8) | self._data[pos + 1], pos + 2
        return first, pos + 1

    def _length16(self, pos: int) -> tuple[int, int]:
        if pos + 2 > self._end:
            raise FormatError("truncated string")
        first = _U16.unpack_from(self._data, pos)[0]
        if first & 0x8000:
            if pos + 4 > self._end:
                raise FormatError("truncated string")
            second = _U16.unpack_from(self._data, pos + 2)[0]
            return ((first & 0x7FFF) << 16) | second, pos + 4
        return first, pos + 2
