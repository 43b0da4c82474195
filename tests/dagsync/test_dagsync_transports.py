"""The two S3 transports behave the same (docs/adr/0001-dag-sync.md §8): URLs, credentials, error kinds.

The presigned transport signs each GetObject with botocore's ``S3SigV4QueryAuth`` after resolving the endpoint once
per bucket with the client's presigner; these tests pin that to what the client's presigner itself produces, and
run credential rotation and S3 error answers through both transports against the moto server.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import botocore.auth
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from dagsync import presigned
from dagsync.presigned import ObjectSigner
from dagsync.state import Paths
from devtools import aws_proxy
from platform_common.aws import aio_session
from tests.support.dagsync import put, settings_for, sync_once, tree
from tests.support.sigv4 import presigned_problem

# Keys whose URL encoding can go wrong: spaces, '+', '%', '~', '?', '#', ';', unicode (NFC and NFD), '*'.
AWKWARD = [
    "dags/a b.py",
    "dags/a+b.py",
    "dags/pct%41.py",
    "dags/x~y.py",
    "dags/q?x=1.py",
    "dags/h#1.py",
    "dags/semi;colon,comma.py",
    "dags/\u00fc/\u00e4.py",
    "dags/cafe\u0301.py",
    "dags/star*(paren)'quote'.py",
    "dags/deep/er/and/deeper/x.py",
]
FIXED = datetime.datetime(2026, 11, 30, 12, 0, 0)


@pytest.mark.parametrize(
    ("region", "endpoint", "config", "bucket"),
    [
        ("us-east-1", None, Config(signature_version="s3v4"), "dags-bucket"),  # virtual host
        ("eu-west-1", None, Config(signature_version="s3v4"), "dags-bucket"),
        ("eu-west-1", None, Config(signature_version="s3v4"), "dags.with.dots"),  # path style (TLS name)
        ("us-west-2", None, Config(signature_version="s3v4", s3={"addressing_style": "path"}), "dags-bucket"),
        ("us-east-1", None, Config(signature_version="s3v4", use_fips_endpoint=True), "dags-bucket"),
        ("us-east-1", None, Config(signature_version="s3v4", use_dualstack_endpoint=True), "dags-bucket"),
        (
            "ap-southeast-2",
            "http://127.0.0.1:4566",
            Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            "dags-bucket",
        ),
    ],
)
@pytest.mark.parametrize("token", [None, "session-token/with+chars="])
def test_object_urls_equal_the_client_presigners(
    monkeypatch: pytest.MonkeyPatch,
    region: str,
    endpoint: str | None,
    config: Config,
    bucket: str,
    token: str | None,
) -> None:
    """Same URL, byte for byte (signature included, at a fixed clock), as ``generate_presigned_url``."""
    for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: FIXED)

    async def go() -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
        async with aio_session().create_client(
            "s3",
            region_name=region,
            endpoint_url=endpoint,
            config=config,
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret/key+example",
            aws_session_token=token,
        ) as client:
            signer = ObjectSigner(client)
            out = []
            for key in AWKWARD:
                for checksum in (False, True):
                    params = {
                        "Bucket": bucket,
                        "Key": key,
                        **({"ChecksumMode": "ENABLED"} if checksum else {}),
                    }
                    want = await client.generate_presigned_url("get_object", Params=params, ExpiresIn=900)
                    got, headers = await signer.get_object(bucket, key, checksum)
                    out.append((want, got, headers, {"x-amz-checksum-mode": "ENABLED"} if checksum else {}))
            assert signer._bases[bucket].result() is not None  # the direct path ran, not the fallback
            assert set(signer._templates) == {(bucket, False), (bucket, True)} and not signer._untemplated
            return out

    for want, got, headers, want_headers in asyncio.run(go()):
        assert got == want
        assert headers == want_headers
        q = parse_qs(urlsplit(got).query)
        assert q.get("X-Amz-Security-Token") == ([token] if token else None)
        host = urlsplit(got).netloc
        assert (
            presigned_problem("GET", got.split(host, 1)[1], {"host": host, **headers}, "secret/key+example")
            is None
        )


def _signer_urls(
    monkeypatch: pytest.MonkeyPatch, steps: list[tuple[float, str | None]]
) -> list[tuple[str, str, ObjectSigner]]:
    """(signer URL, presigner URL, signer) for ``dags/a b.py`` after each (seconds on both clocks, new secret)."""
    clock = {"s": 0.0}
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda: FIXED + datetime.timedelta(seconds=clock["s"])
    )
    monkeypatch.setattr(presigned.time, "monotonic", lambda: 1000.0 + clock["s"])
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    async def go() -> list[tuple[str, str, ObjectSigner]]:
        async with aio_session().create_client(
            "s3",
            region_name="eu-west-1",
            config=Config(signature_version="s3v4"),
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret-0",
        ) as client:
            signer = ObjectSigner(client)
            out = []
            for seconds, secret in steps:
                clock["s"] = seconds
                if secret is not None:  # as a refreshed ECS credential would: the client's object changes
                    client._request_signer._credentials.secret_key = secret
                params = {"Bucket": "dags-bucket", "Key": "dags/a b.py"}
                got, _ = await signer.get_object("dags-bucket", "dags/a b.py", False)
                want = await client.generate_presigned_url("get_object", Params=params, ExpiresIn=900)
                out.append((got, want, signer))
            return out

    return asyncio.run(go())


def _date(url: str) -> str:
    return parse_qs(urlsplit(url).query)["X-Amz-Date"][0]


def test_signing_template_is_reused_within_its_ttl_then_renewed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within TEMPLATE_TTL one X-Amz-Date signs (URLs still verify); after it, or with new credentials, a new one."""
    ttl = presigned.TEMPLATE_TTL
    (first, want0, _), (reused, _, _), (renewed, want2, _), (rotated, want3, _) = _signer_urls(
        monkeypatch, [(0, None), (ttl - 1, None), (ttl + 1, None), (ttl + 2, "secret-1")]
    )
    assert first == want0
    assert _date(reused) == _date(first) and reused == first  # same key, same template: the same URL
    host = urlsplit(reused).netloc
    assert presigned_problem("GET", reused.split(host, 1)[1], {"host": host}, "secret-0") is None
    assert renewed == want2 and _date(renewed) != _date(first)
    assert rotated == want3  # the new secret signs at once, inside the renewed template's TTL
    assert presigned_problem("GET", rotated.split(host, 1)[1], {"host": host}, "secret-1") is None


def test_signer_falls_back_to_add_auth_when_the_template_does_not_match_botocore(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A botocore whose canonical request depends on the key beyond its path: no template, add_auth per request."""
    original = botocore.auth.S3SigV4QueryAuth.payload

    def key_dependent_payload(self: botocore.auth.S3SigV4QueryAuth, request: object) -> str:
        return f"{original(self, request)}-{len(urlsplit(request.url).path)}"  # type: ignore[attr-defined]

    monkeypatch.setattr(botocore.auth.S3SigV4QueryAuth, "payload", key_dependent_payload)
    (got, want, signer), (got2, want2, _) = _signer_urls(monkeypatch, [(0, None), (1, None)])
    assert got == want and got2 == want2
    assert signer._untemplated == {"dags-bucket"} and not signer._templates


def test_unsigned_client_falls_back_to_the_client_presigner(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials to sign with (UNSIGNED): every URL comes from the client, unsigned."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    async def go() -> tuple[str, str]:
        async with aio_session().create_client(
            "s3", region_name="eu-west-1", config=Config(signature_version=UNSIGNED)
        ) as client:
            signer = ObjectSigner(client)
            got, _ = await signer.get_object("dags-bucket", "dags/a b.py", False)
            assert signer._bases["dags-bucket"].result() is None
            want = await client.generate_presigned_url(
                "get_object", Params={"Bucket": "dags-bucket", "Key": "dags/a b.py"}
            )
            return got, want

    got, want = asyncio.run(go())
    assert got == want and "X-Amz-Signature" not in got


def test_awkward_keys_sync_the_same_on_both_transports(s3, bucket, proxy, tmp_path, transport) -> None:
    want = {}
    for i, key in enumerate(AWKWARD):
        body = f"# {i}\n".encode()
        put(s3, bucket, key, body, **({"ChecksumAlgorithm": "SHA256"} if i % 2 else {}))
        want[key.removeprefix("dags/")] = body
    dest = tmp_path / "dags"
    res = sync_once(settings_for(bucket, dest, transport=transport))
    assert res.ok and res.unverified == 0, res.error
    assert tree(dest) == want
    assert proxy.snapshot() == {"ListObjectsV2": 1, "GetObject": len(AWKWARD)}
    if transport == "presigned":
        for path, headers in proxy.requests_for("GetObject", ""):
            assert presigned_problem("GET", path, headers, "testing") is None, path
            q = parse_qs(urlsplit(path).query)
            signed_at = datetime.datetime.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.UTC
            )
            age = datetime.datetime.now(datetime.UTC) - signed_at
            assert q["X-Amz-Expires"] == ["900"] and age < datetime.timedelta(
                seconds=120
            )  # not expired on use


# ---- credentials from the ECS container endpoint, rotating --------------------------------------------------------
class CredentialEndpoint:
    """The ECS container credentials endpoint: a new key pair and session token on every call, expiring in 5 minutes,
    so botocore refreshes before every signature (its mandatory refresh window is 10 minutes)."""

    def __init__(self) -> None:
        self.served: dict[str, tuple[str, str]] = {}  # access key id -> (secret, token)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with outer._lock:
                    n = len(outer.served) + 1
                    akid, secret, token = f"ASIAROTATE{n:06d}", f"secret-{n}", f"token-{n}"
                    outer.served[akid] = (secret, token)
                expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
                body = json.dumps(
                    {
                        "AccessKeyId": akid,
                        "SecretAccessKey": secret,
                        "Token": token,
                        "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/credentials"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def container_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[CredentialEndpoint]:
    ep = CredentialEndpoint()
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", ep.url)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield ep
    ep.stop()


def _credential_of(path: str, headers: dict[str, str]) -> tuple[str, str | None]:
    """(access key id, session token) a request was signed with: presigned query or Authorization header."""
    q = parse_qs(urlsplit(path).query)
    if "X-Amz-Credential" in q:
        return q["X-Amz-Credential"][0].split("/")[0], q.get("X-Amz-Security-Token", [None])[0]
    cred = headers["authorization"].split("Credential=", 1)[1].split("/", 1)[0]
    return cred, headers.get("x-amz-security-token")


def test_container_credentials_rotate_on_both_transports(
    s3, bucket, proxy, tmp_path, transport, container_credentials
) -> None:
    """Task-role credentials from the container endpoint; each request is signed with a pair the endpoint served,
    token and key from the same pair, and rotated pairs are used as soon as botocore refreshes them."""
    for i in range(6):
        put(s3, bucket, f"dags/f{i}.py", b"x" * i)
    dest = tmp_path / "dags"
    proxy.reset_counts()
    res = sync_once(settings_for(bucket, dest, transport=transport, concurrency=2))
    assert res.ok, res.error
    assert set(tree(dest)) == {f"f{i}.py" for i in range(6)}
    served = container_credentials.served
    used = [
        _credential_of(p, h) for op in ("ListObjectsV2", "GetObject") for p, h in proxy.requests_for(op, "")
    ]
    assert len(used) == 7
    for akid, token in used:
        assert akid in served and served[akid][1] == token  # a served pair, never mixed
    assert len({akid for akid, _ in used}) >= 4  # rotated within one cycle: refreshed, not cached
    if transport == "presigned":
        for path, headers in proxy.requests_for("GetObject", ""):
            akid, _ = _credential_of(path, headers)
            assert presigned_problem("GET", path, headers, served[akid][0]) is None


# ---- S3 error answers: the same outcome and error kind on both transports -----------------------------------------
@pytest.fixture
def more_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Error answers the shared proxy does not carry by default (same XML shape as its others)."""
    monkeypatch.setitem(
        aws_proxy._XML, "expired_token", (400, "ExpiredToken", "The provided token has expired.")
    )
    monkeypatch.setitem(aws_proxy._XML, "expired_url", (403, "AccessDenied", "Request has expired"))
    monkeypatch.setitem(
        aws_proxy._XML, "no_such_key", (404, "NoSuchKey", "The specified key does not exist.")
    )
    monkeypatch.setitem(
        aws_proxy._XML, "no_such_bucket", (404, "NoSuchBucket", "The specified bucket does not exist")
    )


@pytest.mark.parametrize(
    ("op", "fault", "kind", "attempts"),
    [
        ("GetObject", "expired_token", "access", 1),
        ("GetObject", "expired_url", "access", 1),
        ("GetObject", "403", "access", 1),
        ("GetObject", "no_such_bucket", "s3", 1),
        ("GetObject", "503", "throttled", 3),
        ("GetObject", "500", "s3", 3),
        ("ListObjectsV2", "expired_token", "access", 1),
        ("ListObjectsV2", "no_such_bucket", "s3", 1),
        ("ListObjectsV2", "503", "throttled", 3),
    ],
)
def test_error_answers_fail_alike_on_both_transports(
    s3, bucket, proxy, tmp_path, transport, more_faults, op, fault, kind, attempts
) -> None:
    put(s3, bucket, "dags/a.py", b"A")
    dest = tmp_path / "dags"
    st = settings_for(bucket, dest, max_attempts=3, transport=transport)
    assert sync_once(st).ok
    put(s3, bucket, "dags/b.py", b"B")
    proxy.add(op, fault, times=None, key_contains=None if op == "ListObjectsV2" else "b.py")
    proxy.reset_counts()
    res = sync_once(st)
    assert not res.ok and res.error_kind == kind, res.error
    assert proxy.faults_injected == {f"{op}:{fault}": attempts}  # botocore's standard policy decides retries
    assert tree(dest) == {"a.py": b"A"}  # the last good version stays
    assert not [n for n in Paths.for_dest(dest).versions.iterdir() if n.name.startswith(".")]


def test_no_such_key_is_a_vanished_object_on_both_transports(
    s3, bucket, proxy, tmp_path, transport, more_faults
) -> None:
    """A GET answered 404 NoSuchKey (deleted since the LIST): mirror mode publishes without it, the next LIST
    decides (here the object is still there, so the next cycle fetches it)."""
    put(s3, bucket, "dags/a.py", b"A")
    put(s3, bucket, "dags/gone.py", b"G")
    dest = tmp_path / "dags"
    st = settings_for(bucket, dest, transport=transport)
    proxy.add("GetObject", "no_such_key", times=1, key_contains="gone.py")
    res = sync_once(st)
    assert res.ok and res.outcome == "published", res.error
    assert tree(dest) == {"a.py": b"A"} and proxy.faults_injected == {"GetObject:no_such_key": 1}
    res = sync_once(st)
    assert res.ok and res.outcome == "published" and tree(dest) == {"a.py": b"A", "gone.py": b"G"}
