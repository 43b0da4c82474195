"""The ``presigned`` transport: ListObjectsV2 and GetObject as SigV4 query-signed URLs over one aiohttp session.

botocore's per-call pipeline (event hooks, endpoint rules, serialisation, response parsing) costs milliseconds of
CPU per GetObject; for thousands of small DAG files that bounds a cold sync (docs/adr/0001-dag-sync.md §8). Here:
- endpoint, region and signing name are resolved once per bucket by the client's own presigner (its endpoint
  rules); GETs are then signed by botocore's ``S3SigV4QueryAuth`` (the signer the presigner uses) with the
  client's credentials object, frozen per request, so temporary credentials rotate as the client's do;
- a ``SigningTemplate`` keeps what that signer computes the same for every key (date, scope, canonical query and
  headers) for up to ``TEMPLATE_TTL`` seconds, and is used only after it reproduced botocore's own URL;
- retry decisions are botocore's ``standard`` mode (``botocore.retries.standard``: the same conditions, backoff and
  retry quota a client uses), fed with the HTTP status, the parsed S3 error code and aiohttp errors mapped to the
  botocore exceptions those conditions know.
Presigned URLs carry a signature: they are never logged.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote_plus, urlsplit

import aiohttp
import yarl
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.retries import quota, standard
from botocore.utils import percent_encode

from .transport import (
    CHUNK,
    NOT_MODIFIED,
    Fetched,
    GetError,
    Hasher,
    Listed,
    NotModified,
    Small,
    read_small,
    s3_error_kind,
)

_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")
T = TypeVar("T")
EXPIRES = 900  # seconds a presigned URL is valid; it is used at once
# Seconds one SigningTemplate (one X-Amz-Date) signs for: every URL keeps >= 840 s of its validity.
TEMPLATE_TTL = 60.0

# Headers botocore may put into X-Amz-SignedHeaders for the params we pass, and the value each must carry.
# S3 rejects a presigned request that lacks a signed header (SignatureDoesNotMatch), so we send exactly these.
_SIGNED_HEADER_VALUES = {"x-amz-checksum-mode": "ENABLED"}
_OK = AWSResponse("", 200, {}, None)
_PRESIGN_PARAMS = {
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
}


class HttpError(Exception):
    """A non-2xx answer: status, S3 error code, headers (for x-amz-retry-after)."""

    def __init__(self, status: int, code: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"{status} {code}".strip())
        self.status, self.code, self.headers = status, code, headers


class LocalWriteError(Exception):
    """Writing a downloaded object to the local disk failed (ENOSPC, EROFS, ...): not an S3 error, so never retried
    as one; ``fetch`` re-raises the ``OSError`` for the sync to classify, as the botocore transport does."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


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
        self.quota.release_retry_quota(request_context, _OK)

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


@dataclass(frozen=True)
class SigningTemplate:
    """Botocore's ``S3SigV4QueryAuth`` output for one endpoint, credential set, header set and X-Amz-Date, minus the key.

    Of a presigned GetObject, only the path differs from key to key: the query (algorithm, credential scope, date,
    expiry, signed headers, token), the canonical headers and the payload hash do not. The template keeps those
    strings as botocore computed them for a probe key, and signs a key's canonical request with botocore's own
    ``string_to_sign`` and ``signature`` (per-request cost: one SHA-256 and the HMAC chain instead of rebuilding
    and re-parsing the query). ``build`` returns None unless the template reproduces botocore's URL for a probe key
    byte for byte and botocore's canonical request for a second key; the caller then signs every request with
    ``add_auth``. Why: docs/adr/0001-dag-sync.md §8.
    """

    PROBE_KEYS = ("dagsync-probe/\u00e4 b+%~.py", "dagsync-probe/other/k=1;x*.py")  # key-dependent encoding

    auth: S3SigV4QueryAuth
    request: AWSRequest  # the probe, after add_auth: carries context["timestamp"]
    origin: str  # scheme://netloc
    path_prefix: str  # the URL path up to the key
    query: str  # the query botocore built, without X-Amz-Signature
    canonical_tail: str  # the canonical request after its path line
    credentials: ReadOnlyCredentials
    made: float  # time.monotonic()

    @classmethod
    def build(
        cls, prefix: str, region: str, host: str, credentials: ReadOnlyCredentials, headers: dict[str, str]
    ) -> SigningTemplate | None:
        auth = S3SigV4QueryAuth(credentials, "s3", region, expires=EXPIRES)
        probe = AWSRequest(
            "GET", prefix + percent_encode(cls.PROBE_KEYS[0], safe="/~"), headers={**headers, "host": host}
        )
        auth.add_auth(probe)
        unsigned, sep, _ = probe.url.rpartition("&X-Amz-Signature=")
        parts = urlsplit(unsigned)
        to_sign = auth.headers_to_sign(probe)
        path_prefix = urlsplit(prefix).path
        tail = "\n".join(
            (
                auth.canonical_query_string(AWSRequest("GET", unsigned)),
                auth.canonical_headers(to_sign) + "\n",
                auth.signed_headers(to_sign),
                auth.payload(probe),
            )
        )
        template = cls(
            auth,
            probe,
            f"{parts.scheme}://{parts.netloc}",
            path_prefix,
            parts.query,
            tail,
            credentials,
            time.monotonic(),
        )
        if not sep or not parts.path.startswith(path_prefix):
            return None
        if template.sign(parts.path[len(path_prefix) :]) != probe.url:
            return None
        other = percent_encode(cls.PROBE_KEYS[1], safe="/~")  # the tail must not depend on the key
        second = AWSRequest("GET", f"{prefix}{other}?{parts.query}", headers=probe.headers)
        second.context["timestamp"] = probe.context["timestamp"]
        if auth.canonical_request(second) != template.canonical_request(other):
            return None
        return template

    def fits(self, credentials: ReadOnlyCredentials) -> bool:
        return credentials == self.credentials and time.monotonic() - self.made < TEMPLATE_TTL

    def canonical_request(self, encoded_key: str) -> str:
        return f"GET\n{self.path_prefix}{encoded_key}\n{self.canonical_tail}"

    def sign(self, encoded_key: str) -> str:
        """The presigned URL of a key encoded as botocore encodes ``{Key+}`` (as it goes on the wire and is signed)."""
        string_to_sign = self.auth.string_to_sign(self.request, self.canonical_request(encoded_key))
        signature = self.auth.signature(string_to_sign, self.request)
        return f"{self.origin}{self.path_prefix}{encoded_key}?{self.query}&X-Amz-Signature={signature}"


class ObjectSigner:
    """Presigned GetObject URLs: endpoint rules once per bucket, then botocore's ``S3SigV4QueryAuth`` per request.

    The client's presigner resolves a probe key's URL (endpoint rules: path or virtual-host style, FIPS/dualstack,
    custom endpoint) and its credential scope (signing region and name). A key's URL is that prefix plus the key
    encoded as botocore's serializer encodes ``{Key+}`` (``percent_encode(key, safe="/~")``). Where the probe
    does not have that shape (an unexpected rule, or a signer other than plain SigV4 for ``s3``), every URL comes
    from the client's presigner instead. Within one bucket, a ``SigningTemplate`` signs while it fits (same
    credentials, same headers, younger than ``TEMPLATE_TTL``); where none reproduces botocore's URL, ``add_auth``
    signs each request.
    """

    PROBE = "dagsync-probe"

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self._creds = s3._get_credentials()  # the client's own credentials object (refreshable in ECS)
        self._bases: dict[
            str, asyncio.Future[tuple[str, str, str] | None]
        ] = {}  # bucket -> (URL prefix, region, host)
        self._templates: dict[tuple[str, bool], SigningTemplate] = {}  # (bucket, checksum) -> template
        self._untemplated: set[str] = set()  # buckets where no template matched botocore's URL

    def _base(self, bucket: str) -> asyncio.Future[tuple[str, str, str] | None]:
        fut = self._bases.get(bucket)
        if fut is None:  # one probe per bucket, also when 32 workers ask at once
            fut = self._bases[bucket] = asyncio.ensure_future(self._resolve(bucket))
        return fut

    async def _resolve(self, bucket: str) -> tuple[str, str, str] | None:
        url = await self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": self.PROBE}, ExpiresIn=EXPIRES
        )
        parts = urlsplit(url)
        q = parse_qs(parts.query)
        scope = q.get("X-Amz-Credential", [""])[0].split("/")  # akid/date/region/service/aws4_request
        plain = (
            self._creds is not None
            and parts.path.endswith("/" + self.PROBE)
            and len(scope) == 5
            and scope[3] == "s3"
            and q.get("X-Amz-Algorithm") == ["AWS4-HMAC-SHA256"]
            and set(q) <= _PRESIGN_PARAMS
        )
        if not plain:
            return None
        prefix = f"{parts.scheme}://{parts.netloc}{parts.path[: -len(self.PROBE)]}"
        # The Host value botocore signs for this endpoint, computed by the signer once: signing it per request
        # re-parses the URL (about a third of add_auth).
        host = S3SigV4QueryAuth(None, "s3", scope[2]).headers_to_sign(AWSRequest("GET", prefix))["host"]
        return prefix, scope[2], host

    async def get_object(self, bucket: str, key: str, checksum: bool) -> tuple[str, dict[str, str]]:
        """(URL, headers to send) for one GetObject; the headers are exactly the signed ones besides host."""
        base = await self._base(bucket)
        if base is None:
            params = {"Bucket": bucket, "Key": key}
            if checksum:
                params["ChecksumMode"] = "ENABLED"
            url = await self.s3.generate_presigned_url("get_object", Params=params, ExpiresIn=EXPIRES)
            return url, signed_headers(url)
        prefix, region, host = base
        headers = {"x-amz-checksum-mode": "ENABLED"} if checksum else {}
        creds = await self._creds.get_frozen_credentials()  # refreshes temporary credentials when due
        encoded = percent_encode(key, safe="/~")
        if bucket not in self._untemplated:
            template = self._templates.get((bucket, checksum))
            if template is None or not template.fits(creds):
                template = SigningTemplate.build(prefix, region, host, creds, headers)
                if template is None:
                    self._untemplated.add(bucket)
                else:
                    self._templates[(bucket, checksum)] = template
            if template is not None:
                return template.sign(encoded), headers
        request = AWSRequest("GET", prefix + encoded, headers={**headers, "host": host})
        S3SigV4QueryAuth(creds, "s3", region, expires=EXPIRES).add_auth(request)
        return request.url, headers


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
        signer: ObjectSigner | None = None,
    ) -> None:
        self.s3 = s3
        self.retry = retry or StandardRetry(s3, max_attempts)
        self.signer = signer or ObjectSigner(s3)
        self._connector = aiohttp.TCPConnector(limit=concurrency, ssl=_ssl_context())
        self._session = aiohttp.ClientSession(
            connector=self._connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # S3 sets no cookies; skips a jar lookup per request
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
        self,
        op: str,
        sign: Callable[[], Awaitable[tuple[str, dict[str, str]]]],
        what: str,
        once: Callable[[str, dict[str, str]], Awaitable[T]],
    ) -> T:
        attempt = 0
        request_context: dict[str, Any] = {"retries": {}}
        while True:
            attempt += 1
            url, headers = await sign()  # signed per attempt: fresh credentials and date
            try:
                result = await once(url, headers)
            except HttpError as err:
                ctx = self.retry.context(op, attempt, request_context, error=err)
                wait = self.retry.delay(ctx)
                if wait is None:
                    kind = (
                        "throttled" if self.retry.is_throttling(ctx) else s3_error_kind(err.code, err.status)
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

    def _get(self, url: str, headers: dict[str, str]) -> Any:
        # encoded=True: send the path exactly as signed (re-quoting would break the SigV4 signature).
        return self._session.get(yarl.URL(url, encoded=True), headers=headers)

    async def list(self, bucket: str, prefix: str) -> AsyncIterator[list[Listed]]:
        """ListObjectsV2 pages (1000 keys each), parsed with the C XML parser; keys URL-decoded."""
        token: str | None = None
        while True:
            params = {"Bucket": bucket, "Prefix": prefix, "EncodingType": "url"}
            if token:
                params["ContinuationToken"] = token

            async def sign(params: dict[str, str] = params) -> tuple[str, dict[str, str]]:
                url = await self.s3.generate_presigned_url(
                    "list_objects_v2", Params=params, ExpiresIn=EXPIRES
                )
                return url, signed_headers(url)

            async def once(url: str, headers: dict[str, str]) -> bytes:
                async with self._get(url, headers) as resp:
                    await self._raise_for(resp)
                    return bytes(await resp.read())

            body = await self._retrying("ListObjectsV2", sign, f"s3://{bucket}/{prefix}", once)
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
        # ChecksumMode is a signed header (X-Amz-SignedHeaders=host;x-amz-checksum-mode), as botocore's presigner
        # signs it: the request carries exactly the headers that were signed.
        def sign() -> Awaitable[tuple[str, dict[str, str]]]:
            return self.signer.get_object(bucket, key, checksum)

        async def once(url: str, headers: dict[str, str]) -> Fetched | None:
            try:
                return await self._once(url, headers, path, md5)
            except HttpError as exc:
                if exc.status == 404 and exc.code == "NoSuchKey":  # not NoSuchBucket: that must fail
                    return None
                raise

        try:
            return await self._retrying("GetObject", sign, repr(key), once)
        except LocalWriteError as exc:  # the local disk, not S3: the caller classifies it (e.g. disk_full)
            raise exc.error from None

    async def get_small(
        self, bucket: str, key: str, *, limit: int, if_none_match: str | None = None
    ) -> Small | NotModified | None:
        # If-None-Match is not signed: S3 requires only x-amz-* headers to be, and the template signs host alone.
        condition = {"if-none-match": f'"{if_none_match}"'} if if_none_match else {}

        def sign() -> Awaitable[tuple[str, dict[str, str]]]:
            return self.signer.get_object(bucket, key, False)

        async def once(url: str, headers: dict[str, str]) -> Small | NotModified | None:
            async with self._get(url, {**headers, **condition}) as resp:
                if resp.status == 304:
                    return NOT_MODIFIED
                try:
                    await self._raise_for(resp)
                except HttpError as exc:
                    if exc.status == 404 and exc.code == "NoSuchKey":  # not NoSuchBucket: that must fail
                        return None
                    raise
                etag = resp.headers.get("ETag", "")
                return await read_small(resp.content.iter_chunked(CHUNK), etag, resp.content_length, limit)

        return await self._retrying("GetObject", sign, repr(key), once)

    async def _once(self, url: str, headers: dict[str, str], path: Path, want_md5: bool) -> Fetched:
        async with self._get(url, headers) as resp:
            await self._raise_for(resp)
            h = Hasher(want_md5)
            try:
                f = open(path, "wb")  # noqa: ASYNC230, SIM115 - page-cache writes; a thread hop per chunk costs more
            except OSError as exc:
                raise LocalWriteError(exc) from exc
            with f:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    try:
                        f.write(chunk)
                    except OSError as exc:
                        raise LocalWriteError(exc) from exc
                    h.update(chunk)
                try:
                    f.flush()
                except OSError as exc:
                    raise LocalWriteError(exc) from exc
            return h.result(resp.headers)
