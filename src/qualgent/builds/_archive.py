"""Open an uploaded build's zip and inflate single entries, within hard caps.

Why entries are read in chunks rather than with ``ZipFile.read()``: ``ZipExtFile.read()`` with
no size inflates the whole compressed stream in one ``decompress()`` call and only then cuts
the result to the size the headers declare, so a 1 MB entry whose headers understate its size
(1 GB of zeros declared as 1000 bytes) costs 1 GB. ``read_entry`` pulls at most 1 MiB per call
(zipfile then asks zlib for at most that much) and stops at the cap.

Why the central directory is checked before ``zipfile`` parses it: ``ZipFile()`` builds a
``ZipInfo`` (about 500 bytes) for every entry, so a 34 MB zip of 400k empty entries costs
~200 MB before a single entry is read. The end-of-central-directory record gives the
directory's size and entry count; both are capped, and because that count can lie, the
directory's fixed-size records are then counted the way zipfile will walk them, without
building anything per record.

Only stored and deflated entries are inflated: they are the only methods Android and iOS
accept, and zipfile inflates bzip2 and LZMA without an output bound.
"""

from __future__ import annotations

import lzma
import struct
import typing
import zipfile
import zlib

MiB = 1024 * 1024

# A large real app has a few thousand to ~30k entries and a central directory of a few MB
# (about 100-160 bytes per entry); these leave headroom while keeping zipfile's index of the
# archive (about 500 bytes per entry plus the names) well under 64 MB.
MAX_ENTRIES = 50_000
MAX_CENTRAL_DIRECTORY = 16 * MiB

_CHUNK = MiB
_SUPPORTED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_CD_RECORD = struct.Struct(zipfile.structCentralDir)
# Field positions in a central directory record (as zipfile's _CD_* constants).
_CD_NAME_LEN, _CD_EXTRA_LEN, _CD_COMMENT_LEN = 12, 13, 14
_EXTRACT_ERRORS = (
    zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError,
    RuntimeError, ValueError, OSError, KeyError, OverflowError,
)


class ArchiveError(ValueError):
    """The archive cannot be read within the caps; str(exc) is a clause such as
    "it is not a zip archive", for the caller to put in a sentence."""


class EntryTooLarge(ArchiveError):
    """An entry inflates past the cap it was read with."""


def open_zip(f: typing.BinaryIO) -> zipfile.ZipFile:
    """A ZipFile on seekable ``f``, refused before parsing if its index is too large."""
    _check_central_directory(f)
    try:
        return zipfile.ZipFile(f)
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, NotImplementedError,
            OverflowError) as exc:
        raise ArchiveError("it is not a zip archive") from exc


def _check_central_directory(f: typing.BinaryIO) -> None:
    # zipfile's own end-record reader and field positions (private names, unchanged since
    # Python 2), so that the record checked here is exactly the one ZipFile() will use.
    z: typing.Any = zipfile
    try:
        end = z._EndRecData(f)
    except (OSError, struct.error, zipfile.BadZipFile, OverflowError) as exc:
        raise ArchiveError("it is not a zip archive") from exc
    if not end:
        raise ArchiveError("it is not a zip archive")
    declared, size = end[z._ECD_ENTRIES_TOTAL], end[z._ECD_SIZE]
    if declared > MAX_ENTRIES:
        raise _too_many(declared)
    if size > MAX_CENTRAL_DIRECTORY:
        raise ArchiveError(
            f"its zip index (central directory) is {size} bytes, more than the "
            f"{MAX_CENTRAL_DIRECTORY} allowed"
        )
    # Where ZipFile() will start reading the directory (as in zipfile._RealGetContents).
    start = end[z._ECD_LOCATION] - size
    if end[z._ECD_SIGNATURE] == z.stringEndArchive64:
        start -= z.sizeEndCentDir64 + z.sizeEndCentDir64Locator
    if start < 0:
        raise ArchiveError("it is not a zip archive")
    try:
        f.seek(start)
        directory = f.read(size)
    except (OSError, OverflowError) as exc:
        raise ArchiveError("it is not a zip archive") from exc
    if _count_records(directory) > MAX_ENTRIES:
        raise ArchiveError(f"it has more than the {MAX_ENTRIES} zip entries allowed")


def _count_records(directory: bytes) -> int:
    """How many records ZipFile() would build from ``directory``, counting past the cap
    by one at most. A malformed record stops the count: zipfile then refuses it too."""
    count = pos = 0
    while pos < len(directory) and count <= MAX_ENTRIES:
        if pos + _CD_RECORD.size > len(directory):
            break
        record = _CD_RECORD.unpack_from(directory, pos)
        if record[0] != zipfile.stringCentralDir:
            break
        pos += (_CD_RECORD.size + record[_CD_NAME_LEN] + record[_CD_EXTRA_LEN]
                + record[_CD_COMMENT_LEN])
        count += 1
    return count


def _too_many(count: int) -> ArchiveError:
    return ArchiveError(f"it has {count} zip entries, more than the {MAX_ENTRIES} allowed")


def find_entry(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    """Entry ``name``, or None when the archive has none: one lookup in zipfile's index,
    where ``name in zf.namelist()`` builds a list of every name first."""
    try:
        return zf.getinfo(name)
    except KeyError:
        return None


def read_entry(zf: zipfile.ZipFile, entry: str | zipfile.ZipInfo, limit: int) -> bytearray:
    """Inflate ``entry`` (a name or a ZipInfo of ``zf``) in bounded chunks; EntryTooLarge once
    it passes ``limit`` bytes, whatever its headers declare; ArchiveError if it cannot be
    extracted."""
    info = entry if isinstance(entry, zipfile.ZipInfo) else zf.getinfo(entry)
    name = info.filename
    if info.compress_type not in _SUPPORTED_METHODS:
        raise ArchiveError(
            f"its {name} uses zip compression method {info.compress_type}; "
            "builds use stored or deflated entries"
        )
    if info.file_size > limit:
        raise EntryTooLarge(
            f"its {name} is implausibly large ({info.file_size} bytes uncompressed; "
            f"the limit is {limit})"
        )
    out = bytearray()
    try:
        with zf.open(info) as stream:
            while chunk := stream.read(min(_CHUNK, limit + 1 - len(out))):
                out += chunk
                if len(out) > limit:
                    raise EntryTooLarge(
                        f"its {name} is implausibly large (it inflates past {limit} bytes)"
                    )
    except EntryTooLarge:
        raise
    except _EXTRACT_ERRORS as exc:
        raise ArchiveError(f"its {name} could not be extracted ({exc})") from exc
    return out
