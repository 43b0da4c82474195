"""The opt-in ``presigned`` transport: ListObjectsV2 and GetObject over SigV4-presigned URLs and one aiohttp session.

botocore's per-call pipeline costs ~1.7 ms CPU per GetObject; for thousands of 2 KB DAG files that can bound a
cold sync (docs/adr/0001-dag-sync.md). The URL is signed by the same botocore client (same credentials, endpoint,
region). Retry decisions are botocore's own ``standard`` mode (``botocore.retries.standard``: the same conditions,
backoff and retry quota a client uses), fed with the HTTP status, the parsed S3 error code and aiohttp errors
mapped to the botocore exceptions those conditions know. NOT validated against real S3 (moto does not check
signatures): keep the default ``botocore`` transport in production until it is.
Presigned URLs carry a signature: they are never logged.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote_plus, urlsplit

import aiohttp
import yarl
from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.retries import quota, standard

from platform_common.aws import AwsApis

from .transport import CHUNK, Fetched, GetError, Hasher, Listed

AWS_APIS: AwsApis = {"s3": frozenset({"ListObjectsV2", "GetObject"})}  # presigned, same IAM actions

_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")
T = TypeVar("T")

# Headers botocore may put into X-Amz-SignedHeaders for the params we pass, and the value each must carry.
# S3 rejects a presigned request that lacks a signed header (SignatureDoesNotMatch), so we send exactly these.
_SIGNED_HEADER_VALUES = {"x-amz-checksum-mode": "ENABLED"}


class HttpError(Exception):
    """A non-2xx answer: status, S3 error code, headers (for x-amz-retry-after)."""

    def __init__(self, status: int, code: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"{status} {code}".strip())
        self.status, self.code, self.headers = status, code, headers


def to_botocore(exc: BaseException, endpoint: str) -> BotoCoreError:
    """aiohttp/socket errors -> the botocore exceptions the standard retry conditions recognise.

    The same mapping as aiobotocore's HTTP session (aiobotocore/httpsession.py).
    """
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return ConnectionClosedError(endpoint_url=endpoint, error=exc)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        if isinstance(exc, aiohttp.ConnectionTimeoutError) or str(exc).lower().startswith("connect"):
            return ConnectTimeoutError(endpoint_url=endpoint, error=exc)
        return ReadTimeoutError(endpoint_url=endpoint, error=exc)
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientConnectionError | socket.gaierror):
        return EndpointConnectionError(endpoint_url=endpoint, error=exc)
    if isinstance(exc, TimeoutError):
        return ReadTimeoutError(endpoint_url=endpoint, error=exc)
    if isinstance(exc, ConnectionError):
        return ConnectionClosedError(endpoint_url=endpoint, error=exc)
    return HTTPClientError(error=exc)


class StandardRetry:
    """botocore's ``standard`` retry mode for requests botocore itself does not send.

    ``RetryPolicy(StandardRetryConditions, ExponentialBackoff)`` plus a ``RetryQuotaChecker`` per client, wired as
    ``botocore.retries.standard.register_retry_handler`` wires them. One instance per S3 client (shared quota).
    """

    def __init__(self, s3: Any, max_attempts: int) -> None:
        detector = standard.ThrottlingErrorDetector(standard.RetryEventAdapter())
        self.detector = detector
        self.policy = standard.RetryPolicy(
            retry_checker=standard.StandardRetryConditions(max_attempts=max_attempts),
            retry_backoff=standard.ExponentialBackoff(service_name="s3", throttling_detector=detector),
        )
        self.quota = standard.RetryQuotaChecker(quota.RetryQuota(), detector)
        self.model = s3.meta.service_model

    def context(
        self,
        op: str,
        attempt: int,
        request_context: dict[str, Any],
        *,
        error: HttpError | None = None,
        exc: BotoCoreError | None = None,
    ) -> standard.RetryContext:
        return standard.RetryContext(
            attempt_number=attempt,
            operation_model=self.model.operation_model(op),
            parsed_response=(
                {"Error": {"Code": error.code}, "ResponseMetadata": {"HTTPStatusCode": error.status}}
                if error is not None
                else None
            ),
            http_response=(
                AWSResponse("", error.status, dict(error.headers), None) if error is not None else None
            ),
            caught_exception=exc,
            request_context=request_context,
        )

    def delay(self, ctx: standard.RetryContext) -> float | None:
        """Seconds to wait before the next attempt, or None: do not retry (not retryable, max attempts, quota)."""
        if not self.policy.should_retry(ctx):
            return None
        if not self.quota.acquire_retry_quota(ctx):
            return None
        return float(self.policy.compute_retry_delay(ctx))

    def succeeded(self, request_context: dict[str, Any]) -> None:
        self.quota.release_retry_quota(request_context, AWSResponse("", 200, {}, None))

    def is_throttling(self, ctx: standard.RetryContext) -> bool:
        return bool(self.detector.is_throttling_error_from_context(ctx))


def _ssl_context() -> ssl.SSLContext | bool:
    bundle = os.environ.get("AWS_CA_BUNDLE")
    return ssl.create_default_context(cafile=bundle) if bundle else True


def signed_headers(url: str) -> dict[str, str]:
    """The headers a presigned URL's ``X-Amz-SignedHeaders`` requires the request to carry (besides host)."""
    names = parse_qs(urlsplit(url).query).get("X-Amz-SignedHeaders", [""])[0].split(";")
    out: dict[str, str] = {}
    for name in names:
        if name in ("", "host"):
            continue
        if name not in _SIGNED_HEADER_VALUES:
            raise GetError("internal", f"presigned URL signs header {name!r}, which dagsync does not send")
        out[name] = _SIGNED_HEADER_VALUES[name]
    return out


class PresignedTransport:
    def __init__(
        self,
        s3: Any,
        *,
        concurrency: int,
        max_attempts: int,
        connect_timeout: float,
        read_timeout: float,
        retry: StandardRetry | None = None,
    ) -> None:
        self.s3 = s3
        self.retry = retry or StandardRetry(s3, max_attempts)
        self._connector = aiohttp.TCPConnector(limit=concurrency, ssl=_ssl_context())
        self._session = aiohttp.ClientSession(
            connector=self._connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout),
            auto_decompress=False,
        )
        self._endpoint = str(s3.meta.endpoint_url)

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> PresignedTransport:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _retrying(
        self, op: str, method: str, params: dict[str, str], what: str, once: Callable[[str], Awaitable[T]]
    ) -> T:
        attempt = 0
        request_context: dict[str, Any] = {"retries": {}}
        while True:
            attempt += 1
            url = await self.s3.generate_presigned_url(method, Params=params, ExpiresIn=900)
            try:
                result = await once(url)
            except HttpError as err:
                ctx = self.retry.context(op, attempt, request_context, error=err)
                wait = self.retry.delay(ctx)
                if wait is None:
                    kind = (
                        "throttled"
                        if self.retry.is_throttling(ctx)
                        else ("access" if err.status == 403 else "s3")
                    )
                    raise GetError(
                        kind, f"S3 {op} {what}: {err} after {attempt} attempts", err.status, err.code
                    ) from None
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                bexc = to_botocore(exc, self._endpoint)
                wait = self.retry.delay(self.retry.context(op, attempt, request_context, exc=bexc))
                if wait is None:
                    raise GetError(
                        "network", f"S3 {op} {what}: {type(bexc).__name__} after {attempt} attempts"
                    ) from None
            else:
                self.retry.succeeded(request_context)
                return result
            await asyncio.sleep(wait)

    @staticmethod
    async def _raise_for(resp: aiohttp.ClientResponse) -> None:
        if resp.status == 200:
            return
        body = await resp.content.read(4096)
        m = _CODE.search(body)
        code = m.group(1).decode(errors="replace") if m else ""
        raise HttpError(resp.status, code, {k.lower(): v for k, v in resp.headers.items()})

    def _get(self, url: str) -> Any:
        # encoded=True: send the path exactly as signed (re-quoting would break the SigV4 signature).
        return self._session.get(yarl.URL(url, encoded=True), headers=signed_headers(url))

    async def list(self, bucket: str, prefix: str) -> AsyncIterator[list[Listed]]:
        """ListObjectsV2 pages (1000 keys each), parsed with the C XML parser; keys URL-decoded."""
        token: str | None = None
        while True:
            params = {"Bucket": bucket, "Prefix": prefix, "EncodingType": "url"}
            if token:
                params["ContinuationToken"] = token

            async def once(url: str) -> bytes:
                async with self._get(url) as resp:
                    await self._raise_for(resp)
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
        # ChecksumMode is not hoisted into the query: botocore signs it as a header (X-Amz-SignedHeaders=
        # host;x-amz-checksum-mode), so the request must carry it; signed_headers() adds exactly what was signed.
        params: dict[str, str] = {"Bucket": bucket, "Key": key}
        if checksum:
            params["ChecksumMode"] = "ENABLED"

        async def once(url: str) -> Fetched | None:
            try:
                return await self._once(url, path, md5)
            except HttpError as exc:
                if exc.status == 404 and exc.code == "NoSuchKey":  # not NoSuchBucket: that must fail
                    return None
                raise

        return await self._retrying("GetObject", "get_object", params, repr(key), once)

    async def _once(self, url: str, path: Path, want_md5: bool) -> Fetched:
        async with self._get(url) as resp:
            await self._raise_for(resp)
            h = Hasher(want_md5)
            with open(path, "wb") as f:  # noqa: ASYNC230 - page-cache writes; a thread hop per chunk costs more
                async for chunk in resp.content.iter_chunked(CHUNK):
                    f.write(chunk)
                    h.update(chunk)
            return h.result(resp.headers)
