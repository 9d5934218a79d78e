"""``S3Storage``: blobs in an S3 (or S3-compatible) bucket through boto3.

An upload is a real S3 multipart upload on ``uploads/<uploadId>``: parts either go straight to
S3 through presigned ``UploadPart`` URLs or through the hold (spooled to a bounded buffer, since
S3 needs each part's length up front). Completion lets S3 join the parts into the staging
object, streams it once to check the digest, then copies it to the blob key; a mismatch deletes
the staging object, so an unverified blob is never visible under a blob key.

The client has short timeouts (connect 2 s, read 10 s) and few retries, so an outage becomes
``StorageUnavailable`` within seconds instead of a hang (ATCR-HOLD-04).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ...digests import Digest
from ..config import S3Settings
from . import (
    MAX_PART_SIZE,
    READ_CHUNK,
    DigestMismatch,
    InvalidPart,
    PartInfo,
    PartRef,
    PartTooLarge,
    PartUrl,
    StorageUnavailable,
    UploadRef,
    normalise_etag,
)

PRESIGN_TTL_S = 3600
# Parts sent through the hold stay in memory up to this size, then spill to a temporary file.
SPOOL_MEMORY_BYTES = 8 * 1024 * 1024
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_BAD_PART = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload"}


def make_client(settings: S3Settings) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        region_name=settings.region,
    )
    config = Config(
        connect_timeout=2,
        read_timeout=10,
        retries={"max_attempts": 2, "mode": "standard"},
        signature_version="s3v4",
        # Path style: S3-compatible servers on loopback have no per-bucket host names.
        s3={"addressing_style": "path"},
    )
    return session.client("s3", endpoint_url=settings.endpoint, config=config)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _unavailable(exc: Exception) -> StorageUnavailable:
    if isinstance(exc, ClientError):
        return StorageUnavailable(f"S3: {_code(exc) or 'error'} ({_status(exc)})")
    return StorageUnavailable(f"S3: {type(exc).__name__}")


class S3Storage:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: S3Settings) -> S3Storage:
        return cls(make_client(settings), settings.bucket)

    @staticmethod
    def _staging_key(upload: UploadRef | str) -> str:
        upload_id = upload.upload_id if isinstance(upload, UploadRef) else upload
        return f"uploads/{upload_id}"

    # -- blobs ------------------------------------------------------------------------------------

    def stat(self, key: str) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND or _status(exc) == 404:
                return None
            raise _unavailable(exc) from None
        except BotoCoreError as exc:
            raise _unavailable(exc) from None
        return int(head["ContentLength"])

    def open_read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        if end <= start:
            return iter(())
        try:
            got = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}"
            )
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from None
        body = got["Body"]

        def stream() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(READ_CHUNK)
            finally:
                body.close()

        return stream()

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from None

    # -- uploads ------------------------------------------------------------------------------

    def begin(self, upload_id: str) -> str:
        try:
            created = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self._staging_key(upload_id)
            )
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from None
        return str(created["UploadId"])

    def write_part(self, upload: UploadRef, number: int, chunks: Iterable[bytes]) -> PartInfo:
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
            for chunk in chunks:
                size += len(chunk)
                if size > MAX_PART_SIZE:
                    raise PartTooLarge(f"a part may be at most {MAX_PART_SIZE} bytes")
                md5.update(chunk)
                spool.write(chunk)
            spool.seek(0)
            try:
                sent = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=self._staging_key(upload),
                    UploadId=upload.token,
                    PartNumber=number,
                    Body=spool,
                    ContentLength=size,
                )
            except ClientError as exc:
                if _code(exc) == "NoSuchUpload":
                    raise InvalidPart("the storage no longer knows this upload") from None
                raise _unavailable(exc) from None
            except BotoCoreError as exc:
                raise _unavailable(exc) from None
        return PartInfo(str(sent["ETag"]), size)

    def part_url(self, upload: UploadRef, number: int) -> PartUrl | None:
        try:
            url = self.client.generate_presigned_url(
                "upload_part",
                Params={
                    "Bucket": self.bucket,
                    "Key": self._staging_key(upload),
                    "UploadId": upload.token,
                    "PartNumber": number,
                },
                ExpiresIn=PRESIGN_TTL_S,
                HttpMethod="PUT",
            )
        except BotoCoreError as exc:
            raise _unavailable(exc) from None
        return PartUrl(str(url), "PUT", PRESIGN_TTL_S)

    def _stored_parts(self, upload: UploadRef) -> dict[int, str]:
        stored: dict[int, str] = {}
        marker = 0
        while True:
            page = self.client.list_parts(
                Bucket=self.bucket,
                Key=self._staging_key(upload),
                UploadId=upload.token,
                PartNumberMarker=marker,
            )
            for part in page.get("Parts", []):
                stored[int(part["PartNumber"])] = str(part["ETag"])
            if not page.get("IsTruncated"):
                return stored
            marker = int(page["NextPartNumberMarker"])

    def assemble(
        self, upload: UploadRef, parts: Sequence[PartRef], dest_key: str, digest: Digest | None
    ) -> int:
        staging = self._staging_key(upload)
        try:
            stored = self._stored_parts(upload)
            for part in parts:
                etag = stored.get(part.number)
                if etag is None:
                    raise InvalidPart(f"part {part.number} was never uploaded")
                if normalise_etag(etag) != normalise_etag(part.etag):
                    raise InvalidPart(f"part {part.number}: ETag does not match")
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=staging,
                UploadId=upload.token,
                MultipartUpload={
                    "Parts": [{"PartNumber": p.number, "ETag": stored[p.number]} for p in parts]
                },
            )
        except ClientError as exc:
            if _code(exc) in _BAD_PART:
                raise InvalidPart(f"storage refused the parts: {_code(exc)}") from None
            raise _unavailable(exc) from None
        except BotoCoreError as exc:
            raise _unavailable(exc) from None
        try:
            if digest is not None:
                hasher = digest.hasher()
                got = self.client.get_object(Bucket=self.bucket, Key=staging)
                body = got["Body"]
                try:
                    for chunk in body.iter_chunks(READ_CHUNK):
                        hasher.update(chunk)
                finally:
                    body.close()
                if hasher.hexdigest() != digest.hex:
                    self.client.delete_object(Bucket=self.bucket, Key=staging)
                    raise DigestMismatch(digest, Digest(digest.algorithm, hasher.hexdigest()))
            # Managed copy: a multipart copy when the object is over S3's 5 GiB CopyObject limit.
            self.client.copy({"Bucket": self.bucket, "Key": staging}, self.bucket, dest_key)
            size = int(self.client.head_object(Bucket=self.bucket, Key=dest_key)["ContentLength"])
            self.client.delete_object(Bucket=self.bucket, Key=staging)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc) from None
        return size

    def abort(self, upload: UploadRef) -> None:
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self._staging_key(upload), UploadId=upload.token
            )
        except ClientError as exc:
            if _code(exc) not in ("NoSuchUpload", "404"):
                raise _unavailable(exc) from None
        except BotoCoreError as exc:
            raise _unavailable(exc) from None
        # A completed-but-refused upload leaves a staging object instead of parts.
        self.delete(self._staging_key(upload))
