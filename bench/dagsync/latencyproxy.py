"""A latency proxy in front of the moto server, for bench_sync.py's ``--latency-ms`` mode (issue 13).

Every request waits ``latency`` seconds before it is answered, as a request to S3 would. Object GETs and HEADs are
served from memory once seen (``warm()`` fetches every object once), so that the emulator's own CPU per request
does not set the floor of the measurement; conditional GETs (``If-None-Match``) are answered 304 from memory.
Writes (PUT, POST, DELETE) go to moto and drop the cached copy. LISTs always go to moto.
Runs an aiohttp server on its own event loop in a thread of the bench process; the tools under test are child
processes, so its CPU is never counted as theirs.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import aiohttp
import yarl
from aiohttp import web

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "content-length",
    "content-encoding",
}


class LatencyProxy:
    def __init__(self, upstream: str, latency_s: float, classify: Callable[[str, str], str]) -> None:
        self.upstream = upstream.rstrip("/")
        self.classify = classify
        self.ops: Counter[str] = Counter()  # S3 operation -> requests received
        self.latency = latency_s
        self.cache: dict[
            str, tuple[int, list[tuple[str, str]], bytes]
        ] = {}  # path -> (status, headers, body)
        self.counts = {"requests": 0, "from_memory": 0}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latencyproxy", daemon=True)
        self.url = ""

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> LatencyProxy:
        self._thread.start()
        self._ready.wait(30)
        return self

    def stop(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        fut.result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._startup())
        self._ready.set()
        self._loop.run_forever()

    async def _startup(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), auto_decompress=False)
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def _shutdown(self) -> None:
        await self.runner.cleanup()
        await self.session.close()

    def take_ops(self) -> dict[str, int]:
        """Requests by S3 operation since the last call."""
        out, self.ops = dict(self.ops), Counter()
        return out

    def warm(self, paths: Iterable[str]) -> None:
        """GET every path once through moto into memory (unsigned: moto does not check signatures)."""
        fut = asyncio.run_coroutine_threadsafe(self._warm(list(paths)), self._loop)
        fut.result(3600)

    async def _warm(self, paths: list[str]) -> None:
        sem = asyncio.Semaphore(16)

        async def one(path: str) -> None:
            async with sem, self.session.get(self.upstream + path) as resp:
                body = await resp.read()
                if resp.status == 200:
                    self.cache[path] = (200, _headers(resp), body)

        await asyncio.gather(*(one(p) for p in paths))

    # ---- serving ------------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.counts["requests"] += 1
        self.ops[self.classify(request.method, str(request.rel_url))] += 1
        await asyncio.sleep(self.latency)
        path = request.rel_url.raw_path
        query = request.rel_url.raw_query_string
        is_object = path.count("/") >= 2 and not path.endswith("/")
        listing = "list-type" in query or "prefix=" in query or not is_object
        if request.method in ("GET", "HEAD") and is_object and not listing:
            hit = self.cache.get(path)
            if hit is not None and not request.headers.get("Range"):
                self.counts["from_memory"] += 1
                status, headers, body = hit
                etag = dict((k.lower(), v) for k, v in headers).get("etag")
                if etag and request.headers.get("If-None-Match") == etag:
                    return web.Response(status=304, headers={"ETag": etag})
                resp = web.Response(status=status, body=b"" if request.method == "HEAD" else body)
                for k, v in headers:
                    resp.headers.add(k, v)
                if request.method == "HEAD":
                    resp.headers["Content-Length"] = str(len(body))
                return resp
        else:
            self.cache.pop(path, None)  # a write (or a LIST, harmless) drops what we hold
        data = await request.read()
        fwd = {
            k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"
        }
        target = self.upstream + path + (("?" + query) if query else "")
        async with self.session.request(
            request.method, yarl.URL(target, encoded=True), data=data, headers=fwd
        ) as up:
            body = await up.read()
            headers = _headers(up)
        if (
            request.method == "GET"
            and is_object
            and not listing
            and up.status == 200
            and not request.headers.get("Range")
        ):
            self.cache[path] = (200, headers, body)
        resp = web.Response(status=up.status, body=b"" if request.method == "HEAD" else body)
        for k, v in headers:
            resp.headers.add(k, v)
        if request.method == "HEAD":
            resp.headers["Content-Length"] = up.headers.get("Content-Length", "0")
        return resp


def _headers(resp: aiohttp.ClientResponse) -> list[tuple[str, str]]:
    return [(k, v) for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP]


def object_paths(bucket: str, keys: Iterable[str]) -> list[str]:
    """Path-style request paths for ``keys`` (simple keys: no quoting needed)."""
    return [urlsplit(f"http://x/{bucket}/{k}").path for k in keys]
