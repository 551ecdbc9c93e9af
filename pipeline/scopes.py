"""The OAuth scopes each API operation we use accepts, as Atlassian's specs list them.

Each operation accepts any one of several scope sets (a classic scope, or a set of granular ones).
tests/test_conformance.py checks this table against ../shared/atlassian-openapi, so it cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

JIRA_WORK = ("read:jira-work",)


@dataclass(frozen=True)
class Operation:
    product: str  # confluence | jira
    method: str
    path: str  # the spec's path template, from the product root (/wiki/... or /rest/...)
    scope_sets: tuple[tuple[str, ...], ...]

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def allows(self, granted: frozenset[str]) -> bool:
        return any(set(scopes) <= granted for scopes in self.scope_sets)

    def missing(self, granted: frozenset[str]) -> tuple[str, ...]:
        """The smallest set of scopes that, added to `granted`, would allow this operation."""
        options = [(tuple(s for s in scopes if s not in granted), scopes) for scopes in self.scope_sets]
        if not options:
            return ()
        # fewest to add; on a tie, finish the set the token has most of (classic vs granular)
        return min(options, key=lambda o: (len(o[0]), -(len(o[1]) - len(o[0]))))[0]


def _c(path: str, scope: str) -> Operation:
    return Operation("confluence", "GET", path, ((scope,),))


def _j(method: str, path: str, granular: tuple[str, ...], classic: tuple[str, ...] = JIRA_WORK) -> Operation:
    return Operation("jira", method, path, (classic, granular))


V2 = "/wiki/api/v2"
PAGE, SPACE, ATTACH, COMMENT = (f"read:{k}:confluence" for k in ("page", "space", "attachment", "comment"))
LABEL = "read:label:confluence"
HIERARCHY = "read:hierarchical-content:confluence"
ISSUE_DETAILS = (
    "read:issue-details:jira",
    "read:audit-log:jira",
    "read:avatar:jira",
    "read:field-configuration:jira",
    "read:issue-meta:jira",
)
ISSUE_SEARCH = (
    "read:issue-details:jira",
    "read:field.default-value:jira",
    "read:field.option:jira",
    "read:field:jira",
    "read:group:jira",
)

OPERATIONS: tuple[Operation, ...] = (
    _c(f"{V2}/spaces", SPACE),
    _c(f"{V2}/spaces/{{id}}/pages", PAGE),
    _c(f"{V2}/spaces/{{id}}/blogposts", PAGE),
    _c(f"{V2}/pages", PAGE),
    _c(f"{V2}/pages/{{id}}", PAGE),
    _c(f"{V2}/blogposts", PAGE),
    _c(f"{V2}/blogposts/{{id}}", PAGE),
    _c(f"{V2}/pages/{{id}}/versions", PAGE),
    _c(f"{V2}/blogposts/{{id}}/versions", PAGE),
    _c(f"{V2}/pages/{{id}}/labels", PAGE),
    _c(f"{V2}/blogposts/{{id}}/labels", PAGE),
    _c(f"{V2}/labels", LABEL),
    _c(f"{V2}/labels/{{id}}/pages", PAGE),
    _c(f"{V2}/labels/{{id}}/blogposts", PAGE),
    _c(f"{V2}/attachments", ATTACH),
    _c(f"{V2}/attachments/{{id}}", ATTACH),
    _c(f"{V2}/pages/{{id}}/attachments", ATTACH),
    _c(f"{V2}/blogposts/{{id}}/attachments", ATTACH),
    _c(f"{V2}/footer-comments", COMMENT),
    _c(f"{V2}/inline-comments", COMMENT),
    _c(f"{V2}/pages/{{id}}/footer-comments", COMMENT),
    _c(f"{V2}/pages/{{id}}/inline-comments", COMMENT),
    _c(f"{V2}/blogposts/{{id}}/footer-comments", COMMENT),
    _c(f"{V2}/blogposts/{{id}}/inline-comments", COMMENT),
    _c(f"{V2}/footer-comments/{{comment-id}}", COMMENT),
    _c(f"{V2}/inline-comments/{{comment-id}}", COMMENT),
    _c(f"{V2}/footer-comments/{{id}}/children", COMMENT),
    _c(f"{V2}/inline-comments/{{id}}/children", COMMENT),
    *(_c(f"{V2}/{kind}s/{{id}}", f"read:{kind}:confluence") for kind in ("folder", "whiteboard", "database", "embed")),
    *(
        _c(f"{V2}/{kind}s/{{id}}/direct-children", HIERARCHY)
        for kind in ("page", "folder", "whiteboard", "database", "embed")
    ),
    _c(f"{V2}/tasks", "read:task:confluence"),
    Operation(
        "confluence",
        "GET",
        "/wiki/rest/api/content/{id}/restriction",
        (("read:confluence-content.all",), ("read:content-details:confluence",)),
    ),
    _c(f"{V2}/pages/{{page-id}}/properties", PAGE),
    _c(f"{V2}/blogposts/{{blogpost-id}}/properties", PAGE),
    _c(f"{V2}/spaces/{{space-id}}/properties", SPACE),
    _c(f"{V2}/spaces/{{id}}/permissions", SPACE),
    Operation("confluence", "POST", f"{V2}/users-bulk", (("read:user:confluence",),)),
    Operation(
        "confluence", "GET", "/wiki/rest/api/search", (("search:confluence",), ("read:content-details:confluence",))
    ),
    Operation(
        "confluence",
        "GET",
        "/wiki/rest/api/content/{id}/child/attachment/{attachmentId}/download",
        (("readonly:content.attachment:confluence",), (ATTACH,)),
    ),
    _j(
        "GET",
        "/rest/api/3/project/search",
        (
            "read:issue-type:jira",
            "read:project:jira",
            "read:project.property:jira",
            "read:user:jira",
            "read:application-role:jira",
            "read:avatar:jira",
            "read:group:jira",
            "read:issue-type-hierarchy:jira",
            "read:project-category:jira",
            "read:project-version:jira",
            "read:project.component:jira",
        ),
    ),
    _j(
        "GET",
        "/rest/api/3/field",
        (
            "read:field:jira",
            "read:avatar:jira",
            "read:project-category:jira",
            "read:project:jira",
            "read:field-configuration:jira",
        ),
    ),
    _j(
        "GET",
        "/rest/api/3/myself",
        ("read:application-role:jira", "read:group:jira", "read:user:jira", "read:avatar:jira"),
        classic=("read:jira-user",),
    ),
    _j("GET", "/rest/api/3/search/jql", ISSUE_DETAILS),
    _j("POST", "/rest/api/3/search/jql", ISSUE_SEARCH),
    _j("POST", "/rest/api/3/search/approximate-count", ISSUE_SEARCH),
    _j(
        "POST",
        "/rest/api/3/issue/bulkfetch",
        (
            "read:issue-meta:jira",
            "read:issue-security-level:jira",
            "read:issue.vote:jira",
            "read:issue.changelog:jira",
            "read:avatar:jira",
            "read:issue:jira",
            "read:status:jira",
            "read:user:jira",
            "read:field-configuration:jira",
        ),
    ),
    _j(
        "GET",
        "/rest/api/3/issue/{issueIdOrKey}/comment",
        (
            "read:comment:jira",
            "read:comment.property:jira",
            "read:group:jira",
            "read:project:jira",
            "read:project-role:jira",
            "read:user:jira",
            "read:avatar:jira",
        ),
    ),
    _j(
        "GET",
        "/rest/api/3/issue/{issueIdOrKey}/changelog",
        ("read:issue-meta:jira", "read:avatar:jira", "read:issue.changelog:jira"),
    ),
    _j(
        "POST",
        "/rest/api/3/changelog/bulkfetch",
        ("read:issue-meta:jira", "read:avatar:jira", "read:issue.changelog:jira"),
    ),
    _j(
        "GET",
        "/rest/api/3/issue/{issueIdOrKey}/worklog",
        (
            "read:group:jira",
            "read:issue-worklog:jira",
            "read:issue-worklog.property:jira",
            "read:project-role:jira",
            "read:user:jira",
            "read:avatar:jira",
        ),
    ),
    _j("GET", "/rest/api/3/attachment/content/{id}", ("read:attachment:jira",)),
    _j(
        "GET",
        "/rest/api/3/attachment/{id}",
        ("read:attachment:jira", "read:user:jira", "read:application-role:jira", "read:avatar:jira", "read:group:jira"),
    ),
    _j("GET", "/rest/api/3/search", ISSUE_DETAILS),
    # dimensions, people and site-wide worklogs (issue 11)
    _j("GET", "/rest/api/3/status", ("read:status:jira",)),
    _j("GET", "/rest/api/3/priority", ("read:priority:jira",)),  # deprecated, but priority/search needs admin
    _j("GET", "/rest/api/3/resolution/search", ("read:resolution:jira",)),
    _j(
        "GET",
        "/rest/api/3/issuetype",
        ("read:issue-type:jira", "read:avatar:jira", "read:project-category:jira", "read:project:jira"),
    ),
    _j("GET", "/rest/api/3/issueLinkType", ("read:issue-link-type:jira",)),
    _j("GET", "/rest/api/3/project/{projectIdOrKey}/versions", ("read:project-version:jira",)),
    _j(
        "GET",
        "/rest/api/3/project/{projectIdOrKey}/components",
        (
            "read:project:jira",
            "read:project.component:jira",
            "read:user:jira",
            "read:application-role:jira",
            "read:avatar:jira",
            "read:group:jira",
        ),
    ),
    _j(
        "GET",
        "/rest/api/3/users/search",
        ("read:user:jira", "read:application-role:jira", "read:avatar:jira", "read:group:jira"),
        classic=("read:jira-user",),
    ),
    _j(
        "GET",
        "/rest/api/3/user/bulk",
        ("read:application-role:jira", "read:group:jira", "read:user:jira", "read:avatar:jira"),
        classic=("read:jira-user",),
    ),
    _j("GET", "/rest/api/3/worklog/updated", ("read:issue-worklog:jira", "read:issue-worklog.property:jira")),
    _j("GET", "/rest/api/3/worklog/deleted", ("read:issue-worklog:jira", "read:issue-worklog.property:jira")),
    _j(
        "POST",
        "/rest/api/3/worklog/list",
        (
            "read:comment:jira",
            "read:group:jira",
            "read:issue-worklog:jira",
            "read:issue-worklog.property:jira",
            "read:project-role:jira",
            "read:user:jira",
            "read:avatar:jira",
        ),
    ),
)
# Jira Software's agile API is not in the platform spec; its scopes come from Atlassian's Jira Software
# REST docs. Only granular scopes work there (no classic one), and scoped tokens are often refused anyway.
AGILE_OPERATIONS: tuple[Operation, ...] = (
    Operation("jira", "GET", "/rest/agile/1.0/board", (("read:board-scope:jira-software", "read:project:jira"),)),
    Operation("jira", "GET", "/rest/agile/1.0/board/{boardId}/sprint", (("read:sprint:jira-software",),)),
)

BY_NAME: dict[str, Operation] = {op.name: op for op in (*OPERATIONS, *AGILE_OPERATIONS)}
ALL_READ_SCOPES: frozenset[str] = frozenset(
    s for op in (*OPERATIONS, *AGILE_OPERATIONS) for scopes in op.scope_sets for s in scopes
)


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


PATTERNS = [(op, _pattern(op.path)) for op in (*OPERATIONS, *AGILE_OPERATIONS)]


def operation_for(product: str, method: str, path: str) -> Operation | None:
    """The operation a request path (from the product root, e.g. /wiki/api/v2/pages/1) belongs to."""
    for op, pattern in PATTERNS:
        if op.product == product and op.method == method and pattern.match(path):
            return op
    return None
