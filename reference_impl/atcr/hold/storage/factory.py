"""The storage driver a HoldConfig asks for (boto3 is imported only for S3)."""

from __future__ import annotations

from ..config import HoldConfig
from . import BlobStorage


def build_storage(config: HoldConfig) -> BlobStorage:
    if config.storage == "s3":
        from .s3 import S3Storage

        assert config.s3 is not None  # HoldConfig guarantees it for storage "s3"
        return S3Storage.from_settings(config.s3)
    from .filesystem import FilesystemStorage

    return FilesystemStorage(config.data_dir)
