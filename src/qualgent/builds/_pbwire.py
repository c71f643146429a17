"""Walk protobuf wire format in place, one field at a time.

Why, next to the protobuf runtime: parsing a message materializes all of its repeated
sub-messages, and an empty sub-message costs two bytes on the wire but some 60 bytes
decoded, so an 8 MB manifest or a 32 MB resource table of empty elements costs well over
1 GB. The AAB reader walks the big repeated fields with ``fields`` (memoryview slices, nothing
kept) and hands only the small leaf messages it selects to the runtime.
"""

from __future__ import annotations

from collections.abc import Iterator

from qualgent.builds._budget import Budget

VARINT, I64, LEN, I32 = 0, 1, 2, 5


class WireError(ValueError):
    """Malformed protobuf wire data."""


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    if pos < len(buf) and buf[pos] < 0x80:  # the common one-byte case
        return buf[pos], pos + 1
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise WireError("bad varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(buf: memoryview, budget: Budget) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) for each field of one message: an int for VARINT, a memoryview
    for LEN, I64 and I32. Groups (deprecated wire types 3 and 4) are refused."""
    pos = 0
    while pos < len(buf):
        budget.spend()
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if wire == VARINT:
            value, pos = _varint(buf, pos)
        elif wire in (LEN, I64, I32):
            if wire == LEN:
                size, pos = _varint(buf, pos)
            else:
                size = 8 if wire == I64 else 4
            if pos + size > len(buf):
                raise WireError("field runs past the message")
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise WireError(f"unsupported wire type {wire}")
        if number == 0:
            raise WireError("field number 0")
        yield number, value


def pick(buf: memoryview, numbers: tuple[int, ...], budget: Budget) -> dict[int, int | memoryview]:
    """The first value of each of field ``numbers`` present in ``buf``; the walk stops once
    all are found (serializers write fields in number order, so these come first)."""
    found: dict[int, int | memoryview] = {}
    for number, value in fields(buf, budget):
        if number in numbers and number not in found:
            found[number] = value
            if len(found) == len(numbers):
                break
    return found
