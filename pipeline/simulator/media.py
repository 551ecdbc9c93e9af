"""The media host: a different origin serving attachment bytes behind signed, expiring URLs.

Like api.media.atlassian.com, it trusts only the signature in the URL. A request that carries an
`Authorization` header is refused and counted: the client leaked a token to a host it must not reach.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from urllib.parse import quote, urlencode

from aiohttp import web

from .dataset import blob_bytes

CHUNK = 64 * 1024
Resolver = Callable[[str, str, int], tuple[str, int] | None]  # (product, id, version) -> (seed, size)


class MediaSigner:
    def __init__(self, media_url: str, ttl_s: float) -> None:
        self.media_url, self.ttl_s = media_url, ttl_s
        self.secret = secrets.token_bytes(32)

    def signature(self, key: str, expires: int) -> str:
        return hmac.new(self.secret, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()

    def sign(self, product: str, item_id: str, version: int, name: str) -> str:
        key = f"{product}-{item_id}-{version}"
        expires = int(time.time() + self.ttl_s)
        query = urlencode(
            {"client": "sim", "token": self.signature(key, expires), "expires": expires, "name": name, "dl": "true"}
        )
        return f"{self.media_url}/file/{quote(key)}/binary?{query}"


class MediaHost:
    def __init__(
        self,
        signer: MediaSigner,
        resolve: Resolver,
        bytes_per_s: float,
        counters,
        fault: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.signer, self.resolve, self.bytes_per_s, self.counters = signer, resolve, bytes_per_s, counters
        self.fault = fault  # seeded: see gatekeeper.FAULT_KINDS['media']

    async def serve(self, request: web.Request) -> web.StreamResponse:
        if "Authorization" in request.headers:
            self.counters["media.authorization_refused"] += 1
            return web.json_response({"error": "Authorization header is not accepted on this host"}, status=400)
        key = request.match_info["key"]
        expires = request.query.get("expires", "")
        token = request.query.get("token", "")
        if not expires.isdigit() or not hmac.compare_digest(token, self.signer.signature(key, int(expires))):
            return web.json_response({"error": "invalid signature"}, status=403)
        if int(expires) < time.time():
            return web.json_response({"error": "URL expired"}, status=403)
        product, item_id, version = key.split("-", 2)
        found = self.resolve(product, item_id, int(version))
        if found is None:
            return web.json_response({"error": "not found"}, status=404)
        return await self.stream(request, blob_bytes(*found))

    async def stream(self, request: web.Request, data: bytes) -> web.StreamResponse:
        fault = self.fault()
        if fault is not None:
            self.counters[f"faults.{fault}"] += 1
        if fault == "media_malformed":  # a garbled status line: the client's parser gives up
            return self._garble(request)
        if fault == "media_wrong_bytes":  # well-framed, but not the size the listing promised
            data = data + b"\0" if len(data) % 2 else data[:-1] + b"\0\0"
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = len(data) + (fault == "media_short")
        await response.prepare(request)
        if fault in ("media_drop", "media_short"):
            # drop: half the bytes then a closed connection; short: every byte but one promised
            await response.write(data[: len(data) // 2] if fault == "media_drop" else data)
            if request.transport is not None:
                request.transport.close()
            return response
        for start in range(0, len(data), CHUNK):
            await response.write(data[start : start + CHUNK])
            if self.bytes_per_s:
                await asyncio.sleep(CHUNK / self.bytes_per_s)
        await response.write_eof()
        return response

    @staticmethod
    def _garble(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.write(b"HTTP/1.1 2x0 OK\r\nContent-Length: 3\r\n\r\nbad")
            request.transport.close()
        return web.Response(status=502)  # never reaches the client: the connection is closed
