"""Blob storage for builds (and, later, screenshots)."""

from qualgent.storage.blobs import BlobStore, LocalBlobStore, MultipartWrite

__all__ = ["BlobStore", "LocalBlobStore", "MultipartWrite"]
