"""The fake Jira Cloud REST API v3 behind the gateway."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

from . import jira_catalog as catalog
from . import jql
from .dataset import PEOPLE, blob_bytes
from .jira_content import CUSTOM_FIELDS, JiraContent
from .media import MediaSigner
from .responses import http_error, int_param, jira_error, json_response
from .troubles import Troubles

Record = dict[str, Any]
INLINE_LIMIT = 20  # comments and worklogs embedded in an issue are cut here, as in Jira
ID_FIELDS = {"id", "key"}
PROJECT_PAGE_MAX = 50  # documented 100; Jira may serve fewer than asked, and the client must cope
SEARCH_REMOVED = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
CUSTOM_TYPES = {
    "customfield_10016": "com.atlassian.jira.plugin.system.customfieldtypes:float",
    "customfield_10020": "com.atlassian.jira.plugin.system.customfieldtypes:select",
    "customfield_10030": "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
    catalog.SPRINT_FIELD: catalog.SPRINT_SCHEMA,
}
WORKLOG_PAGE = 1000  # worklog/updated, worklog/deleted and worklog/list: 1000 a page or request
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."


class JiraApi:
    def __init__(
        self,
        content: JiraContent,
        site_url: str,
        signer: MediaSigner,
        zone: str,
        email: str,
        clock: Callable[[], float],
        quirks: bool = True,
    ) -> None:
        self.content, self.site_url, self.signer, self.quirks = content, site_url, signer, quirks
        self.zone_name, self.zone, self.email, self.clock = zone, ZoneInfo(zone), email, clock
        self.worklog_settle_s = 60.0  # worklog/updated leaves out the last minute's changes, as Jira does
        self.bulkfetched: list[list[str]] = []  # every bulkfetch's ids, for tests of resume
        self.searched: list[str] = []  # every search/jql query, for tests of the incremental window
        self.troubles = Troubles()  # the simulator's own, set by it

    # -- shapes ---------------------------------------------------------------------------------
    def stamp(self, ts: float) -> str:
        """Jira's timestamp, in the account's time zone: 2024-05-01T03:00:00.000-0700."""
        local = datetime.fromtimestamp(ts, UTC).astimezone(self.zone)
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{round(ts * 1000) % 1000:03d}" + local.strftime("%z")

    def user(self, account_id: str | None) -> Record | None:
        if account_id is None:
            return None
        return catalog.user_shape(self.site_url, account_id, self.zone_name)

    def iso(self, ts: float | None) -> str | None:
        """The agile API's form: UTC with milliseconds and Z."""
        if ts is None:
            return None
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{round(ts * 1000) % 1000:03d}Z"

    def sprint_shape(self, record: Record) -> Record:
        out = {
            "id": record["id"],
            "self": f"{self.site_url}/rest/agile/1.0/sprint/{record['id']}",
            "state": record["state"],
            "name": record["name"],
            "originBoardId": record["boardId"],
            "goal": record["goal"],
        }
        for key, stamp in (("startDate", "_start"), ("endDate", "_end"), ("completeDate", "_complete")):
            if record.get(stamp) is not None:
                out[key] = self.iso(record[stamp])
        return out

    def sprint_field(self, record: Record) -> Record:
        """A sprint as the Sprint custom field holds it (boardId, not originBoardId; no self)."""
        out = {k: v for k, v in self.sprint_shape(record).items() if k not in ("self", "originBoardId")}
        return {**out, "boardId": record["boardId"]}

    def version_shape(self, version: Record) -> Record:
        out = {
            "self": f"{self.site_url}/rest/api/3/version/{version['id']}",
            "id": version["id"],
            "name": version["name"],
            "archived": version["archived"],
            "released": version["released"],
            "projectId": version["projectId"],
        }
        if version["releaseDate"]:
            out["releaseDate"] = version["releaseDate"]
        return out

    def link_shape(self, link: Record, issue_id: str) -> Record:
        """One link as an issue shows it: only the other end, under inwardIssue or outwardIssue."""
        type_id, name, inward, outward = next(t for t in catalog.LINK_TYPES if t[0] == link["type"])
        other_side = "outwardIssue" if link["inward"] == issue_id else "inwardIssue"
        other = self.content.issue_core(link["outward"] if other_side == "outwardIssue" else link["inward"]) or {}
        return {
            "id": link["id"],
            "self": f"{self.site_url}/rest/api/3/issueLink/{link['id']}",
            "type": {
                "id": type_id,
                "name": name,
                "inward": inward,
                "outward": outward,
                "self": f"{self.site_url}/rest/api/3/issueLinkType/{type_id}",
            },
            other_side: {
                "id": other.get("id"),
                "key": other.get("key"),
                "self": f"{self.site_url}/rest/api/3/issue/{other.get('id')}",
            },
        }

    def project_shape(self, record: Record) -> Record:
        return {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "self": f"{self.site_url}/rest/api/3/project/{record['id']}",
            "id": record["id"],
            "key": record["key"],
            "name": record["name"],
            "projectTypeKey": record["projectTypeKey"],
            "simplified": record["simplified"],
            "style": record["style"],
            "isPrivate": record["isPrivate"],
            "properties": {},
            "avatarUrls": {"48x48": f"{self.site_url}/rest/api/3/universal_avatar/{record['id']}"},
        }

    def comment_shape(self, record: Record) -> Record:
        return {
            "self": f"{self.site_url}/rest/api/3/issue/{record['_issue']}/comment/{record['id']}",
            "id": record["id"],
            "author": self.user(record["author"]),
            "body": record["body"],
            "updateAuthor": self.user(record["author"]),
            "created": self.stamp(record["_created"]),
            "updated": self.stamp(record["_updated"]),
            "jsdPublic": True,
        }

    def attachment_shape(self, record: Record) -> Record:
        return {
            "self": f"{self.site_url}/rest/api/3/attachment/{record['id']}",
            "id": record["id"],
            "filename": record["filename"],
            "author": self.user(record["author"]),
            "created": self.stamp(record["_created"]),
            "size": record["size"],
            "mimeType": record["mimeType"],
            "content": self.content_url(record),
        }

    def content_url(self, record: Record) -> str:
        """Today's form, or (with quirks) one of the older forms real sites still hand out (API_NOTES §7).

        Only `/rest/api/3/attachment/content/{id}` is served through the gateway, as on the real one.
        """
        form = int(record["id"]) % 3 if self.quirks else 0
        if form == 1:
            return f"{self.site_url}/secure/attachment/{record['id']}/{quote(record['filename'])}"
        if form == 2:
            return f"{self.site_url}/jira/rest/api/3/attachment/content/{record['id']}"
        return f"{self.site_url}/rest/api/3/attachment/content/{record['id']}"

    def worklog_shape(self, record: Record) -> Record:
        return {
            "self": f"{self.site_url}/rest/api/3/issue/{record['_issue']}/worklog/{record['id']}",
            "id": record["id"],
            "issueId": record["_issue"],
            "author": self.user(record["author"]),
            "comment": record.get("comment"),
            "created": self.stamp(record["_created"]),
            "updated": self.stamp(record["_updated"]),
            "started": self.stamp(record["_created"]),
            "timeSpentSeconds": record["timeSpentSeconds"],
        }

    def history_shape(self, record: Record, epoch_ms: bool = False) -> Record:
        """`epoch_ms`: changelog/bulkfetch on a live site sends `created` as an epoch-milliseconds number."""
        created = round(record["_created"] * 1000) if epoch_ms else self.stamp(record["_created"])
        return {"id": record["id"], "author": self.user(record["author"]), "created": created, "items": record["items"]}

    def issue_fields(self, issue: Record) -> Record:
        project = self.content.project(issue["_project"]) or {}
        category = catalog.CATEGORIES[issue["_status_category"]]
        status_id = catalog.status_by_name(issue["status"])[0]
        type_id, _, subtask, level = next(t for t in catalog.ISSUE_TYPES if t[1] == issue["issuetype"])
        resolution = next((r for r in catalog.RESOLUTIONS if r[0] == issue.get("_resolution")), None)
        index = catalog.project_index(issue["_project"])
        comments = self.content.children("comment", issue["id"])
        worklogs = self.content.children("worklog", issue["id"])
        fields: Record = {
            "summary": issue["summary"],
            "description": issue["description"],
            "status": {
                "self": f"{self.site_url}/rest/api/3/status/{status_id}",
                "id": status_id,
                "name": issue["status"],
                "statusCategory": {
                    "id": category[0],
                    "key": issue["_status_category"],
                    "name": category[1],
                    "colorName": category[2],
                },
            },
            "issuetype": {"id": type_id, "name": issue["issuetype"], "subtask": subtask, "hierarchyLevel": level},
            "priority": {
                "id": next(i for i, n in catalog.PRIORITIES if n == issue["priority"]),
                "name": issue["priority"],
            },
            "resolution": {"id": resolution[0], "name": resolution[1]} if resolution else None,
            "fixVersions": [
                self.version_shape(v) for v in catalog.versions(index) if v["id"] in issue["_fix_versions"]
            ],
            "components": [
                {"id": c["id"], "name": c["name"], "self": f"{self.site_url}/rest/api/3/component/{c['id']}"}
                for c in catalog.components(index)
                if c["id"] in issue["_components"]
            ],
            "issuelinks": [self.link_shape(x, issue["id"]) for x in self.content.links_of(issue["id"])],
            "creator": self.user(issue.get("creator")),
            "labels": issue["labels"],
            "reporter": self.user(issue["reporter"]),
            "assignee": self.user(issue["assignee"]),
            "created": self.stamp(issue["_created"]),
            "updated": self.stamp(issue["_updated"]),
            "project": {
                "self": f"{self.site_url}/rest/api/3/project/{project.get('id')}",
                "id": project.get("id"),
                "key": project.get("key"),
                "name": project.get("name"),
                "projectTypeKey": project.get("projectTypeKey"),
                "simplified": project.get("simplified"),
            },
            "comment": {
                "comments": [self.comment_shape(c) for c in comments[:INLINE_LIMIT]],
                "self": f"{self.site_url}/rest/api/3/issue/{issue['id']}/comment",
                "maxResults": INLINE_LIMIT,
                "total": len(comments),
                "startAt": 0,
            },
            "attachment": [self.attachment_shape(a) for a in self.content.children("attachment", issue["id"])],
            "worklog": {
                "startAt": 0,
                "maxResults": INLINE_LIMIT,
                "total": len(worklogs),
                "worklogs": [self.worklog_shape(w) for w in worklogs[:INLINE_LIMIT]],
            },
        }
        for custom in CUSTOM_FIELDS:
            value = issue.get(custom["id"])
            if custom["type"] == "option" and value is not None:
                value = {
                    "self": f"{self.site_url}/rest/api/3/customFieldOption/{abs(hash(value)) % 10000}",
                    "value": value,
                    "id": str(10100 + len(value)),
                }
            if custom["id"] == catalog.SPRINT_FIELD:  # null when the issue was never in a sprint
                value = [self.sprint_field(self.content.sprint(s)) for s in issue["_sprints"]] or None
            fields[custom["id"]] = value
        return fields

    def issue_shape(self, issue: Record, wanted: list[str], expand: set[str]) -> Record:
        out: Record = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue["id"],
            "self": f"{self.site_url}/rest/api/3/issue/{issue['id']}",
            "key": issue["key"],
        }
        if set(wanted) - {"id", "-id"}:
            everything = self.issue_fields(issue)
            include = set(everything) if {"*all", "*navigable"} & set(wanted) else set(wanted)
            if "*navigable" in wanted and "*all" not in wanted:
                include -= {"comment", "worklog"}
            include -= {w[1:] for w in wanted if w.startswith("-")}
            out["fields"] = {k: v for k, v in everything.items() if k in include}
        if "names" in expand:
            out["names"] = {f["id"]: f["name"] for f in self.content.fields()}
        if "changelog" in expand:
            histories = self.content.children("changelog", issue["id"])
            out["changelog"] = {
                "startAt": 0,
                "maxResults": len(histories[:40]),
                "total": len(histories),
                "histories": [self.history_shape(h) for h in histories[:40]],
            }
        return out

    # -- handlers -------------------------------------------------------------------------------
    async def project_search(self, request: web.Request) -> web.Response:
        keys = {k for raw in request.query.getall("keys", []) for k in raw.split(",")}
        statuses = {s for raw in request.query.getall("status", []) for s in raw.split(",")} or {"live"}
        listed = (self.content.projects() if "live" in statuses else []) + (
            self.content.archived_projects() if "archived" in statuses else []
        )
        projects = [p for p in listed if not keys or p["key"] in keys]
        start = int_param(request, "startAt", 0)
        size = min(int_param(request, "maxResults", 50, low=1), PROJECT_PAGE_MAX)
        chunk = projects[start : start + size]
        body: Record = {
            "self": f"{self.site_url}/rest/api/3/project/search?startAt={start}&maxResults={size}",
            "maxResults": size,
            "startAt": start,
            "total": len(projects),
            "isLast": start + size >= len(projects),
            "values": [self.project_shape(p) for p in chunk],
        }
        if not body["isLast"]:
            body["nextPage"] = f"{self.site_url}/rest/api/3/project/search?startAt={start + size}&maxResults={size}"
        return json_response(body)

    async def fields(self, request: web.Request) -> web.Response:
        out = []
        for f in self.content.fields():
            schema = {"type": f["schema_type"], ("custom" if f["custom"] else "system"): f["id"]}
            if f["custom"]:  # `custom` names the field's type (a plugin key), not the field
                schema["custom"] = CUSTOM_TYPES[f["id"]]
                schema["customId"] = int(f["id"].split("_")[1])
                if f["schema_type"] == "array":
                    schema["items"] = "json"
            out.append(
                {
                    "id": f["id"],
                    "key": f["key"],
                    "name": f["name"],
                    "custom": f["custom"],
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f["id"]],
                    "schema": schema,
                }
            )
        return json_response(out)

    async def myself(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "self": f"{self.site_url}/rest/api/3/user?accountId=sim-bot",
                "accountId": "sim-bot",
                "accountType": "app",
                "emailAddress": self.email,
                "displayName": "Sync bot",
                "active": True,
                "timeZone": self.zone_name,
                "locale": "en_US",
            }
        )

    def _query(self, text: str) -> jql.Query:
        keys = {p["key"]: p["id"] for p in self.content.projects()}
        query = jql.parse(text, self.zone_name, self.clock(), keys)
        if not query.bounded:
            raise jql.JqlError(UNBOUNDED)
        return query

    def _matching(self, query: jql.Query) -> list[str]:
        """The ids of the matching issues, in the query's order (ids only: results of big sites are cached)."""
        if query.projects is not None:  # an index on project, as Jira has
            ids = [i for p in self.content.project_ids() if p in query.projects for i in self.content.issue_ids(p)]
        else:
            ids = self.content.all_issue_ids()
        cores = (self.content.searchable(i) for i in ids)
        found = [c for c in cores if c is not None and query.matches(c)]
        return [c["id"] for c in sorted(found, key=jql.sort_key(query.order))]

    async def search_jql(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            params = orjson.loads(await request.read() or b"{}")
            fields = params.get("fields") or ["id"]
        else:
            params = dict(request.query)
            fields = [f for raw in request.query.getall("fields", []) for f in raw.split(",") if f] or ["id"]
            if "maxResults" in params:
                params["maxResults"] = int_param(request, "maxResults", 50)
        self.searched.append(str(params.get("jql", "")))
        expand = params.get("expand") or ""
        expand = set(expand.split(",") if isinstance(expand, str) else expand)
        try:
            query = self._query(params.get("jql", ""))
        except jql.JqlError as error:
            return jira_error(400, str(error))
        token = params.get("nextPageToken")
        start = decode_token(token) if token else 0
        if start is None:
            return jira_error(400, "The provided next page token is invalid or expired.")
        cap = 5000 if set(fields) <= ID_FIELDS else 100
        size = max(1, min(int(params.get("maxResults") or 50), cap))
        if self.content.search_lag_s:  # results change as the index catches up, without a mutation
            matching = self._matching(query)
        else:
            matching = self.content.cache.get(("jql", params.get("jql")), lambda: self._matching(query))
        chunk = matching[start : start + size]
        build = self.content.issue_core if set(fields) <= ID_FIELDS else self.content.issue  # ids need no fields
        issues = [self.issue_shape(record, fields, expand) for record in map(build, chunk) if record]
        body: Record = {"issues": issues, "isLast": start + size >= len(matching)}
        if not body["isLast"]:
            body["nextPageToken"] = encode_token(start + size)
        return json_response(body)

    async def approximate_count(self, request: web.Request) -> web.Response:
        params = orjson.loads(await request.read() or b"{}")
        try:
            query = self._query(params.get("jql", ""))
        except jql.JqlError as error:
            return jira_error(400, str(error))
        return json_response({"count": len(self._matching(query))})

    async def bulkfetch(self, request: web.Request) -> web.Response:
        params = orjson.loads(await request.read() or b"{}")
        wanted = params.get("issueIdsOrKeys") or []
        if not wanted or len(wanted) > 100:
            return jira_error(400, "issueIdsOrKeys must contain between 1 and 100 issue ids or keys.")
        self.bulkfetched.append([str(i) for i in wanted])
        fields = params.get("fields") or ["*navigable"]
        expand = set(params.get("expand") or [])
        issues, errors = [], []
        unreturned = self.troubles.unreturned([str(i) for i in wanted])
        for name in wanted:
            issue_id = self.content.locate(str(name))
            if issue_id is None:  # invisible or missing issues are simply left out, as Jira does
                continue
            if str(name) in unreturned:  # the spec: "a retriable error or payload constraint"
                errors.append({"id": issue_id, "errorMessage": "The issue could not be retrieved. Try again."})
                continue
            issues.append(self.issue_shape(self.content.issue(issue_id), fields, expand))
        return json_response({"issues": issues, "issueErrors": errors})

    def _issue_or_404(self, request: web.Request) -> Record:
        issue_id = self.content.locate(request.match_info["issueIdOrKey"])
        if issue_id is None:
            raise http_error(
                web.HTTPNotFound,
                {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}},
            )
        return self.content.issue(issue_id)

    def _offset_page(self, request: web.Request, items: list, key: str, default: int, cap: int) -> Record:
        start = int_param(request, "startAt", 0)
        size = min(int_param(request, "maxResults", default), cap)
        return {"startAt": start, "maxResults": size, "total": len(items), key: items[start : start + size]}

    async def comments(self, request: web.Request) -> web.Response:
        issue = self._issue_or_404(request)
        comments = [self.comment_shape(c) for c in self.content.children("comment", issue["id"])]
        if request.query.get("orderBy", "").lstrip("+-") == "created" and request.query["orderBy"].startswith("-"):
            comments.reverse()
        return json_response(self._offset_page(request, comments, "comments", 100, 100))

    async def worklogs(self, request: web.Request) -> web.Response:
        issue = self._issue_or_404(request)
        worklogs = [self.worklog_shape(w) for w in self.content.children("worklog", issue["id"])]
        return json_response(self._offset_page(request, worklogs, "worklogs", 5000, 1000))

    async def changelog(self, request: web.Request) -> web.Response:
        issue = self._issue_or_404(request)
        histories = [self.history_shape(h) for h in self.content.children("changelog", issue["id"])]
        page = self._offset_page(request, histories, "values", 100, 100)
        page["isLast"] = page["startAt"] + page["maxResults"] >= len(histories)
        page["self"] = f"{self.site_url}/rest/api/3/issue/{issue['id']}/changelog"
        return json_response(page)

    async def changelog_bulkfetch(self, request: web.Request) -> web.Response:
        params = orjson.loads(await request.read() or b"{}")
        wanted = params.get("issueIdsOrKeys") or []
        if not wanted or len(wanted) > 1000:
            return jira_error(400, "issueIdsOrKeys must contain between 1 and 1000 issue ids or keys.")
        limit = max(1, min(int(params.get("maxResults") or 1000), 10000))
        start = decode_token(params["nextPageToken"]) if params.get("nextPageToken") else 0
        if start is None:
            return jira_error(400, "The provided next page token is invalid or expired.")
        rows = []
        for name in wanted:
            issue_id = self.content.locate(str(name))
            if issue_id is not None:
                rows.extend((issue_id, h) for h in self.content.children("changelog", issue_id))
        chunk = rows[start : start + limit]
        grouped: dict[str, list] = {}
        for issue_id, history in chunk:
            grouped.setdefault(issue_id, []).append(self.history_shape(history, epoch_ms=self.quirks))
        body: Record = {"issueChangeLogs": [{"issueId": k, "changeHistories": v} for k, v in grouped.items()]}
        if start + limit < len(rows):
            body["nextPageToken"] = encode_token(start + limit)
        return json_response(body)

    async def attachment_metadata(self, request: web.Request) -> web.Response:
        record = self.content.child("attachment", request.match_info["id"])
        if record is None:
            return jira_error(404, "The attachment does not exist.")
        return json_response({**self.attachment_shape(record), "id": int(record["id"])})  # int64 here, per the spec

    async def attachment_content(self, request: web.Request) -> web.StreamResponse:
        record = self.content.child("attachment", request.match_info["id"])
        if record is None:
            return jira_error(404, "The attachment does not exist.")
        if request.query.get("redirect", "true").lower() == "false":
            return web.Response(body=blob_bytes(record["_seed"], record["size"]), content_type=record["mimeType"])
        raise web.HTTPSeeOther(self.signer.sign("jira", record["id"], 1, record["filename"]))

    # -- dimensions -----------------------------------------------------------------------------
    async def statuses(self, request: web.Request) -> web.Response:
        out = []
        for status_id, name, key in catalog.STATUSES:
            number, category, color = catalog.CATEGORIES[key]
            out.append(
                {
                    "self": f"{self.site_url}/rest/api/3/status/{status_id}",
                    "id": status_id,
                    "name": name,
                    "description": "",
                    "iconUrl": f"{self.site_url}/images/icons/statuses/generic.png",
                    "statusCategory": {"id": number, "key": key, "name": category, "colorName": color},
                }
            )
        return json_response(out)

    async def priorities(self, request: web.Request) -> web.Response:
        return json_response(
            [
                {"self": f"{self.site_url}/rest/api/3/priority/{i}", "id": i, "name": n, "statusColor": "#ff0000"}
                for i, n in catalog.PRIORITIES
            ]
        )

    async def resolutions(self, request: web.Request) -> web.Response:
        values = [
            {"self": f"{self.site_url}/rest/api/3/resolution/{i}", "id": i, "name": n, "description": ""}
            for i, n in catalog.RESOLUTIONS
        ]
        page = self._offset_page(request, values, "values", 50, 2)  # tiny pages: the client must follow isLast
        page["isLast"] = page["startAt"] + page["maxResults"] >= len(values)
        return json_response(page)

    async def issue_types(self, request: web.Request) -> web.Response:
        return json_response(
            [
                {
                    "self": f"{self.site_url}/rest/api/3/issuetype/{i}",
                    "id": i,
                    "name": n,
                    "description": "",
                    "subtask": sub,
                    "hierarchyLevel": level,
                }
                for i, n, sub, level in catalog.ISSUE_TYPES
            ]
        )

    async def link_types(self, request: web.Request) -> web.Response:
        types = [
            {"id": i, "name": n, "inward": a, "outward": b, "self": f"{self.site_url}/rest/api/3/issueLinkType/{i}"}
            for i, n, a, b in catalog.LINK_TYPES
        ]
        return json_response({"issueLinkTypes": types})

    def _project_or_404(self, request: web.Request) -> Record:
        project = self.content.project(request.match_info["projectIdOrKey"])
        if project is None:
            raise http_error(web.HTTPNotFound, {"errorMessages": ["No project could be found."], "errors": {}})
        return project

    async def versions(self, request: web.Request) -> web.Response:
        project = self._project_or_404(request)
        return json_response([self.version_shape(v) for v in catalog.versions(catalog.project_index(project["id"]))])

    async def components(self, request: web.Request) -> web.Response:
        project = self._project_or_404(request)
        out = []
        for c in catalog.components(catalog.project_index(project["id"])):
            shape = {
                "self": f"{self.site_url}/rest/api/3/component/{c['id']}",
                "id": c["id"],
                "name": c["name"],
                "project": project["key"],
                "projectId": c["projectId"],
                "assigneeType": "PROJECT_DEFAULT",
            }
            if c["leadAccountId"]:
                shape["lead"] = self.user(c["leadAccountId"])  # leadAccountId is write-only in the spec
            out.append(shape)
        return json_response(out)

    # -- people ---------------------------------------------------------------------------------
    async def users_search(self, request: web.Request) -> web.Response:
        start = int_param(request, "startAt", 0)
        size = min(int_param(request, "maxResults", 50), 4)  # fewer than asked: page until an empty answer
        listed = catalog.LISTED_PEOPLE
        users = [catalog.user_shape(self.site_url, a, self.zone_name, full=True) for a in listed[start : start + size]]
        return json_response(users)

    async def users_bulk(self, request: web.Request) -> web.Response:
        wanted = request.query.getall("accountId", [])
        if not wanted or len(wanted) > 90:
            return jira_error(400, "Between 1 and 90 accountId values are allowed.")
        known = set(PEOPLE)
        users = [catalog.user_shape(self.site_url, a, self.zone_name, full=True) for a in wanted if a in known]
        start = int_param(request, "startAt", 0)
        size = min(int_param(request, "maxResults", 10), 90)
        return json_response(
            {
                "self": str(request.url),
                "startAt": start,
                "maxResults": size,
                "total": len(users),
                "isLast": start + size >= len(users),
                "values": users[start : start + size],
            }
        )

    # -- worklogs, site-wide --------------------------------------------------------------------
    def _changed_worklogs(self, request: web.Request, changes: list[tuple[int, str]], path: str) -> Record:
        """Jira's ChangedWorklogs: up to 1000 after `since`, none from the last minute (still settling)."""
        since = int_param(request, "since", 0)
        settled = round((self.clock() - self.worklog_settle_s) * 1000)
        after = [c for c in changes if since < c[0] <= settled]
        page = after[:WORKLOG_PAGE]
        until = page[-1][0] if page else since
        last = len(after) <= WORKLOG_PAGE
        body: Record = {
            "values": [{"worklogId": int(i), "updatedTime": t, "properties": []} for t, i in page],
            "since": since,
            "until": until,
            "self": f"{self.site_url}/rest/api/3/{path}?since={since}",
            "lastPage": last,
        }
        if not last:
            body["nextPage"] = f"{self.site_url}/rest/api/3/{path}?since={until}"
        return body

    async def worklogs_updated(self, request: web.Request) -> web.Response:
        return json_response(self._changed_worklogs(request, self.content.worklog_changes(), "worklog/updated"))

    async def worklogs_deleted(self, request: web.Request) -> web.Response:
        return json_response(self._changed_worklogs(request, self.content.worklog_deletions(), "worklog/deleted"))

    async def worklog_list(self, request: web.Request) -> web.Response:
        params = orjson.loads(await request.read() or b"{}")
        ids = params.get("ids") or []
        if not isinstance(ids, list) or len(ids) > WORKLOG_PAGE:
            return jira_error(400, f"Up to {WORKLOG_PAGE} worklog ids are allowed.")
        found = (self.content.child("worklog", str(i)) for i in ids)
        return json_response([self.worklog_shape(w) for w in found if w is not None])

    # -- Jira Software (agile) ------------------------------------------------------------------
    def _agile_page(self, request: web.Request, values: list[Record], total: bool = True) -> web.Response:
        """The agile API's page; a board's sprints come without `total` (only isLast), as Jira sends them."""
        start = int_param(request, "startAt", 0)
        size = min(int_param(request, "maxResults", 50), 2 if not total else 50)  # sprints: small pages
        chunk = values[start : start + size]
        return json_response(
            {
                "maxResults": size,
                "startAt": start,
                **({"total": len(values)} if total else {}),
                "isLast": start + size >= len(values),
                "values": chunk,
            }
        )

    async def boards(self, request: web.Request) -> web.Response:
        values = []
        for project in self.content.projects():
            index = catalog.project_index(project["id"])
            board = catalog.board_id(index)
            if board is not None:
                values.append(
                    {
                        "id": board,
                        "self": f"{self.site_url}/rest/agile/1.0/board/{board}",
                        "name": f"{project['key']} board",
                        "type": "scrum",
                        "location": {
                            "projectId": int(project["id"]),
                            "projectKey": project["key"],
                            "projectName": project["name"],
                            "projectTypeKey": project["projectTypeKey"],
                        },
                    }
                )
        return self._agile_page(request, values)

    async def board_sprints(self, request: web.Request) -> web.Response:
        board = int(request.match_info["boardId"]) if request.match_info["boardId"].isdigit() else -1
        index = board - 1
        if catalog.board_id(index) != board or str(10000 + index) not in self.content.project_ids():
            return jira_error(
                404,
                "The requested board cannot be viewed because it either does not exist "
                "or you do not have permission to view it.",
            )
        sprints = [self.sprint_shape(self.content.sprint(s)) for s in catalog.sprint_ids(index)]
        return self._agile_page(request, sprints, total=False)

    async def removed_search(self, request: web.Request) -> web.Response:
        return jira_error(410, SEARCH_REMOVED)

    def routes(self) -> list[tuple[str, str, Callable]]:
        api = "/rest/api/3"
        return [
            ("GET", f"{api}/project/search", self.project_search),
            ("GET", f"{api}/field", self.fields),
            ("GET", f"{api}/myself", self.myself),
            ("GET", f"{api}/search/jql", self.search_jql),
            ("POST", f"{api}/search/jql", self.search_jql),
            ("POST", f"{api}/search/approximate-count", self.approximate_count),
            ("POST", f"{api}/issue/bulkfetch", self.bulkfetch),
            ("GET", f"{api}/issue/{{issueIdOrKey}}/comment", self.comments),
            ("GET", f"{api}/issue/{{issueIdOrKey}}/changelog", self.changelog),
            ("POST", f"{api}/changelog/bulkfetch", self.changelog_bulkfetch),
            ("GET", f"{api}/issue/{{issueIdOrKey}}/worklog", self.worklogs),
            ("GET", f"{api}/attachment/content/{{id}}", self.attachment_content),
            ("GET", f"{api}/attachment/{{id}}", self.attachment_metadata),
            ("GET", f"{api}/status", self.statuses),
            ("GET", f"{api}/priority", self.priorities),
            ("GET", f"{api}/resolution/search", self.resolutions),
            ("GET", f"{api}/issuetype", self.issue_types),
            ("GET", f"{api}/issueLinkType", self.link_types),
            ("GET", f"{api}/project/{{projectIdOrKey}}/versions", self.versions),
            ("GET", f"{api}/project/{{projectIdOrKey}}/components", self.components),
            ("GET", f"{api}/users/search", self.users_search),
            ("GET", f"{api}/user/bulk", self.users_bulk),
            ("GET", f"{api}/worklog/updated", self.worklogs_updated),
            ("GET", f"{api}/worklog/deleted", self.worklogs_deleted),
            ("POST", f"{api}/worklog/list", self.worklog_list),
            ("GET", "/rest/agile/1.0/board", self.boards),
            ("GET", "/rest/agile/1.0/board/{boardId}/sprint", self.board_sprints),
            ("GET", f"{api}/search", self.removed_search),
            ("POST", f"{api}/search", self.removed_search),
        ]


def encode_token(position: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"p": position, "v": 1})).decode()


def decode_token(token: str) -> int | None:
    try:
        return int(orjson.loads(base64.urlsafe_b64decode(token.encode()))["p"])
    except (ValueError, KeyError, TypeError):
        return None
