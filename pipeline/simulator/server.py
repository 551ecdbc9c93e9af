"""The fake Atlassian Cloud: four loopback origins, like the real ones.

- site    `<site>.atlassian.net`: `/_edge/tenant_info`; API paths refuse scoped tokens (401) and
          anything else is the HTML login page, as a browser would get.
- gateway `api.atlassian.com`: `/ex/confluence/{cloudId}/...` and `/ex/jira/{cloudId}/...`.
- media   `api.media.atlassian.com`: attachment bytes behind signed URLs; refuses Authorization.
- auth    `auth.atlassian.com`: `POST /oauth/token` (client credentials).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from typing import Any

from aiohttp import web

from ..scopes import BY_NAME
from .confluence_api import ConfluenceApi
from .confluence_content import ConfluenceContent, ConfluenceMutations
from .confluence_people import PeopleApi, PeopleMutations, TaskContent
from .confluence_restore import RestoreApi, RestoreContent
from .confluence_tree import TreeMutations
from .confluence_tree_api import TreeApi
from .dataset import SCALES
from .gatekeeper import Limits, LoggedRequest, RequestLog, SimConfig, TokenBook, rate_limit_headers
from .jira_api import JiraApi
from .jira_content import JiraContent, JiraMutations
from .media import MediaHost, MediaSigner
from .overlay import Overlay
from .responses import json_response
from .troubles import Troubles

LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Log in with Atlassian account</title></head>"
    "<body><form action='/login'>Log in to continue</form></body></html>"
)
MAINTENANCE_PAGE = "<!DOCTYPE html><html><body><h1>We'll be right back</h1></body></html>"
HOSTS = ("gateway", "site", "media", "auth")
FAMILY = web.RequestKey("family", str)


class Simulator:
    """Start with `async with Simulator(...) as sim:`; `sim.token` has every read scope."""

    def __init__(
        self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0, token: str | None = None
    ) -> None:
        self.config = config or SimConfig()
        if self.config.scale not in SCALES:
            raise ValueError(f"unknown scale {self.config.scale!r}: choose one of {', '.join(SCALES)}")
        self.host, self.port = host, port
        self.cloud_id = str(uuid.UUID(int=self.config.seed * 2654435761 % (1 << 128), version=4))
        self.overlay = Overlay()
        scale = SCALES[self.config.scale]
        self.confluence = ConfluenceContent(self.config.seed, scale, self.overlay, self.config.body_kb)
        self.jira = JiraContent(self.config.seed, scale, self.overlay, self.config.search_lag_s)
        self.confluence_changes = ConfluenceMutations(self.confluence)
        self.tree_changes = TreeMutations(self.confluence.tree)
        self.tasks = TaskContent(self.confluence)
        self.restore = RestoreContent(self.confluence)
        self.people_changes = PeopleMutations(self.tasks, self.confluence_changes.edit)
        self.jira_changes = JiraMutations(self.jira)
        self.tokens = TokenBook(self.config)
        self.token = self.tokens.add_token(token)
        self.log = RequestLog()
        self.limits = Limits(self.config)
        self.troubles = Troubles(seed=self.config.seed)  # failures a test sets and lifts
        self.urls: dict[str, str] = {}
        self.runners: list[web.AppRunner] = []
        self.operations: dict[Any, Any] = {}
        self.gateway_requests = 0
        self.on_gateway_request = None  # tests: called with the running count as each request arrives

    # -- lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        sockets = [self._bind(self.port + offset if self.port else 0) for offset in range(len(HOSTS))]
        for name, sock in zip(HOSTS, sockets, strict=True):
            self.urls[name] = f"http://{self.host}:{sock.getsockname()[1]}"
        self.signer = MediaSigner(self.urls["media"], self.config.media_url_ttl_s)
        media = MediaHost(
            self.signer,
            self._resolve_blob,
            self.config.slow_download_bytes_per_s,
            self.log.counters,
            fault=lambda: self.limits.fault("media"),
        )
        apps = [
            self._gateway_app(),
            self._site_app(),
            self._logged_app("media", [("GET", "/file/{key}/binary", media.serve)]),
            self._logged_app("auth", [("POST", "/oauth/token", self._oauth_token)]),
        ]
        for app, sock in zip(apps, sockets, strict=True):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            self.runners.append(runner)

    def _bind(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, port))
        return sock

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        self.runners.clear()

    @property
    def site_url(self) -> str:
        return self.urls["site"]

    @property
    def gateway_url(self) -> str:
        return self.urls["gateway"]

    @property
    def media_url(self) -> str:
        return self.urls["media"]

    @property
    def auth_url(self) -> str:
        return self.urls["auth"]

    # -- apps -----------------------------------------------------------------------------------
    def _gateway_app(self) -> web.Application:
        app = web.Application(middlewares=[self._logged("gateway"), self._gate])
        confluence = ConfluenceApi(self.confluence, self.site_url, self.signer)
        confluence.replies_listed = lambda: self.config.replies_in_site_listing
        confluence.bodiless_versions = self.troubles.bodiless_versions
        jira = self.jira_api = JiraApi(
            self.jira,
            self.site_url,
            self.signer,
            self.config.time_zone,
            self.config.account_email,
            self.overlay.now,
            self.config.real_quirks,
        )
        jira.troubles = self.troubles
        tree = TreeApi(self.confluence.tree, self.site_url, self.overlay.now, lambda: self.config.search_lag_s)
        tree.known_types = lambda: self.config.cql_types
        people, restore = PeopleApi(self.tasks, self.site_url), RestoreApi(self.restore, self.site_url)
        people.troubles = self.troubles
        confluence_apis = (confluence, tree, people, restore)
        for product, api in (*(("confluence", a) for a in confluence_apis), ("jira", jira)):
            for method, path, handler in api.routes():
                routable = re.sub(r"\{([^}]+)\}", lambda m: "{" + m.group(1).replace("-", "_") + "}", path)
                route = app.router.add_route(method, f"/ex/{product}/{{cloud_id}}{routable}", handler)
                self.operations[route] = (product, BY_NAME.get(f"{method} {path}"))
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    def _site_app(self) -> web.Application:
        app = web.Application(middlewares=[self._logged("site")])
        app.router.add_get("/_edge/tenant_info", self._tenant_info)
        app.router.add_route("*", "/{tail:.*}", self._site_catch_all)
        return app

    def _logged_app(self, host: str, routes: list) -> web.Application:
        app = web.Application(middlewares=[self._logged(host)])
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    def _logged(self, host: str):
        @web.middleware
        async def log(request: web.Request, handler):
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                family = request.get(FAMILY, "")
                self.log.add(
                    LoggedRequest(
                        time.time(),
                        host,
                        request.method,
                        request.path,
                        request.query_string,
                        status,
                        family,
                        "Authorization" in request.headers,
                    )
                )

        return log

    @web.middleware
    async def _gate(self, request: web.Request, handler):
        self.gateway_requests += 1
        if self.on_gateway_request is not None:
            self.on_gateway_request(self.gateway_requests)
        latency = self.limits.latency()
        if latency:
            await asyncio.sleep(latency)
        route = request.match_info.route
        if route not in self.operations:
            return await handler(request)
        product, operation = self.operations[route]
        if request.match_info.get("cloud_id") != self.cloud_id:
            return json_response({"code": 404, "message": "Cannot find cloud with the given cloudId"}, 404)
        principal = self.tokens.resolve(request.headers.get("Authorization"))
        if principal is None:
            return json_response({"code": 401, "message": "Unauthorized"}, 401)
        if product in self.config.unlicensed:
            message = f"The {product} product is not licensed for this account, or the account cannot use it."
            return json_response({"errorMessages": [message], "errors": {}}, 403)
        if principal.kind == "classic":  # an unscoped token means nothing to the gateway
            return json_response({"code": 401, "message": "Unauthorized"}, 401)
        if operation is not None and not operation.allows(principal.scopes):
            return json_response(
                {"code": 401, "message": "Unauthorized; scope does not match"},
                401,
                {"X-Failure-Category": "FAILURE_CLIENT_SCOPE_CHECK"},
            )
        family = f"{product}:{request.method}:{route.resource.canonical.split('/')[7]}"
        request[FAMILY] = family
        refusal = self._rate_limit(product, family) or self.troubles.refuse(request.path)
        if refusal is not None:
            return refusal
        fault = self.limits.fault()
        if fault in ("500", "503"):
            self.log.counters[f"faults.{fault}"] += 1
            headers = {"Retry-After": "1"} if fault == "503" else None
            return json_response({"errorMessages": ["Internal server error"], "errors": {}}, int(fault), headers)
        if fault == "429":  # one of a burst: no Retry-After, a reset a moment away
            self.log.counters["faults.429"] += 1
            headers = rate_limit_headers(product, family, 0.05, 10, "burst-based")
            return json_response({"code": 429, "message": "Too Many Requests"}, 429, headers)
        if fault == "stall":  # nothing at all until the client gives up, then the connection closes
            self.log.counters["faults.stall"] += 1
            await self._stall(request)
            return web.Response(status=504)
        try:
            response = await handler(request)
        except web.HTTPException as answer:
            if fault != "drop":
                raise
            self.log.counters["faults.drop"] += 1  # a redirect never arrives: the connection just closes
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=answer.status)
        bucket = self.limits.bucket(family)
        if bucket is not None and bucket.near_limit and isinstance(response, web.Response):
            response.headers["X-RateLimit-NearLimit"] = "true"
        if fault == "drop" and isinstance(response, web.Response) and response.body:
            self.log.counters["faults.drop"] += 1
            return await self._drop(request, response)
        if fault == "truncated" and isinstance(response, web.Response) and response.status == 200 and response.body:
            # a proxy that cut the JSON off yet framed what it sent correctly: HTTP alone cannot tell
            self.log.counters["faults.truncated"] += 1
            response.body = response.body[: len(response.body) // 2]
        return response

    def _rate_limit(self, product: str, family: str) -> web.Response | None:
        quota_wait = self.limits.quota_wait()
        if quota_wait > 0:
            self.log.counters["rate_limited.quota"] += 1
            headers = rate_limit_headers(product, family, quota_wait, self.config.quota, "quota-tenant-based")
            headers["Retry-After"] = str(max(1, round(quota_wait)))
            return json_response({"code": 429, "message": "Rate limit exceeded"}, 429, headers)
        bucket = self.limits.bucket(family)
        wait = bucket.take() if bucket else 0.0
        if wait <= 0:
            return None
        self.log.counters["rate_limited.burst"] += 1
        headers = rate_limit_headers(product, family, wait, int(bucket.burst), "burst-based")
        roll = self.limits.rng.random()
        if roll < 0.1:  # a gateway-level 429 with no Retry-After at all
            return json_response({"code": 429, "message": "Too Many Requests"}, 429)
        headers["Retry-After"] = str(max(1, round(wait + 0.49)))
        status = 503 if roll < 0.2 else 429
        return json_response({"code": status, "message": "Rate limit exceeded"}, status, headers)

    async def _stall(self, request: web.Request) -> None:
        """Say nothing for stall_s seconds, or until the client hangs up, then close the connection."""
        deadline = time.monotonic() + self.config.stall_s
        while time.monotonic() < deadline and request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.02)
        if request.transport is not None:
            request.transport.close()

    @staticmethod
    async def _drop(request: web.Request, response: web.Response) -> web.StreamResponse:
        body = response.body
        stream = web.StreamResponse(status=response.status, headers={"Content-Type": response.content_type})
        stream.content_length = len(body)
        await stream.prepare(request)
        await stream.write(body[: len(body) // 2])
        if request.transport is not None:
            request.transport.close()
        return stream

    async def _not_found(self, request: web.Request) -> web.Response:
        return json_response({"code": 404, "message": "Not Found"}, 404)

    async def _tenant_info(self, request: web.Request) -> web.Response:
        return json_response({"cloudId": self.cloud_id})

    async def _site_catch_all(self, request: web.Request) -> web.Response:
        principal = self.tokens.resolve(request.headers.get("Authorization"))
        basic = request.headers.get("Authorization", "").lower().startswith("basic ")
        if principal and principal.kind == "classic" and basic and request.path == "/rest/api/3/myself":
            return json_response({"accountId": "classic-user", "emailAddress": principal.email, "active": True})
        if request.path.startswith(("/rest/", "/wiki/rest/", "/wiki/api/")):
            if request.path.startswith("/rest/"):
                body = {"errorMessages": ["Client must be authenticated to access this resource."], "errors": {}}
            else:
                body = {
                    "statusCode": 401,
                    "message": "This request is not authorized: scoped tokens and OAuth "
                    "tokens work only through api.atlassian.com",
                }
            return json_response(body, 401)
        return web.Response(text=LOGIN_PAGE, content_type="text/html")

    async def _oauth_token(self, request: web.Request) -> web.Response:
        fault = self.limits.fault("auth")
        if fault is not None:
            self.log.counters[f"faults.{fault}"] += 1
            if fault == "auth_503":
                return json_response({"error": "temporarily_unavailable"}, 503)
            if fault == "auth_html":  # a maintenance page from a proxy in front of the auth server
                return web.Response(text=MAINTENANCE_PAGE, content_type="text/html")
            if request.transport is not None:  # auth_drop
                request.transport.close()
            return web.Response(status=502)
        form: Any = await request.post() if request.content_type != "application/json" else await request.json()
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        issued = self.tokens.issue(str(form.get("client_id", "")), str(form.get("client_secret", "")))
        if issued is None:
            return json_response({"error": "access_denied", "error_description": "Unauthorized"}, 401)
        token, lifetime = issued
        return json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": int(lifetime),
                "scope": " ".join(sorted(self.tokens.tokens[token].scopes)),
            }
        )

    def _resolve_blob(self, product: str, item_id: str, version: int) -> tuple[str, int] | None:
        if product == "confluence":
            record = self.confluence.attachment(item_id)
            if record is None or record["version"]["number"] != version:
                return None
            return record["_seed"], record["fileSize"]
        record = self.jira.child("attachment", item_id)
        return (record["_seed"], record["size"]) if record else None
