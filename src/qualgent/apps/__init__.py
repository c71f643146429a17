"""Uploaded builds: streaming upload, listing, signed download links, soft delete."""
