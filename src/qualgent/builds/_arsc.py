"""Resolve one string resource (an app label) in an APK's resources.arsc.

Why not pyaxmlparser's ``ARSCParser``: it decodes every entry of every type and
configuration into Python objects up front, about 13 bytes of memory per byte of table on a
real APK and far more on a table of tiny entries; a large app's table is several MB. Here the
table is walked in place (AOSP ResourceTypes.h): the package with the id's package byte, its
type chunks with the id's type byte, and in each the one entry the id's low 16 bits index,
through the entry offset array (plain, 16-bit or sparse). The default configuration wins,
else the first configuration that has the entry (as pyaxmlparser falls back); references are
followed up to three times. Memory is the table's size; time is bounded by a chunk budget.
"""

from __future__ import annotations

import struct

from qualgent.builds._budget import Budget
from qualgent.builds._restypes import (
    NO_INDEX,
    RES_STRING_POOL_TYPE,
    RES_TABLE_PACKAGE_TYPE,
    RES_TABLE_TYPE,
    RES_TABLE_TYPE_TYPE,
    TYPE_DYNAMIC_REFERENCE,
    TYPE_REFERENCE,
    TYPE_STRING,
    Chunk,
    FormatError,
    StringPool,
    children,
    chunk_at,
    u16,
    u32,
)

MAX_CHUNKS = 250_000  # a large app has some 10k type chunks (types x configurations)

_FLAG_SPARSE, _FLAG_OFFSET16 = 0x01, 0x02  # ResTable_type flags
_ENTRY_COMPLEX, _ENTRY_COMPACT = 0x0001, 0x0008  # ResTable_entry flags
_TYPE_HEADER = struct.Struct("<BBHII")  # id, flags, reserved, entryCount, entriesStart
_ENTRY = struct.Struct("<HHI")  # size, flags, key (or compact: key, flags, data)
_VALUE = struct.Struct("<HBBI")  # size, res0, dataType, data
_SPARSE = struct.Struct("<HH")  # entry index, offset / 4
_MIN_TYPE_HEADER = 8 + _TYPE_HEADER.size + 4  # chunk header, type header, config size
_MAX_HOPS = 3


def resolve_string(data: bytes | bytearray, res_id: int, max_chars: int) -> str | None:
    """The string resource ``res_id`` resolves to (cut to ``max_chars + 1`` characters), or
    None when the table does not resolve it to a string."""
    try:
        return _Table(data).resolve(res_id, max_chars)
    except (ValueError, struct.error, IndexError):  # FormatError, BudgetExceeded
        return None


class _Table:
    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data
        self.budget = Budget(MAX_CHUNKS)
        self.root = chunk_at(data, 0, len(data))
        if self.root.type != RES_TABLE_TYPE:
            raise FormatError("not a resource table")
        self.strings: StringPool | None = None
        for chunk in children(data, self.root, self.budget):
            if chunk.type == RES_STRING_POOL_TYPE:
                self.strings = StringPool(data, chunk)
                break

    def resolve(self, res_id: int, max_chars: int) -> str | None:
        for _ in range(_MAX_HOPS + 1):
            value = self._value(res_id)
            if value is None:
                return None
            kind, data = value
            if kind == TYPE_STRING:
                return self.strings.get(data, max_chars) if self.strings else None
            if kind not in (TYPE_REFERENCE, TYPE_DYNAMIC_REFERENCE) or not data:
                return None
            res_id = data
        return None

    def _value(self, res_id: int) -> tuple[int, int] | None:
        """(dataType, data) of ``res_id`` in the default configuration, else the first."""
        package_id, type_id, index = res_id >> 24, (res_id >> 16) & 0xFF, res_id & 0xFFFF
        fallback: tuple[int, int] | None = None
        for package in children(self.data, self.root, self.budget):
            if package.type != RES_TABLE_PACKAGE_TYPE:
                continue
            if u32(self.data, package.start + 8, package.end) != package_id:
                continue
            for chunk in children(self.data, package, self.budget):
                if chunk.type != RES_TABLE_TYPE_TYPE or chunk.header_size < _MIN_TYPE_HEADER:
                    continue
                if self.data[chunk.start + 8] != type_id:
                    continue
                value = self._entry(chunk, index)
                if value is None:
                    continue
                if self._default_config(chunk):
                    return value
                fallback = fallback or value
        return fallback

    def _default_config(self, chunk: Chunk) -> bool:
        """Whether the type chunk's ResTable_config (after its size field) is all zeros."""
        start = chunk.start + 8 + _TYPE_HEADER.size
        size = u32(self.data, start, chunk.end)
        end = min(start + size, chunk.body)
        return not any(self.data[start + 4:end])

    def _entry(self, chunk: Chunk, index: int) -> tuple[int, int] | None:
        data = self.data
        if chunk.start + 8 + _TYPE_HEADER.size > chunk.end:
            raise FormatError("truncated type chunk")
        _id, flags, _res, count, entries_start = _TYPE_HEADER.unpack_from(data, chunk.start + 8)
        offsets = chunk.body
        if flags & _FLAG_SPARSE:
            offset = self._sparse_offset(chunk, count, index)
        elif index >= count:
            return None
        elif flags & _FLAG_OFFSET16:
            short = u16(data, offsets + 2 * index, chunk.end)
            offset = None if short == 0xFFFF else short * 4
        else:
            long = u32(data, offsets + 4 * index, chunk.end)
            offset = None if long == NO_INDEX else long
        if offset is None:
            return None
        pos = chunk.start + entries_start + offset
        if pos + _ENTRY.size > chunk.end:
            raise FormatError("entry outside its chunk")
        size, entry_flags, key = _ENTRY.unpack_from(data, pos)
        if entry_flags & _ENTRY_COMPACT:
            return entry_flags >> 8, key
        if entry_flags & _ENTRY_COMPLEX:
            return None
        if pos + size + _VALUE.size > chunk.end:
            raise FormatError("value outside its chunk")
        _vsize, _res0, kind, value = _VALUE.unpack_from(data, pos + size)
        return kind, value

    def _sparse_offset(self, chunk: Chunk, count: int, index: int) -> int | None:
        """Binary search of a sparse type's (index, offset / 4) pairs, sorted by index."""
        base = chunk.body
        if base + 4 * count > chunk.end:
            raise FormatError("truncated sparse entries")
        lo, hi = 0, count
        while lo < hi:
            mid = (lo + hi) // 2
            found, offset = _SPARSE.unpack_from(self.data, base + 4 * mid)
            if found == index:
                return int(offset) * 4
            if found < index:
                lo = mid + 1
            else:
                hi = mid
        return None
