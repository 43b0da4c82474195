"""An independent SigV4 presigned-URL check (what S3 does on receipt; moto does not check signatures).

Written from the AWS SigV4 spec, not with botocore's signer, so it can disagree with what dagsync sent.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlsplit


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def presigned_problem(method: str, target: str, headers: Mapping[str, str], secret_key: str) -> str | None:
    """None if ``target`` + ``headers`` carry a valid SigV4 query signature for ``secret_key``, else why not."""
    parts = urlsplit(target)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    q = dict(pairs)
    if "X-Amz-Signature" not in q:
        return "not presigned"
    signed = q["X-Amz-SignedHeaders"].split(";")
    missing = [h for h in signed if h not in headers]
    if missing:
        return f"signed header(s) not sent: {missing}"
    enc = lambda s: quote(s, safe="-_.~")  # noqa: E731
    canonical_query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(pairs) if k != "X-Amz-Signature")
    canonical_headers = "".join(f"{h}:{' '.join(headers[h].split())}\n" for h in signed)
    creq = "\n".join(
        [method, parts.path, canonical_query, canonical_headers, ";".join(signed), "UNSIGNED-PAYLOAD"]
    )
    _akid, date, region, service, term = q["X-Amz-Credential"].split("/")
    scope = f"{date}/{region}/{service}/{term}"
    sts = "\n".join(["AWS4-HMAC-SHA256", q["X-Amz-Date"], scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), date), region), service), term)
    if hmac.new(key, sts.encode(), hashlib.sha256).hexdigest() != q["X-Amz-Signature"]:
        return "signature does not match"
    return None
