"""`check`: probe every endpoint the configured sync would use, with the cheapest request, and say for each
failure what is wrong and what to do: which scope to add, which URL or credential to change.

Credentials go to the gateway and the OAuth auth URL only. The site is asked for its cloudId without
them; it is tried with them (to tell a classic token apart) only when it is an https://*.atlassian.net
host, so a mistyped or hostile --site never receives a token."""

from __future__ import annotations

import base64
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from .auth import Credentials
from .config import Settings
from .errors import ApiError, ConfigError, MissingScope, NotFound, PipelineError, Unauthorized, UnexpectedResponse
from .http import GatewayClient
from .runner import resolve_cloud_id
from .scopes import BY_NAME
from .sources.confluence.rows import container_of, download_path
from .sources.confluence.tree import NODE_TYPES
from .sources.jira.attachments import content_path
from .tenant import discover_cloud_id, is_atlassian_site, site_url

V2 = "/wiki/api/v2"
API = "/rest/api/3"
AGILE = "/rest/agile/1.0"
DIMENSIONS = ("status", "priority", "resolution/search", "issuetype", "issueLinkType")


@dataclass(frozen=True)
class Finding:
    probe: str  # what was tried: an endpoint, or a setting
    ok: bool
    detail: str  # on success what was seen; on failure the cause and the fix
    skipped: bool = False


@dataclass
class Probe:
    name: str  # the operation, as in the specs
    product: str
    call: Callable[[GatewayClient, dict[str, Any]], Awaitable[Any]]


def confluence_probes(settings: Settings | None = None) -> list[Probe]:
    def listing(path: str, found: str | None = None) -> Callable:
        async def call(client: GatewayClient, seen: dict[str, Any]) -> Any:
            response = await client.get("confluence", path, {"limit": 1})
            results = response.data.get("results") or []
            if found and results:
                seen[found] = results[0]
            return f"{len(results)} item(s) on the first page"

        return call

    async def download(client: GatewayClient, seen: dict[str, Any]) -> Any:
        attachment = seen.get("attachment")
        if not attachment:
            return None
        path = download_path(container_of(attachment)[0], str(attachment["id"]))
        if path is None:
            return "the first attachment listed names no container: not probed"
        response = await client.session.get(
            client.url("confluence", path),
            allow_redirects=False,
            headers={"Authorization": await client.auth.header(client.session)},
        )
        async with response:
            if response.status in (301, 302, 303, 307):
                return "redirects to the media host (bytes are fetched without the token)"
            client._judge("confluence", "GET", str(response.url), "probe", response, await response.read())
            return f"answered {response.status}"

    async def search(client: GatewayClient, seen: dict[str, Any]) -> Any:
        """One CQL search per node type: it is their only index, and it finds one of each to read."""
        found = []
        for kind in NODE_TYPES:
            response = await client.get("confluence", "/wiki/rest/api/search", {"cql": f"type = {kind}", "limit": 1})
            results = [r.get("content") or {} for r in response.data.get("results") or []]
            if results and results[0].get("id"):
                seen[kind] = results[0]["id"]
                found.append(kind)
        return f"found {', '.join(found) or 'no folder, whiteboard, database or embed'}"

    def node(kind: str) -> Callable:
        async def call(client: GatewayClient, seen: dict[str, Any]) -> Any:
            if kind not in seen:
                return None
            await client.get("confluence", f"{V2}/{kind}s/{seen[kind]}")
            return "readable"

        return call

    async def versions(client: GatewayClient, seen: dict[str, Any]) -> Any:
        page = seen.get("page")
        if not page:
            return None
        await client.get("confluence", f"{V2}/pages/{page['id']}/versions", {"limit": 1})
        return "readable"

    async def restriction(client: GatewayClient, seen: dict[str, Any]) -> Any:
        page = seen.get("page")
        if not page:
            return None
        await client.get("confluence", f"/wiki/rest/api/content/{page['id']}/restriction")
        return "readable ([confluence] restrictions = true)"

    async def people(client: GatewayClient, seen: dict[str, Any]) -> Any:
        author = (seen.get("page") or {}).get("authorId")
        if not author:
            return None
        found = (await client.post("confluence", f"{V2}/users-bulk", {"accountIds": [author]})).data.get("results")
        return f"{len(found or [])} name(s)"

    return [
        Probe(f"GET {V2}/spaces", "confluence", listing(f"{V2}/spaces")),
        Probe(f"GET {V2}/pages", "confluence", listing(f"{V2}/pages", "page")),
        Probe(f"GET {V2}/pages/{{id}}/versions", "confluence", versions),
        Probe(f"GET {V2}/blogposts", "confluence", listing(f"{V2}/blogposts")),
        Probe(f"GET {V2}/footer-comments", "confluence", listing(f"{V2}/footer-comments")),
        Probe(f"GET {V2}/inline-comments", "confluence", listing(f"{V2}/inline-comments")),
        Probe(f"GET {V2}/labels", "confluence", listing(f"{V2}/labels")),
        Probe(f"GET {V2}/attachments", "confluence", listing(f"{V2}/attachments", "attachment")),
        Probe("GET /wiki/rest/api/content/{id}/child/attachment/{attachmentId}/download", "confluence", download),
        Probe("GET /wiki/rest/api/search", "confluence", search),
        *(Probe(f"GET {V2}/{kind}s/{{id}}", "confluence", node(kind)) for kind in NODE_TYPES),
        Probe(f"GET {V2}/tasks", "confluence", listing(f"{V2}/tasks")),
        Probe(f"POST {V2}/users-bulk", "confluence", people),
        *(
            [Probe("GET /wiki/rest/api/content/{id}/restriction", "confluence", restriction)]
            if settings and settings.confluence_restrictions
            else []
        ),
    ]


def jira_probes(settings: Settings) -> list[Probe]:
    async def projects(client: GatewayClient, seen: dict[str, Any]) -> Any:
        params = {"maxResults": 1, **({"keys": settings.projects[0]} if settings.projects else {})}
        values = (await client.get("jira", f"{API}/project/search", params)).data.get("values") or []
        if values:
            seen["project"] = values[0]
        return f"{len(values)} project(s) on the first page"

    async def fields(client: GatewayClient, seen: dict[str, Any]) -> Any:
        return f"{len((await client.get('jira', f'{API}/field')).data)} fields"

    async def search(client: GatewayClient, seen: dict[str, Any]) -> Any:
        if "project" not in seen:
            return None
        body = {"jql": f"project = {seen['project']['id']}", "fields": ["id"], "maxResults": 1}
        issues = (await client.post("jira", f"{API}/search/jql", body)).data.get("issues") or []
        if issues:
            seen["issue"] = issues[0]["id"]
        return f"{len(issues)} issue id(s)"

    async def bulkfetch(client: GatewayClient, seen: dict[str, Any]) -> Any:
        if "issue" not in seen:
            return None
        body = {"issueIdsOrKeys": [seen["issue"]], "fields": ["*all"]}
        issues = (await client.post("jira", f"{API}/issue/bulkfetch", body)).data.get("issues") or []
        attachments = (issues[0].get("fields") or {}).get("attachment") if issues else None
        if attachments:
            seen["jira_attachment"] = attachments[0]
        return f"{len(issues)} issue(s) with every field"

    def per_issue(path: str) -> Callable:
        async def call(client: GatewayClient, seen: dict[str, Any]) -> Any:
            if "issue" not in seen:
                return None
            await client.get("jira", path.format(issue=seen["issue"]), {"maxResults": 1})
            return "readable"

        return call

    async def attachment(client: GatewayClient, seen: dict[str, Any]) -> Any:
        item = seen.get("jira_attachment")
        if not item:
            return None
        url = client.url("jira", content_path(str(item["id"])))  # whatever form `content` has (API_NOTES §7)
        headers = {"Authorization": await client.auth.header(client.session)}
        async with client.session.get(url, headers=headers, allow_redirects=False) as response:
            if response.status in (301, 302, 303, 307, 200):
                return "downloadable"
            client._judge("jira", "GET", url, "probe", response, await response.read())
            return f"answered {response.status}"

    def whole(path: str) -> Callable:
        async def call(client: GatewayClient, seen: dict[str, Any]) -> Any:
            data = (await client.get("jira", path, {"maxResults": 1} if "search" in path else None)).data
            items = data.get("values", data.get("issueLinkTypes")) if isinstance(data, dict) else data
            return f"{len(items or [])} item(s)"

        return call

    def per_project(part: str) -> Callable:
        async def call(client: GatewayClient, seen: dict[str, Any]) -> Any:
            if "project" not in seen:
                return None
            data = (await client.get("jira", f"{API}/project/{seen['project']['id']}/{part}")).data
            return f"{len(data or [])} {part} in {seen['project'].get('key')}"

        return call

    async def changelogs(client: GatewayClient, seen: dict[str, Any]) -> Any:
        if "issue" not in seen:
            return None
        body = {"issueIdsOrKeys": [seen["issue"]], "maxResults": 1}
        logs = (await client.post("jira", f"{API}/changelog/bulkfetch", body)).data.get("issueChangeLogs") or []
        return f"history of {len(logs)} issue(s)"

    async def worklogs(client: GatewayClient, seen: dict[str, Any]) -> Any:
        data = (await client.get("jira", f"{API}/worklog/updated", {"since": 0})).data
        ids = [v["worklogId"] for v in data.get("values") or [] if isinstance(v, dict) and "worklogId" in v][:1]
        if ids:
            await client.post("jira", f"{API}/worklog/list", {"ids": ids})
        await client.get("jira", f"{API}/worklog/deleted", {"since": 0})
        return "changed, listed and deleted worklogs readable" if ids else "readable (no worklog on the site)"

    async def people(client: GatewayClient, seen: dict[str, Any]) -> Any:
        """Optional too: without read:jira-user a sync records the people gap and goes on."""
        try:
            users = (await client.get("jira", f"{API}/users/search", {"maxResults": 1})).data
        except MissingScope as refusal:
            return f"not reachable (a gap, not a failure: syncs go on without jira_users): {refusal}"
        return f"{len(users or [])} person(s) on the first page"

    async def agile(client: GatewayClient, seen: dict[str, Any]) -> Any:
        """Optional: a refusal is the gap a sync records (sprints from the Sprint field only), not a failure."""
        try:
            values = (await client.get("jira", f"{AGILE}/board", {"maxResults": 1})).data.get("values") or []
            if values:
                try:
                    await client.get("jira", f"{AGILE}/board/{values[0]['id']}/sprint", {"maxResults": 1})
                except ApiError as error:
                    if error.status != 400:  # 400: a kanban board, or sprints off: boards are readable all the same
                        raise
        except (MissingScope, Unauthorized) as refusal:
            return (
                f"not reachable ({refusal.__class__.__name__}): syncs go on without boards and sprints without "
                "issues (a gap, not a failure); add read:board-scope:jira-software + read:project:jira + "
                "read:sprint:jira-software to the token to fill them"
            )
        except ApiError as error:
            if error.status in (403, 404):
                return f"not available ({error.status}): no Jira Software here; sprints come from the Sprint field"
            raise
        return f"{len(values)} board(s) on the first page, with their sprints"

    probes = [
        Probe(f"GET {API}/project/search", "jira", projects),
        Probe(f"GET {API}/field", "jira", fields),
        Probe(f"POST {API}/search/jql", "jira", search),
        Probe(f"POST {API}/issue/bulkfetch", "jira", bulkfetch),
        Probe(f"GET {API}/issue/{{issueIdOrKey}}/comment", "jira", per_issue(f"{API}/issue/{{issue}}/comment")),
        Probe(f"GET {API}/attachment/content/{{id}}", "jira", attachment),
        *(Probe(f"GET {API}/{path}", "jira", whole(f"{API}/{path}")) for path in DIMENSIONS),
        Probe(f"GET {API}/project/{{projectIdOrKey}}/versions", "jira", per_project("versions")),
        Probe(f"GET {API}/project/{{projectIdOrKey}}/components", "jira", per_project("components")),
        Probe(f"GET {API}/users/search", "jira", people),
        Probe("GET /rest/agile/1.0/board", "jira", agile),
    ]
    if settings.jira_worklogs:
        probes.append(Probe(f"GET {API}/worklog/updated", "jira", worklogs))
    if settings.jira_changelogs:
        probes.append(Probe(f"POST {API}/changelog/bulkfetch", "jira", changelogs))
    return probes


async def diagnose(settings: Settings, environ: Mapping[str, str] | None = None) -> list[Finding]:
    """Every check, in order; stops early only when nothing further can be tried."""
    environ = os.environ if environ is None else environ
    findings: list[Finding] = []
    try:
        credentials = Credentials.from_env(environ)
        findings.append(Finding("credentials", True, f"{credentials.kind} from the environment"))
    except ConfigError as error:
        return [Finding("credentials", False, str(error))]
    try:
        cloud_id = await resolve_cloud_id(settings)
        findings.append(Finding("cloudId", True, cloud_id))
    except PipelineError as error:
        return [*findings, Finding("cloudId", False, str(error))]
    if settings.site and settings.cloud_id:
        findings.append(await compare_cloud_ids(settings))
    settings = replace(settings, max_retries=2)
    async with GatewayClient(settings, credentials, cloud_id, settings.site) as client:
        if credentials.kind == "oauth":
            try:
                await client.auth.renew(client.session, stale=None)
                findings.append(Finding("OAuth token", True, f"issued by {settings.auth_url}"))
            except Unauthorized as error:
                return [*findings, Finding("OAuth token", False, str(error))]
        seen: dict[str, Any] = {}
        for probe in [
            *(confluence_probes(settings) if settings.wants("confluence") else []),
            *(jira_probes(settings) if settings.wants("jira") else []),
        ]:
            findings.append(await run_probe(probe, client, seen, settings, credentials))
    return findings


async def compare_cloud_ids(settings: Settings) -> Finding:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        try:
            actual = await discover_cloud_id(session, settings.site)
        except PipelineError as error:
            return Finding("cloudId matches the site", False, str(error))
    if actual != settings.cloud_id.lower():
        return Finding(
            "cloudId matches the site",
            False,
            f"--cloud-id {settings.cloud_id} is not {settings.site}'s ({actual}): drop --cloud-id or fix it",
        )
    return Finding("cloudId matches the site", True, actual)


async def run_probe(
    probe: Probe, client: GatewayClient, seen: dict[str, Any], settings: Settings, credentials: Credentials
) -> Finding:
    try:
        outcome = await probe.call(client, seen)
    except PipelineError as error:
        return Finding(probe.name, False, await explain(error, probe, settings, credentials))
    if outcome is None:
        return Finding(probe.name, True, "nothing to try it on (no item found earlier)", skipped=True)
    return Finding(probe.name, True, str(outcome))


async def explain(error: PipelineError, probe: Probe, settings: Settings, credentials: Credentials) -> str:
    """The cause and the fix, in the words an admin needs."""
    if isinstance(error, MissingScope):
        op = BY_NAME.get(probe.name)
        options = [" + ".join(s) for s in op.scope_sets] if op else list(error.scopes)
        return (
            "the token lacks the scope for this: add "
            + (" or ".join(options) or "its read scope")
            + (" to the Service Account's token (scoped tokens carry only the scopes chosen when they were made)")
        )
    if isinstance(error, UnexpectedResponse) and "HTML" in str(error):
        return (
            f"{settings.gateway} answered a web page, not the API: it looks like the site URL. Scoped tokens "
            "work only through the gateway: use --gateway https://api.atlassian.com (the default)"
        )
    if isinstance(error, Unauthorized):
        return await explain_unauthorized(settings, credentials)
    if isinstance(error, ApiError) and error.status == 403:
        return (
            f"forbidden (403): {probe.product} may not be licensed for this account, or the account may not "
            f"see any of it; give the Service Account access to {probe.product} in admin.atlassian.com"
        )
    if isinstance(error, NotFound) and "cloud" in str(error).lower():
        return "the gateway does not know this cloudId: check --cloud-id, or give --site and let it be looked up"
    return str(error)


async def explain_unauthorized(settings: Settings, credentials: Credentials) -> str:
    if credentials.kind == "oauth":
        return "the gateway refused the OAuth access token: check the OAuth credential's scopes and its site access"
    if credentials.kind == "bearer":
        return (
            "the gateway refused the token with Bearer auth. A Service Account's scoped token works with Bearer; "
            "a person's scoped API token needs Basic auth: set ATLASSIAN_EMAIL to its owner's email"
        )
    site = site_url(settings.site) if settings.site else None
    if site and is_atlassian_site(site) and await works_on_site(site, credentials):
        return (
            "this is a classic (unscoped) API token: it works on the site URL but not through the gateway. "
            "Create a scoped API token (for a Service Account, or with the read scopes) and use that"
        )
    return (
        "the gateway refused email and token with Basic auth: check ATLASSIAN_EMAIL (a Service Account's is "
        "...@serviceaccount.atlassian.com) and ATLASSIAN_TOKEN; a classic (unscoped) API token never works "
        "through the gateway: create a scoped one"
    )


async def works_on_site(site: str, credentials: Credentials) -> bool:
    """Whether the site itself accepts the credentials, as it does only classic tokens. The caller decides
    that `site` may see them (is_atlassian_site)."""
    raw = f"{credentials.email}:{credentials.token.reveal()}".encode()
    headers = {"Authorization": f"Basic {base64.b64encode(raw).decode()}", "Accept": "application/json"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        try:
            async with session.get(f"{site}/rest/api/3/myself", headers=headers, allow_redirects=False) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False


def failed(findings: list[Finding]) -> bool:
    return any(not f.ok for f in findings)
