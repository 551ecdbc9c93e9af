"""What the database must hold after a full sync, built from the simulator's own content model.

Both sides are reduced to the same plain tuples per table, so a test can compare them whole and a
failure shows exactly which rows differ.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from pipeline.simulator import jira_catalog as catalog
from pipeline.simulator.confluence_content import LISTED_BY_DEFAULT
from pipeline.simulator.confluence_people import person
from pipeline.simulator.confluence_tree import NODE_TYPES
from pipeline.simulator.dataset import blob_bytes
from pipeline.simulator.server import Simulator


def utc_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{round(ts * 1000) % 1000:03d}Z"


def with_millis(stamp: str) -> str:
    """The simulator's Confluence times in the stored form: a whole second comes without `.mmm`."""
    assert stamp.endswith("Z"), stamp
    return stamp if "." in stamp else stamp[:-1] + ".000Z"


def sha(seed: str, size: int) -> str:
    return hashlib.sha256(blob_bytes(seed, size)).hexdigest()


def expected(sim: Simulator, with_bytes: bool = True) -> dict[str, set[tuple]]:
    c, j = sim.confluence, sim.jira
    out: dict[str, set[tuple]] = {}
    out["confluence_spaces"] = {(s["id"], s["key"], s["name"], s["status"]) for s in map(c.space, c.space_ids())}
    visible: dict[str, str] = {}
    for kind, table in (("page", "confluence_pages"), ("blogpost", "confluence_blogposts")):
        rows = set()
        for record in c.contents(kind):
            if record["status"] not in LISTED_BY_DEFAULT:
                continue
            visible[record["id"]] = kind
            rows.add(
                (
                    record["id"],
                    record["spaceId"],
                    record.get("parentId") if kind == "page" else None,
                    record.get("parentType") if kind == "page" else None,
                    record["title"],
                    record["status"],
                    record["version"]["number"],
                    with_millis(record["version"]["createdAt"]),
                    record["_body"],
                )
            )
        out[table] = rows
    for kind in NODE_TYPES:
        out[f"confluence_{kind}s"] = {
            (
                n["id"],
                n["spaceId"],
                n["parentId"],
                n["parentType"],
                n["title"],
                n["status"],
                with_millis(n["createdAt"]),
            )
            for n in reachable_nodes(sim)
            if n["type"] == kind
        }
    out["confluence_versions"] = {
        (cid, kind, v["number"], with_millis(v["createdAt"]), v["authorId"], v["message"], int(v["minorEdit"]))
        for cid, kind in visible.items()
        for v in c.versions(cid)
    }
    tasks = sim.tasks.tasks()
    out["confluence_tasks"] = {
        (
            t["id"],
            t["spaceId"],
            t["_container"],
            visible[t["_container"]],
            t["status"],
            with_millis(t["createdAt"]),
            with_millis(t["dueAt"]) if t["dueAt"] else None,
            with_millis(t["completedAt"]) if t["completedAt"] else None,
            t["assignedTo"],
            t["createdBy"],
        )
        for t in tasks
    }
    mentioned = {t[k] for t in tasks for k in ("createdBy", "assignedTo", "completedBy")}
    for cid in visible:
        record = c.content(cid)
        mentioned |= {record.get("authorId"), record.get("ownerId")} | {v["authorId"] for v in c.versions(cid)}
    mentioned |= {
        r["version"]["authorId"]
        for kind in ("footer", "inline")
        for r in map(c.comment, (e["id"] for e in c.all_comments(kind)))
    }
    mentioned |= {n[k] for n in reachable_nodes(sim) for k in ("authorId", "ownerId")}
    out["confluence_users"] = {
        (p["accountId"], p["displayName"], p["accountType"]) for p in map(person, mentioned - {None}) if p
    }
    r = sim.restore
    owners = [*((cid, kind) for cid, kind in visible.items()), *((sid, "space") for sid in c.space_ids())]
    out["confluence_content_properties"] = {
        (owner, kind, p["key"], orjson.dumps(p["value"]).decode(), p["version"]["number"])
        for owner, kind in owners
        for p in r.properties(owner)
    }
    out["confluence_space_permissions"] = {
        (
            p["id"],
            sid,
            p["principal"]["type"],
            p["principal"]["id"],
            p["operation"]["key"],
            p["operation"]["targetType"],
        )
        for sid in c.space_ids()
        for p in r.permissions(sid)
    }
    out["confluence_comments"] = {
        (r["id"], r["_container"], r["parentCommentId"], r["_kind"], r["version"]["number"], r["_body"])
        for kind in ("footer", "inline")
        for r in (c.comment(entry["id"]) for entry in c.all_comments(kind))
    }
    out["confluence_attachments"] = {
        (
            a["id"],
            a["_container"],
            a["title"],
            a["fileSize"],
            a["version"]["number"],
            sha(a["_seed"], a["fileSize"]) if with_bytes else None,
        )
        for a in c.all_attachments()
        if not a.get("_container_unnamed")
    } | {  # listed without a container: stored, but no route to its bytes
        (a["id"], None, a["title"], a["fileSize"], a["version"]["number"], None)
        for a in c.all_attachments()
        if a.get("_container_unnamed")
    }
    out["confluence_content_labels"] = {(cid, lab["id"]) for cid in visible for lab in c.labels_of(cid)}
    out["jira_projects"] = {(p["id"], p["key"], p["name"], 0) for p in j.projects()}
    out["jira_projects"] |= {(p["id"], p["key"], p["name"], 1) for p in j.archived_projects()}
    issues, comments, attachments = set(), set(), set()
    for project in j.projects():
        for issue in j.issues(project["id"]):
            issues.add(
                (
                    issue["id"],
                    issue["key"],
                    project["id"],
                    issue["summary"],
                    issue["status"],
                    issue["issuetype"],
                    utc_ms(issue["_updated"]),
                    issue["customfield_10016"],
                    orjson.dumps(issue["description"]).decode(),
                )
            )
            for comment in j.children("comment", issue["id"]):
                comments.add(
                    (comment["id"], issue["id"], utc_ms(comment["_updated"]), orjson.dumps(comment["body"]).decode())
                )
            for att in j.children("attachment", issue["id"]):
                attachments.add(
                    (
                        att["id"],
                        issue["id"],
                        att["filename"],
                        att["size"],
                        sha(att["_seed"], att["size"]) if with_bytes else None,
                    )
                )
    out["jira_issues"], out["jira_comments"], out["jira_attachments"] = issues, comments, attachments
    out.update(jira_analytics(sim))
    return out


def jira_analytics(sim: Simulator) -> dict[str, set[tuple]]:
    """People, dimensions, links, field history, sprints, boards and worklogs, from the model."""
    j = sim.jira
    out: dict[str, set[tuple]] = {}
    out["jira_statuses"] = {(i, n, k) for i, n, k in catalog.STATUSES}
    out["jira_priorities"] = set(catalog.PRIORITIES)
    out["jira_resolutions"] = set(catalog.RESOLUTIONS)
    out["jira_issue_types"] = {(i, n, int(sub), level) for i, n, sub, level in catalog.ISSUE_TYPES}
    out["jira_issue_link_types"] = set(catalog.LINK_TYPES)
    every_project = j.projects() + j.archived_projects()
    indexes = [catalog.project_index(p["id"]) for p in every_project]
    out["jira_versions"] = {
        (v["id"], str(v["projectId"]), v["name"], int(v["released"]), int(v["archived"]), v["releaseDate"])
        for i in indexes
        for v in catalog.versions(i)
    }
    out["jira_components"] = {
        (c["id"], str(c["projectId"]), c["name"], c["leadAccountId"]) for i in indexes for c in catalog.components(i)
    }
    links, changelogs, history, issue_sprints, sprints, people = set(), set(), set(), set(), {}, set()
    for project in j.projects():
        for issue in j.issues(project["id"]):
            people |= {issue["reporter"], issue["assignee"], issue["creator"]}
            for link in j.links_of(issue["id"]):
                links.add((link["id"], link["type"], link["inward"], link["outward"]))
            for h in j.children("changelog", issue["id"]):
                changelogs.add((h["id"], issue["id"], utc_ms(h["_created"]), h["author"]))
                people.add(h["author"])
                for n, item in enumerate(h["items"]):
                    history.add(
                        (
                            f"{h['id']}:{n}",
                            h["id"],
                            issue["id"],
                            item["fieldId"],
                            utc_ms(h["_created"]),
                            h["author"],
                            item["from"],
                            item["fromString"],
                            item["to"],
                            item["toString"],
                        )
                    )
                    if item["fieldId"] == "assignee":
                        people |= {item["from"], item["to"]}
            for sprint_id in issue["_sprints"]:
                issue_sprints.add((issue["id"], str(sprint_id)))
            people |= {c["author"] for c in j.children("comment", issue["id"])}
    boards = set()
    for project in j.projects():
        index = catalog.project_index(project["id"])
        if catalog.board_id(index) is not None:
            boards.add((str(catalog.board_id(index)), f"{project['key']} board", "scrum", project["id"]))
            for sprint_id in catalog.sprint_ids(index):
                sprints[sprint_id] = j.sprint(sprint_id)
    out["jira_issue_links"], out["jira_issue_sprints"], out["jira_boards"] = links, issue_sprints, boards
    out["jira_changelogs"], out["jira_issue_field_history"] = changelogs, history
    out["jira_sprints"] = {
        (
            str(s["id"]),
            str(s["boardId"]),
            s["name"],
            s["state"],
            *(utc_ms(s[k]) if s.get(k) is not None else None for k in ("_start", "_end", "_complete")),
            s["goal"] or None,
        )
        for s in sprints.values()
    }
    worklogs = set()  # site-wide listings, and the complete inline lists of fetched issues, give them all
    for project in every_project:
        for issue in j.issues(project["id"]):
            for w in j.children("worklog", issue["id"]):
                people.add(w["author"])
                worklogs.add(
                    (w["id"], issue["id"], utc_ms(w["_created"]), w["timeSpentSeconds"], utc_ms(w["_updated"]))
                )
    out["jira_worklogs"] = worklogs
    people |= {c["leadAccountId"] for i in indexes for c in catalog.components(i)}
    people = (people | set(catalog.LISTED_PEOPLE)) - {None}
    out["jira_users"] = {
        (a, u["displayName"], u.get("emailAddress"), int(u["active"]), u["accountType"])
        for a in people
        for u in [catalog.user_shape("", a, "", full=True)]
    }
    return out


def reachable_nodes(sim: Simulator, lag_s: float = 0.0) -> list[dict]:
    """The nodes a sync can find: current ones (CQL lists them once the index has caught up), and archived
    or not-yet-indexed ones that are the ancestor of a listed page or a found node."""
    c = sim.confluence
    horizon = utc_ms(sim.overlay.now() - lag_s)
    found = {n["id"]: n for n in c.tree.nodes() if n["status"] == "current" and n["createdAt"] <= horizon}
    children = [p for p in c.contents("page") if p["status"] in LISTED_BY_DEFAULT] + list(found.values())
    while children:
        child = children.pop()
        parent = c.tree.node(child["parentId"]) if child.get("parentType") in NODE_TYPES else None
        if parent is not None and parent["status"] in LISTED_BY_DEFAULT and parent["id"] not in found:
            found[parent["id"]] = parent
            children.append(parent)
    return list(found.values())


def stored(db: Path) -> dict[str, set[tuple]]:
    conn = sqlite3.connect(db)
    try:
        q = lambda sql: set(conn.execute(sql).fetchall())  # noqa: E731
        live = "WHERE deleted_at IS NULL"
        out = {
            "confluence_spaces": q(f"SELECT id, key, name, status FROM confluence_spaces {live}"),
            "confluence_pages": q(
                f"SELECT id, space_id, parent_id, parent_type, title, status, version, updated_at, body_storage "
                f"FROM confluence_pages {live}"
            ),
            "confluence_blogposts": q(
                f"SELECT id, space_id, NULL, NULL, title, status, version, updated_at, body_storage "
                f"FROM confluence_blogposts {live}"
            ),
            **{
                f"confluence_{kind}s": q(
                    f"SELECT id, space_id, parent_id, parent_type, title, status, created_at "
                    f"FROM confluence_{kind}s {live}"
                )
                for kind in NODE_TYPES
            },
            "confluence_versions": q(
                "SELECT container_id, container_type, number, created_at, author_id, message, minor_edit "
                "FROM confluence_versions WHERE container_id IN "
                f"(SELECT id FROM confluence_pages {live} UNION SELECT id FROM confluence_blogposts {live})"
            ),
            "confluence_tasks": q(
                "SELECT id, space_id, container_id, container_type, status, created_at, due_at, completed_at, "
                f"assigned_to, created_by FROM confluence_tasks {live}"
            ),
            "confluence_users": q(
                "SELECT account_id, display_name, account_type FROM confluence_users "
                "WHERE account_status IS NOT 'unknown'"
            ),
            "confluence_content_properties": q(
                "SELECT container_id, container_type, key, value, version FROM confluence_content_properties "
                f"{live} AND container_id IN (SELECT id FROM confluence_pages {live} "
                f"UNION SELECT id FROM confluence_blogposts {live} UNION SELECT id FROM confluence_spaces {live})"
            ),
            "confluence_space_permissions": q(
                "SELECT id, space_id, principal_type, principal_id, operation_key, operation_target "
                f"FROM confluence_space_permissions {live}"
            ),
            "confluence_comments": q(
                f"SELECT id, container_id, parent_comment_id, kind, version, body_storage "
                f"FROM confluence_comments {live}"
            ),
            "confluence_attachments": q(
                f"SELECT id, container_id, title, file_size, version, sha256 FROM confluence_attachments {live}"
            ),
            "confluence_content_labels": q(
                "SELECT content_id, label_id FROM confluence_content_labels WHERE content_id IN "
                f"(SELECT id FROM confluence_pages {live} UNION SELECT id FROM confluence_blogposts {live})"
            ),
            "jira_projects": q(f"SELECT id, key, name, archived FROM jira_projects {live}"),
            "jira_issues": q(
                "SELECT id, key, project_id, summary, status, issue_type, updated, "
                "json_extract(fields, '$.customfield_10016'), json(json_extract(fields, '$.description')) "
                f"FROM jira_issues {live}"
            ),
            "jira_comments": q(f"SELECT id, issue_id, updated, body FROM jira_comments {live}"),
            "jira_attachments": q(f"SELECT id, issue_id, filename, size, sha256 FROM jira_attachments {live}"),
            "jira_statuses": q(f"SELECT id, name, category_key FROM jira_statuses {live}"),
            "jira_priorities": q(f"SELECT id, name FROM jira_priorities {live}"),
            "jira_resolutions": q(f"SELECT id, name FROM jira_resolutions {live}"),
            "jira_issue_types": q(f"SELECT id, name, subtask, hierarchy_level FROM jira_issue_types {live}"),
            "jira_issue_link_types": q(f"SELECT id, name, inward, outward FROM jira_issue_link_types {live}"),
            "jira_versions": q(
                f"SELECT id, project_id, name, released, archived, release_date FROM jira_versions {live}"
            ),
            "jira_components": q(f"SELECT id, project_id, name, lead_account_id FROM jira_components {live}"),
            "jira_issue_links": q(
                f"SELECT id, link_type_id, inward_issue_id, outward_issue_id FROM jira_issue_links {live}"
            ),
            "jira_changelogs": q(
                "SELECT id, issue_id, created, author_id FROM jira_changelogs "
                f"WHERE issue_id IN (SELECT id FROM jira_issues {live})"
            ),
            "jira_issue_field_history": q(
                "SELECT id, changelog_id, issue_id, field_id, changed_at, author_id, from_value, from_string, "
                "to_value, to_string FROM jira_issue_field_history "
                f"WHERE issue_id IN (SELECT id FROM jira_issues {live})"
            ),
            "jira_sprints": q(
                f"SELECT id, board_id, name, state, start_date, end_date, complete_date, goal FROM jira_sprints {live}"
            ),
            "jira_issue_sprints": q(
                f"SELECT issue_id, sprint_id FROM jira_issue_sprints {live} "
                f"AND issue_id IN (SELECT id FROM jira_issues {live})"
            ),
            "jira_boards": q(f"SELECT id, name, type, project_id FROM jira_boards {live}"),
            "jira_worklogs": q(f"SELECT id, issue_id, started, time_spent_seconds, updated FROM jira_worklogs {live}"),
            "jira_users": q("SELECT account_id, display_name, email_address, active, account_type FROM jira_users"),
        }
    finally:
        conn.close()
    # SQLite's json() writes compact JSON, as orjson does; None descriptions come back as SQL NULL
    out["jira_issues"] = {(*row[:-1], row[-1] if row[-1] is not None else "null") for row in out["jira_issues"]}
    return out


def differences(want: dict[str, set[tuple]], got: dict[str, set[tuple]]) -> dict[str, Any]:
    diff = {}
    for table in want:
        missing, extra = want[table] - got.get(table, set()), got.get(table, set()) - want[table]
        if missing or extra:
            diff[table] = {
                "missing": sorted(missing, key=str)[:3],
                "extra": sorted(extra, key=str)[:3],
                "counts": (len(missing), len(extra)),
            }
    return diff


def blob_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.glob("??/*") if p.is_file()}
