"""The request budget: the fewest gateway requests any client needs for a full sync of a site.

Every listing costs at least one request (to learn that it is empty), and a page holds at most the
endpoint's limit. With S spaces, P pages, B blog posts, FC/IC footer/inline comments, A Confluence
attachments, L labels (label l on LP_l pages and LB_l blog posts), C = P + B containers, Pr projects,
I issues, c_i comments on issue i, J Jira attachments, and n(x, k) = max(1, ceil(x / k)):

    spaces n(S,250) + pages n(P,250) + blog posts n(B,250) + comments n(FC,250) + n(IC,250)
    + attachment listing n(A,250) + labels n(L,250) + min(C, sum_l n(LP_l,250) + n(LB_l,250))
    + Confluence downloads A + versions sum over containers c of n(V_c, 250)
    + properties of each container and space, and each space's permissions C + 2S
    + tree n(N_cql, 100) + N (the CQL listing of the N_cql current folders, whiteboards, databases and
      embeds, then each of the N nodes by id: no listing gives their parents) + tasks n(T,250) + people n(U,250)
    + fields 1 + projects n(Pr, page served) + archived projects n(Pa, page served)
    + issue ids n(I,5000) + issues n(I,100) + field history max(n(I,1000), n(H,10000))
    + more comments sum over c_i > 20 of n(c_i, page served) + Jira downloads J
    + dimensions 5 (statuses, priorities, resolutions, issue and link types; more if resolutions page)
    + versions and components 2 (Pr + Pa) + boards and their sprints 1 + Bo (when the agile API answers)
    + worklogs 2 n(W,1000) + 1 (changed ids, the worklogs, deletions) + Jira people n(Uj, page served) + 1

with H changelog entries, W worklogs, Bo boards, Uj people Jira lists. An incremental run (see
`incremental_requests`) pays the listings read whole every run, then only for what changed.

Downloads count one gateway request each; the redirect target (the media host) is not the gateway and
does not spend the site's rate limit. The sync lists pages per space and issues per project, so that
chains run in parallel: that costs at most 2S + 2Pr requests over this minimum.
"""

from __future__ import annotations

import sqlite3
from math import ceil
from pathlib import Path

from .sources.confluence.tree import NODE_TYPES, SEARCH_LIMIT

CONFLUENCE_PAGE = 250
ID_PAGE = 5000
BULK = 100
INLINE_COMMENTS = 20


def n(count: int, per_page: int) -> int:
    return max(1, ceil(count / per_page))


def minimum_requests(
    db: Path, project_page: int = 50, comment_page: int = 100, user_page: int = 1000, resolution_page: int = 50
) -> dict[str, int]:
    """The budget, per term, for the site as a full sync stored it in `db`."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    live = "WHERE deleted_at IS NULL"
    try:
        pages, blogs = (
            one(f"SELECT COUNT(*) FROM confluence_pages {live}"),
            one(f"SELECT COUNT(*) FROM confluence_blogposts {live}"),
        )
        per_label = conn.execute(
            "SELECT l.id, SUM(cl.content_type = 'page'), SUM(cl.content_type = 'blogpost') FROM confluence_labels l "
            "LEFT JOIN confluence_content_labels cl ON cl.label_id = l.id GROUP BY l.id"
        ).fetchall()
        labels = len(per_label)
        by_label = sum(n(p or 0, CONFLUENCE_PAGE) + n(b or 0, CONFLUENCE_PAGE) for _, p, b in per_label)
        issues = one(f"SELECT COUNT(*) FROM jira_issues {live}")
        busy = conn.execute(
            f"SELECT COUNT(*) FROM jira_comments {live} GROUP BY issue_id HAVING COUNT(*) > {INLINE_COMMENTS}"
        ).fetchall()
        attachments = one(f"SELECT COUNT(*) FROM confluence_attachments {live}")
        spaces = one(f"SELECT COUNT(*) FROM confluence_spaces {live}")
        budget = {
            "confluence spaces": n(spaces, CONFLUENCE_PAGE),
            "confluence pages": n(pages, CONFLUENCE_PAGE),
            "confluence blog posts": n(blogs, CONFLUENCE_PAGE),
            "confluence comments": n(one(f"SELECT COUNT(*) FROM confluence_comments {live} AND kind = 'footer'"), 250)
            + n(one(f"SELECT COUNT(*) FROM confluence_comments {live} AND kind = 'inline'"), 250),
            "confluence attachment listing": n(attachments, CONFLUENCE_PAGE),
            "confluence labels": n(labels, CONFLUENCE_PAGE) + min(pages + blogs, by_label),
            "confluence downloads": attachments,
            "confluence properties and permissions": pages + blogs + 2 * spaces,
            # the tree's other nodes: one CQL listing of those CQL sees (current ones), each node once by id
            "confluence tree": n(
                sum(one(f"SELECT COUNT(*) FROM confluence_{k}s {live} AND status = 'current'") for k in NODE_TYPES),
                SEARCH_LIMIT,
            )
            + sum(one(f"SELECT COUNT(*) FROM confluence_{k}s {live}") for k in NODE_TYPES),
            "confluence tasks": n(one(f"SELECT COUNT(*) FROM confluence_tasks {live}"), CONFLUENCE_PAGE),
            "confluence people": n(one("SELECT COUNT(*) FROM confluence_users"), CONFLUENCE_PAGE),
            "confluence versions": sum(
                n(count, CONFLUENCE_PAGE)
                for (count,) in conn.execute(
                    "SELECT COUNT(*) FROM confluence_versions WHERE container_id IN "
                    f"(SELECT id FROM confluence_pages {live} UNION ALL SELECT id FROM confluence_blogposts {live}) "
                    "GROUP BY container_id"
                )
            ),
            "jira fields": 1,
            "jira projects": n(one(f"SELECT COUNT(*) FROM jira_projects {live}"), project_page),
            "jira issue ids": n(issues, ID_PAGE),
            "jira issues": n(issues, BULK),
            "jira comments beyond the inline 20": sum(n(count, comment_page) for (count,) in busy),
            "jira downloads": one(f"SELECT COUNT(*) FROM jira_attachments {live}"),
            **jira_analytics_terms(one, issues, user_page, resolution_page, project_page),
        }
    finally:
        conn.close()
    budget["total"] = sum(budget.values())
    return budget


def jira_analytics_terms(one, issues: int, user_page: int, resolution_page: int, project_page: int) -> dict[str, int]:
    """The listings analysts' tables add to a full sync."""
    live = "WHERE deleted_at IS NULL"
    projects = one(f"SELECT COUNT(*) FROM jira_projects {live}")
    archived = one(f"SELECT COUNT(*) FROM jira_projects {live} AND archived = 1")
    boards = one(f"SELECT COUNT(*) FROM jira_boards {live}")
    worklogs = one("SELECT COUNT(*) FROM jira_worklogs")  # deleted ones were listed too, once
    return {
        "jira archived projects": n(archived, project_page),
        "jira dimensions": 4 + n(one("SELECT COUNT(*) FROM jira_resolutions"), resolution_page),
        "jira versions and components": 2 * projects,
        "jira boards and sprints": (1 + boards) if boards else 0,
        "jira field history": max(n(issues, 1000), n(one("SELECT COUNT(*) FROM jira_changelogs"), 10000)),
        "jira worklogs": 2 * n(worklogs, 1000) + 1,
        "jira people": n(one("SELECT COUNT(*) FROM jira_users"), user_page) + 1,  # the last page is empty
    }


def incremental_requests(
    projects: int,
    archived: int,
    boards: int | None,
    changed_issues: int,
    busy_issues: int = 0,
    changed_worklogs: int = 0,
    unseen_issues: int = 0,
    new_people: int = 0,
    user_pages: int = 1,
    resolution_pages: int = 1,
    sprint_pages: int | None = None,
) -> int:
    """The requests of an incremental Jira run: what is listed whole every run, then what changed.

    `boards` None: the agile API refused (one request learns it). `unseen_issues`: issues the full id
    listing no longer returns, asked for by id before they are called deleted. `busy_issues`: changed
    issues with more than the inline 20 comments. `user_pages`: pages of users/search, not counting the
    empty page that ends it. `sprint_pages`: pages of all boards' sprints (50 a page; default one a board)."""
    fixed = 1 + 2 * n(projects, 50)  # fields; live and archived project listings
    fixed += 4 + resolution_pages  # statuses, priorities, issue and link types; resolutions
    fixed += 2 * (projects + archived)  # versions and components of each project
    fixed += 1 + ((boards or 0) if sprint_pages is None else sprint_pages)  # boards, then each board's sprints
    fixed += 2 * n(projects, 50)  # issue ids updated since the mark, then every id (deletions)
    fixed += 2  # worklogs changed and deleted since the last run
    fixed += user_pages + 1  # people
    by_change = ceil(changed_issues / 100) + ceil(changed_issues / 1000) + busy_issues
    by_change += ceil(changed_worklogs / 1000)  # worklog/list (and as many more worklog/updated pages, less one)
    by_change += max(0, ceil(changed_worklogs / 1000) - 1) + ceil(unseen_issues / 100) + ceil(new_people / 50)
    return fixed + by_change
