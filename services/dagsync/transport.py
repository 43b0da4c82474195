"""How a sync cycle talks to S3: one small interface, two implementations.

- ``botocore`` (default): the aiobotocore ``ListObjectsV2`` paginator and ``GetObject``, with the client's
  ``standard`` retry mode doing the retries.
- ``presigned`` (``presigned.py``): SigV4 query-signed URLs over one aiohttp session; endpoint rules, signer and
  retry decisions are botocore's. See docs/adr/0001-dag-sync.md §8.

Both yield the same ``Listed`` pages and ``Fetched`` results, so the shell (``sync.py``) does not care which runs.
Bodies are streamed to the file in chunks while hashed; an object is never held in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from botocore.exceptions import ClientError

from platform_common.aws import AwsApis

# Every S3 call of the sync, both transports and the manifest GET in sync.py: same APIs, same IAM actions.
AWS_APIS: AwsApis = {"s3": frozenset({"ListObjectsV2", "GetObject"})}

TransportName = Literal["botocore", "presigned"]
TRANSPORTS: tuple[TransportName, ...] = ("botocore", "presigned")
CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Listed:
    key: str
    size: int
    etag: str
    has_sha256: bool


class NotModified:
    """``get_small``'s answer to a 304: the object still has the ETag given as ``if_none_match``."""


NOT_MODIFIED = NotModified()


@dataclass(frozen=True, slots=True)
class Small:
    """A small object read into memory (the manifest): its body, its ETag as S3 sent it and its size.

    Longer than ``limit``: the body is what was read before that showed (none when Content-Length said so).
    """

    body: bytes
    etag: str
    size: int


@dataclass
class Fetched:
    headers: Mapping[str, str]  # lower-case names
    size: int
    sha256: str
    md5: str | None


_CHANGED_CODES = frozenset({"PreconditionFailed", "NoSuchKey", "412"})
_ACCESS_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"})
_THROTTLED_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "503"})


def s3_error_kind(code: str, status: int | None) -> str:
    """The error-kind metric label of an S3 error answer, the same for both transports."""
    if code in _CHANGED_CODES or status == 412:
        return "changed"
    if code in _ACCESS_CODES or status == 403:
        return "access"
    if code in _THROTTLED_CODES or status == 503:
        return "throttled"
    return "s3"


class GetError(Exception):
    """A request that failed for good (after retries); ``kind`` is the error-kind metric label."""

    def __init__(self, kind: str, message: str, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.kind, self.status, self.code = kind, status, code


class Transport(Protocol):
    def list(self, bucket: str, prefix: str) -> AsyncIterator[list[Listed]]:
        """ListObjectsV2 pages (up to 1000 keys each), keys decoded."""
        ...

    async def fetch(self, bucket: str, key: str, path: Path, *, checksum: bool, md5: bool) -> Fetched | None:
        """Stream ``key`` into ``path`` (created or truncated), hashing on the way; None on 404."""
        ...

    async def get_small(
        self, bucket: str, key: str, *, limit: int, if_none_match: str | None = None
    ) -> Small | NotModified | None:
        """GET ``key`` into memory, reading no further once it is longer than ``limit`` (the caller rejects it);
        None on 404, NOT_MODIFIED on a 304 to ``If-None-Match`` (an ETag, unquoted)."""
        ...

    async def __aenter__(self) -> Transport: ...

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Hasher:
    """SHA-256 (and optionally MD5) of a body streamed into a file."""

    def __init__(self, want_md5: bool) -> None:
        self.sha = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False) if want_md5 else None
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.sha.update(chunk)
        if self.md5 is not None:
            self.md5.update(chunk)
        self.size += len(chunk)

    def result(self, headers: Mapping[str, str]) -> Fetched:
        return Fetched(
            {k.lower(): v for k, v in headers.items()},
            self.size,
            self.sha.hexdigest(),
            self.md5.hexdigest() if self.md5 else None,
        )


async def read_small(chunks: AsyncIterator[bytes], etag: str, declared: int | None, limit: int) -> Small:
    """Read a body of at most ``limit`` bytes: not at all when Content-Length (``declared``) is larger, and no
    further than the chunk that passes ``limit`` when it lies (so a huge object is never held whole)."""
    if declared is not None and declared > limit:
        return Small(b"", etag, declared)
    data = bytearray()
    async for chunk in chunks:
        data += chunk
        if len(data) > limit:
            break
    return Small(bytes(data), etag, max(len(data), declared or 0))


class BotocoreTransport:
    """aiobotocore all the way: paginator for LIST, ``get_object`` for GETs, botocore ``standard`` retries."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    async def __aenter__(self) -> BotocoreTransport:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def list(self, bucket: str, prefix: str) -> AsyncIterator[list[Listed]]:
        # botocore sends EncodingType=url and decodes the keys itself.
        paginator = self.s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            yield [
                Listed(
                    o["Key"],
                    int(o.get("Size", 0)),
                    str(o.get("ETag", "")).strip().strip('"'),
                    "SHA256" in o.get("ChecksumAlgorithm", ()),
                )
                for o in page.get("Contents", ())
            ]

    async def fetch(self, bucket: str, key: str, path: Path, *, checksum: bool, md5: bool) -> Fetched | None:
        kw: dict[str, str] = {"ChecksumMode": "ENABLED"} if checksum else {}
        try:
            resp = await self.s3.get_object(Bucket=bucket, Key=key, **kw)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchKey":  # not NoSuchBucket: that must fail
                return None
            raise
        h = Hasher(md5)
        async with resp["Body"] as body:
            with open(path, "wb") as f:  # noqa: ASYNC230 - page-cache writes; a thread hop per chunk costs more
                async for chunk in body.iter_chunks(CHUNK):
                    f.write(chunk)
                    h.update(chunk)
        return h.result(resp["ResponseMetadata"].get("HTTPHeaders", {}))

    async def get_small(
        self, bucket: str, key: str, *, limit: int, if_none_match: str | None = None
    ) -> Small | NotModified | None:
        kw = {"IfNoneMatch": f'"{if_none_match}"'} if if_none_match else {}
        try:
            resp = await self.s3.get_object(Bucket=bucket, Key=key, **kw)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code")
            if status == 304 or code == "304":
                return NOT_MODIFIED
            if code == "NoSuchKey":
                return None
            raise
        etag = str(resp.get("ETag", ""))
        async with resp["Body"] as body:
            return await read_small(body.iter_chunks(CHUNK), etag, resp.get("ContentLength"), limit)


def make_transport(
    name: str,
    s3: Any,
    *,
    concurrency: int,
    max_attempts: int,
    connect_timeout: float,
    read_timeout: float,
) -> Transport:
    if name == "botocore":
        return BotocoreTransport(s3)
    if name == "presigned":
        from .presigned import PresignedTransport

        return PresignedTransport(
            s3,
            concurrency=concurrency,
            max_attempts=max_attempts,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    raise ValueError(f"unknown transport {name!r}: use one of {', '.join(TRANSPORTS)}")
