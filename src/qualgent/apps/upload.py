"""Streaming multipart upload of a build straight into the blob store.

The body is parsed as it arrives (python-multipart's push parser), so memory does not grow
with the file: at most 32 MB is held while we learn whether the build is small (one write)
or large (a multipart blob write of 8 MB segments). Bytes are counted as they come, and the
upload stops with 413 the moment the file passes the configured limit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from qualgent.api.bodies import unstorable_text
from qualgent.api.errors import ApiError, malformed_body, payload_too_large
from qualgent.apps.service import OS_OF_KIND
from qualgent.storage import BlobStore, MultipartWrite

SEGMENT = 8 * 1024 * 1024
SEGMENTED_FROM = 32 * 1024 * 1024
MAX_FIELD_BYTES = 4096
MAX_PARTS = 16
MAX_FORM_BYTES = 64 * 1024
"""Text fields are held in memory: at most MAX_PARTS parts, MAX_FORM_BYTES of them in all."""


def too_large(limit: int) -> ApiError:
    return payload_too_large(
        f"The upload exceeds MAX_SINGLE_UPLOAD_MB ({limit // (1024 * 1024)} MB).",
        max_bytes=limit,
    )


def boundary_of(content_type: str) -> bytes:
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise malformed_body("Send the build as multipart/form-data with a 'file' part.",
                             field=None, content_type=content_type)
    return boundary


class FormParser:
    """python-multipart's push parser, with its parse errors answered as 400 malformed_body."""

    def __init__(self, boundary: bytes, callbacks: dict) -> None:
        try:
            self._parser = MultipartParser(boundary, callbacks)
        except FormParserError as exc:
            raise malformed_body(f"The multipart boundary is not usable: {exc}.") from None

    def write(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise malformed_body(f"The multipart body is malformed: {exc}.",
                                 offset=getattr(exc, "offset", None)) from None

    def finalize(self) -> None:
        try:
            self._parser.finalize()
        except FormParserError as exc:
            raise malformed_body(f"The multipart body is malformed: {exc}.") from None


class SegmentedWriter:
    """Holds up to 32 MB; past that, flushes 8 MB segments to a multipart blob write."""

    def __init__(self, blobs: BlobStore, key: str) -> None:
        self.blobs = blobs
        self.key = key
        self.buf = bytearray()
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.multipart: MultipartWrite | None = None
        self.stored = False

    def add(self, data: bytes) -> None:
        self.buf += data
        self.size += len(data)
        self.sha256.update(data)

    async def flush_full_segments(self) -> None:
        if self.multipart is None:
            if len(self.buf) < SEGMENTED_FROM:
                return
            self.multipart = self.blobs.begin_multipart(self.key)
        while len(self.buf) >= SEGMENT:
            await self._write_part(SEGMENT)

    async def _write_part(self, length: int) -> None:
        assert self.multipart is not None
        with memoryview(self.buf) as view, view[:length] as segment:
            await run_in_threadpool(self.multipart.write_part, segment)
        del self.buf[:length]

    async def finish(self) -> None:
        if self.multipart is None:
            await run_in_threadpool(self.blobs.put, self.key, self.buf)
        else:
            if self.buf:
                await self._write_part(len(self.buf))
            await run_in_threadpool(self.multipart.complete)
        self.buf = bytearray()
        self.stored = True

    def discard(self) -> None:
        """Leave no bytes behind, whatever stage the upload reached."""
        if self.multipart is not None and not self.stored:
            self.multipart.abort()
        if self.stored:
            self.blobs.delete(self.key)
        self.buf = bytearray()


@dataclass
class UploadForm:
    """What the parser found: text fields and the one file part."""

    limit: int
    make_writer: object  # Callable[[str], SegmentedWriter], given the file's extension
    fields: dict[str, str] = field(default_factory=dict)
    writer: SegmentedWriter | None = None
    original_name: str | None = None
    kind: str | None = None
    ended: bool = False
    parts: int = 0
    form_bytes: int = 0
    _headers: dict[bytes, bytes] = field(default_factory=dict)
    _hname: bytes = b""
    _hvalue: bytes = b""
    _target: str | None = None  # field name, or "\0file"
    _value: bytearray = field(default_factory=bytearray)

    def parser(self, boundary: bytes) -> FormParser:
        return FormParser(boundary, {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        })

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise malformed_body(f"The form has more than {MAX_PARTS} parts.",
                                 max_parts=MAX_PARTS)
        self._headers, self._hname, self._hvalue, self._value = {}, b"", b"", bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._hname.lower()] = self._hvalue
        self._hname, self._hvalue = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if name == "file" and filename is None:
            raise ApiError(400, "missing_parameter",
                           "file must be sent as a file: a part with a filename (.apk, .aab "
                           "or .ipa).", {"field": "file"})
        if name != "file" or filename is None:
            self._target = name
            return
        if self.writer is not None:
            raise malformed_body("Send exactly one 'file' part.", field="file")
        original = filename.decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1]
        if problem := unstorable_text("file", original):
            raise problem
        ext = original.rsplit(".", 1)[-1].lower() if "." in original else ""
        if ext not in OS_OF_KIND:
            raise ApiError(
                422, "unsupported_file_type",
                f"'{original}' is not a mobile build: upload an .apk, .aab or .ipa file.",
                {"field": "file", "filename": original},
            )
        self.original_name, self.kind = original, ext
        self.writer = self.make_writer(ext)  # type: ignore[operator]
        self._target = "\0file"

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target == "\0file":
            assert self.writer is not None
            self.writer.add(data[start:end])
            if self.writer.size > self.limit:
                raise too_large(self.limit)
        else:
            self.form_bytes += end - start
            if self.form_bytes > MAX_FORM_BYTES:
                raise payload_too_large(
                    f"The form's text fields exceed {MAX_FORM_BYTES} bytes in all.",
                    max_bytes=MAX_FORM_BYTES,
                )
            if not self._target:
                return  # a part with no name: counted, not kept
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD_BYTES:
                raise malformed_body(f"The field '{self._target}' is too long.",
                                     field=self._target)

    def _part_end(self) -> None:
        if self._target and self._target != "\0file":
            value = self._value.decode("utf-8", "replace").strip()
            if problem := unstorable_text(self._target, value):
                raise problem
            self.fields[self._target] = value
        self._target = None

    def _end(self) -> None:
        self.ended = True
