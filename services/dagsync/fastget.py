"""GetObject and ListObjectsV2 over presigned URLs and one shared aiohttp session: the sync's hot path.

botocore's per-call pipeline costs ~1.7 ms CPU per GetObject; for thousands of 2 KB DAG files that, not the
network, bounds a cold sync (measured: 1000 GETs 6.0 s via aiobotocore vs 2.4 s presigned, see
docs/adr/0001-dag-sync.md). The URL is SigV4-signed by the same botocore client (same credentials, endpoint,
region); retries mirror botocore's ``standard`` mode: 500/502/503/504, throttling and connection errors/timeouts,
capped exponential backoff with full jitter, at most ``max_attempts`` attempts per object.
Presigned URLs carry a signature: they are never logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import ssl
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote_plus

import aiohttp
import yarl

from platform_common.aws import AwsApis
from platform_common.backoff import Backoff

AWS_APIS: AwsApis = {"s3": frozenset({"ListObjectsV2", "GetObject"})}  # presigned, same IAM actions

RETRY_STATUS = frozenset({500, 502, 503, 504})
THROTTLE_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"})
_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")
CHUNK = 1 << 16
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Listed:
    key: str
    size: int
    etag: str
    has_sha256: bool


class GetError(Exception):
    def __init__(self, kind: str, message: str, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.kind, self.status, self.code = kind, status, code


@dataclass
class Fetched:
    headers: Mapping[str, str]
    size: int
    sha256: str
    md5: str | None


def _ssl_context() -> ssl.SSLContext | bool:
    bundle = os.environ.get("AWS_CA_BUNDLE")
    return ssl.create_default_context(cafile=bundle) if bundle else True


class FastGetter:
    def __init__(
        self, s3: Any, *, concurrency: int, max_attempts: int, connect_timeout: float, read_timeout: float
    ) -> None:
        self.s3 = s3
        self.max_attempts = max_attempts
        self._connector = aiohttp.TCPConnector(limit=concurrency, ssl=_ssl_context())
        self._session = aiohttp.ClientSession(
            connector=self._connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout),
            auto_decompress=False,
        )

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> FastGetter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _retrying(
        self, op: str, method: str, params: dict[str, str], what: str, once: Callable[[str], Awaitable[T]]
    ) -> T:
        throttle = Backoff(base=1.0, cap=20.0)
        other = Backoff(base=0.05, cap=20.0)
        attempt = 0
        while True:
            attempt += 1
            url = await self.s3.generate_presigned_url(method, Params=params, ExpiresIn=900)
            try:
                return await once(url)
            except GetError as exc:
                retryable = exc.status in RETRY_STATUS or exc.code in THROTTLE_CODES
                if not retryable or attempt >= self.max_attempts:
                    raise
                wait = (throttle if exc.code in THROTTLE_CODES or exc.status == 503 else other).delay()
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                if attempt >= self.max_attempts:
                    raise GetError(
                        "network", f"{op} {what}: {type(exc).__name__} after {attempt} attempts"
                    ) from None
                wait = other.delay()
            await asyncio.sleep(wait)

    @staticmethod
    async def _raise_for(op: str, resp: aiohttp.ClientResponse) -> None:
        if resp.status == 200:
            return
        body = await resp.content.read(4096)
        m = _CODE.search(body)
        code = m.group(1).decode(errors="replace") if m else ""
        kind = "throttled" if code in THROTTLE_CODES else ("access" if resp.status == 403 else "s3")
        raise GetError(kind, f"S3 {op}: {resp.status} {code}".strip(), resp.status, code)

    def _get(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
        # encoded=True: send the path exactly as signed (re-quoting would break the SigV4 signature).
        return self._session.get(yarl.URL(url, encoded=True), headers=headers)

    async def list(self, bucket: str, prefix: str) -> AsyncIterator[list[Listed]]:
        """ListObjectsV2 pages (1000 keys each), parsed with the C XML parser; keys URL-decoded."""
        token: str | None = None
        while True:
            params = {"Bucket": bucket, "Prefix": prefix, "EncodingType": "url"}
            if token:
                params["ContinuationToken"] = token

            async def once(url: str) -> bytes:
                async with self._get(url) as resp:
                    await self._raise_for("ListObjectsV2", resp)
                    return bytes(await resp.read())

            body = await self._retrying(
                "ListObjectsV2", "list_objects_v2", params, f"s3://{bucket}/{prefix}", once
            )
            root = ET.fromstring(body)  # noqa: S314 - S3's SigV4-authenticated response; expat >= 2.4 caps entity expansion
            del body
            ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            page = []
            for c in root.iterfind(ns + "Contents"):
                algos = [a.text for a in c.iterfind(ns + "ChecksumAlgorithm")]
                page.append(
                    Listed(
                        unquote_plus(c.findtext(ns + "Key") or ""),
                        int(c.findtext(ns + "Size") or 0),
                        (c.findtext(ns + "ETag") or "").strip().strip('"'),
                        "SHA256" in algos,
                    )
                )
            truncated = (root.findtext(ns + "IsTruncated") or "false").lower() == "true"
            token = root.findtext(ns + "NextContinuationToken")
            del root
            yield page
            if not truncated or not token:
                return

    async def fetch(self, bucket: str, key: str, path: Path, *, checksum: bool, md5: bool) -> Fetched | None:
        """Stream ``key`` into ``path`` (created or truncated), hashing on the way. None on 404."""
        params: dict[str, str] = {"Bucket": bucket, "Key": key}
        headers: dict[str, str] = {}
        if checksum:
            params["ChecksumMode"] = "ENABLED"
            headers["x-amz-checksum-mode"] = "ENABLED"

        async def once(url: str) -> Fetched | None:
            try:
                return await self._once(url, headers, path, md5)
            except GetError as exc:
                if exc.status == 404:
                    return None
                raise

        return await self._retrying("GetObject", "get_object", params, repr(key), once)

    async def _once(self, url: str, headers: dict[str, str], path: Path, want_md5: bool) -> Fetched:
        async with self._get(url, headers) as resp:
            await self._raise_for("GetObject", resp)
            sha = hashlib.sha256()
            md5 = hashlib.md5(usedforsecurity=False) if want_md5 else None
            size = 0
            with open(path, "wb") as f:  # noqa: ASYNC230 - page-cache writes; a thread hop per chunk costs more
                async for chunk in resp.content.iter_chunked(CHUNK):
                    f.write(chunk)
                    sha.update(chunk)
                    if md5 is not None:
                        md5.update(chunk)
                    size += len(chunk)
            return Fetched(
                {k.lower(): v for k, v in resp.headers.items()},
                size,
                sha.hexdigest(),
                md5.hexdigest() if md5 else None,
            )
