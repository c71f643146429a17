"""Blob storage: builds and run artifacts, laid out by qualgent.storage.keys."""

from qualgent.storage.blobs import BlobStore, LocalBlobStore, MultipartWrite

__all__ = ["BlobStore", "LocalBlobStore", "MultipartWrite"]
