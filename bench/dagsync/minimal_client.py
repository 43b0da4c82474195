"""A minimal S3 client for issue 13's per-object CPU, measured on the machine and in the run that measures dagsync.

Per object: one GET signed by botocore's ``S3SigV4QueryAuth``, sent by aiohttp (32 at a time, one session, as
dagsync's presigned transport), a SHA-256 of the body and a write to a new file. Nothing else: no listing, no plan,
no verification, no publish. ``bench_sync.py`` runs it as a child process and records its CPU as it does the
tools'; dagsync's CPU per object is read next to it.

Usage: minimal_client.py ENDPOINT BUCKET KEYS_FILE DEST (credentials and region from the environment).
       minimal_client.py --files-only KEYS_FILE DEST: only the file writes (2 KB each), no network: what the host's
       file system alone costs per object.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path

PARALLEL = 32  # dagsync's default DAGSYNC_CONCURRENCY


async def fetch_all(endpoint: str, bucket: str, keys: list[str], dest: Path) -> None:
    import aiohttp  # here, not at the top: --files-only must not pay these imports
    import yarl
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials
    from botocore.utils import percent_encode

    creds = ReadOnlyCredentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], None)
    region = os.environ.get("AWS_REGION", "us-east-1")
    for parent in {os.path.dirname(k) for k in keys}:  # directories once, as a planned tree makes them
        (dest / parent).mkdir(parents=True, exist_ok=True)
    todo = iter(keys)
    connector = aiohttp.TCPConnector(limit=PARALLEL)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:

        async def worker() -> None:
            for key in todo:  # PARALLEL workers share one iterator, as dagsync's fetch workers share the plan
                request = AWSRequest("GET", f"{endpoint}/{bucket}/{percent_encode(key, safe='/~')}")
                S3SigV4QueryAuth(creds, "s3", region, expires=900).add_auth(request)
                async with session.get(yarl.URL(request.url, encoded=True)) as resp:
                    if resp.status != 200:
                        raise SystemExit(f"GET {key}: HTTP {resp.status}")
                    body = await resp.read()
                hashlib.sha256(body).hexdigest()
                fd = os.open(dest / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    os.write(fd, body)  # 2 KB: one write
                finally:
                    os.close(fd)

        await asyncio.gather(*(worker() for _ in range(PARALLEL)))


def write_all(keys: list[str], dest: Path, body: bytes = b"x" * 2048) -> None:
    for parent in {os.path.dirname(k) for k in keys}:
        (dest / parent).mkdir(parents=True, exist_ok=True)
    for key in keys:
        fd = os.open(dest / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, body)
        finally:
            os.close(fd)


def main() -> int:
    if sys.argv[1:2] == ["--files-only"]:
        keys_file, dest = sys.argv[2:4]
        write_all([k for k in Path(keys_file).read_text().split("\n") if k], Path(dest))
        return 0
    endpoint, bucket, keys_file, dest = sys.argv[1:5]
    keys = Path(keys_file).read_text().split("\n")
    asyncio.run(fetch_all(endpoint.rstrip("/"), bucket, [k for k in keys if k], Path(dest)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
