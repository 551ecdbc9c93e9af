"""The fake site's Jira: projects, issues with custom fields, comments, attachments, worklogs, changelogs.

Issue records keep times as epoch seconds (`_created`, `_updated`) so JQL can compare them; the API
layer renders them in the account's time zone, as Jira does.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from .dataset import (
    CHILD_STRIDE,
    ISSUE_BASE,
    ISSUE_STRIDE,
    PEOPLE,
    PROJECT_BASE,
    TRICKY_TITLES,
    WORDS,
    Scale,
    adf_doc,
    attachment_name,
    attachment_size,
    content_seed,
    moment,
    rng_for,
)
from .jira_catalog import LINK_TYPES, SPRINT_FIELD, components, sprint_ids, sprint_record, status_by_name, versions
from .overlay import Overlay, RevisionCache

Record = dict[str, Any]
STATUSES = [("To Do", "new"), ("In Progress", "indeterminate"), ("In Review", "indeterminate"), ("Done", "done")]
ISSUE_TYPES = ["Task", "Bug", "Story", "Epic"]
PRIORITIES = ["Highest", "High", "Medium", "Low"]
TEAMS = ["Platform", "Growth", "Data", "Équipe Montréal"]
CUSTOM_FIELDS = [
    {"id": "customfield_10016", "name": "Story point estimate", "type": "number"},
    {"id": "customfield_10020", "name": "Team", "type": "option"},
    {"id": "customfield_10030", "name": "Customer impact", "type": "string"},
    {"id": SPRINT_FIELD, "name": "Sprint", "type": "array"},
]
LINK_BASE = 50_000_000  # generated links: LINK_BASE + the inward issue's id
ADDED_LINK_BASE = 60_000_000
LONG_HISTORY = (120, 160)  # a few issues have more history than one page of 100
PROJECT_TYPES = ["software", "business", "product_discovery"]


class JiraContent:
    def __init__(self, seed: int, scale: Scale, overlay: Overlay, search_lag_s: float = 0.0) -> None:
        self.seed, self.scale, self.overlay = seed, scale, overlay
        self.text_kb = 1.0  # the median description, as ADF JSON; comments half of it (whatever the page bodies)
        self.search_lag_s = search_lag_s  # Jira's search is eventually consistent
        self.cache = RevisionCache(overlay)

    # -- projects -------------------------------------------------------------------------------
    def project_ids(self) -> list[str]:
        """The live projects: the ones search sees."""
        archived = self.archived_ids()
        return [p for p in self.every_project_id() if p not in archived]

    def every_project_id(self) -> list[str]:
        """Live and archived: one more project than the scale's, archived before anyone synced it."""
        return [str(PROJECT_BASE + i) for i in range(self.scale.projects + 1)]

    def archived_ids(self) -> set[str]:
        record = self.overlay.changed.get("archived-projects")
        return set(record["ids"]) if record else {str(PROJECT_BASE + self.scale.projects)}

    def archived_projects(self) -> list[Record]:
        return [p for p in map(self.project, sorted(self.archived_ids())) if p]

    def project(self, project_id_or_key: str) -> Record | None:
        for project_id in self.every_project_id():
            record = self._make_project(int(project_id) - PROJECT_BASE)
            if project_id_or_key in (record["id"], record["key"]):
                return record
        return None

    def _make_project(self, i: int) -> Record:
        word = WORDS[i % len(WORDS)]
        suffix = str(i // len(WORDS)) if i >= len(WORDS) else ""
        return {
            "id": str(PROJECT_BASE + i),
            "key": (word[:4] + suffix).upper(),
            "name": f"{word.title()} project" + (" ✨" if i == 1 else ""),
            "projectTypeKey": "business" if i == self.scale.projects else PROJECT_TYPES[i % len(PROJECT_TYPES)],
            "simplified": i % 2 == 0,
            "style": "next-gen" if i % 2 == 0 else "classic",
            "isPrivate": False,
            "lead": PEOPLE[i % len(PEOPLE)],
        }

    def projects(self) -> list[Record]:
        """The live projects (project/search's default)."""
        return [self._make_project(int(p) - PROJECT_BASE) for p in self.project_ids()]

    # -- issues ---------------------------------------------------------------------------------
    def issue_ids(self, project_id: str) -> list[str]:
        base = ISSUE_BASE + (int(project_id) - PROJECT_BASE) * ISSUE_STRIDE
        generated = [str(base + n) for n in range(self.scale.issues_per_project)]
        return generated + self.overlay.children(f"issues:{project_id}")

    def all_issue_ids(self) -> list[str]:
        return self.cache.get(("issue-ids",), lambda: [i for p in self.project_ids() for i in self.issue_ids(p)])

    def locate(self, issue_id_or_key: str) -> str | None:
        """An issue id from an id or a key, or None."""
        if issue_id_or_key.isdigit():  # without building the issue: bulk requests name thousands
            return issue_id_or_key if self._exists(issue_id_or_key) else None
        project_key, _, number = issue_id_or_key.rpartition("-")
        project = self.project(project_key)
        if project is None or not number.isdigit():
            return None
        base = ISSUE_BASE + (int(project["id"]) - PROJECT_BASE) * ISSUE_STRIDE
        issue_id = str(base + int(number) - 1)
        return issue_id if self._exists(issue_id) else None

    def issue(self, issue_id: str) -> Record | None:
        key = f"issue:{issue_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key]
        project_index, n = divmod(int(issue_id) - ISSUE_BASE, ISSUE_STRIDE)
        if not (0 <= project_index <= self.scale.projects and 0 <= n < self.scale.issues_per_project):
            return None
        return self._make_issue(issue_id, project_index, n)

    def _exists(self, issue_id: str) -> bool:
        """Whether an issue exists, without building it."""
        key = f"issue:{issue_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key] is not None
        project_index, n = divmod(int(issue_id) - ISSUE_BASE, ISSUE_STRIDE)
        return 0 <= project_index <= self.scale.projects and 0 <= n < self.scale.issues_per_project

    def searchable(self, issue_id: str) -> Record | None:
        """The issue as Jira's search sees it: a change shows only once the index has caught up."""
        core = self.issue_core(issue_id)
        if core and core.get("_unsearchable"):  # e.g. a broken index entry: still answers by id
            return None
        pending = core.get("_indexed") if core else None
        if pending and self.overlay.now() < pending[0]:
            return pending[1]  # what the index still holds (None: not in it yet)
        return core

    def issue_core(self, issue_id: str) -> Record | None:
        """What JQL compares, without building the whole issue."""
        key = f"issue:{issue_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key]
        project_index, n = divmod(int(issue_id) - ISSUE_BASE, ISSUE_STRIDE)
        project = self._make_project(project_index)
        created, updated = self._times(issue_id)
        return {
            "id": issue_id,
            "_project": project["id"],
            "key": f"{project['key']}-{n + 1}",
            "_created": created,
            "_updated": updated,
        }

    def _times(self, issue_id: str) -> tuple[float, float]:
        return generated_times(self.seed, issue_id)

    def _make_issue(self, issue_id: str, project_index: int, n: int) -> Record:
        rng = rng_for(self.seed, "issue", issue_id)
        project = self._make_project(project_index)
        created, updated = self._times(issue_id)
        status, category = rng.choice(STATUSES)
        summary = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize()
        if rng.random() < 0.05:
            summary = rng.choice(TRICKY_TITLES)
        return {
            "id": issue_id,
            "key": f"{project['key']}-{n + 1}",
            "_project": project["id"],
            "_created": created,
            "_updated": updated,
            "summary": summary,
            "description": adf_doc(rng_for(self.seed, "text", issue_id), median_kb=self.text_kb)
            if rng.random() < 0.85
            else None,
            "status": status,
            "_status_category": category,
            "issuetype": rng.choice(ISSUE_TYPES),
            "priority": rng.choice(PRIORITIES),
            "labels": sorted(rng.sample(["backend", "frontend", "ux", "tech-debt", "p1"], rng.randint(0, 2))),
            "reporter": rng.choice(PEOPLE),
            "assignee": rng.choice(PEOPLE) if rng.random() < 0.7 else None,
            "customfield_10016": rng.choice([None, 1, 2, 3, 5, 8, 13]),
            "customfield_10020": rng.choice([None, *TEAMS]),
            "customfield_10030": "Customers in 🇯🇵 and 🇧🇷 affected" if rng.random() < 0.1 else None,
            **self._extras(issue_id, project_index, category),
        }

    def _extras(self, issue_id: str, project_index: int, category: str) -> Record:
        """Sprints, versions, components, resolution: from their own generator, so older fields keep theirs."""
        rng = rng_for(self.seed, "issue-extra", issue_id)
        sprints = sprint_ids(project_index)[:4]  # the future sprint has no issues yet
        chosen: list[int] = []
        if sprints and rng.random() < 0.7:
            k = rng.randrange(len(sprints))
            chosen = sprints[max(0, k - 1) : k + 1] if rng.random() < 0.3 else [sprints[k]]  # carried over
        fix = [v["id"] for v in versions(project_index) if rng.random() < 0.3]
        parts = [c["id"] for c in components(project_index) if rng.random() < 0.4]
        resolution = rng.choice(["10000", "10000", "10001", "10002"]) if category == "done" else None
        return {
            "_sprints": chosen,
            "_fix_versions": fix,
            "_components": parts,
            "_resolution": resolution,
            "creator": rng.choice(PEOPLE),
        }

    def issues(self, project_id: str) -> Iterator[Record]:
        for issue_id in self.issue_ids(project_id):
            record = self.issue(issue_id)
            if record is not None:
                yield record

    # -- children of an issue -------------------------------------------------------------------
    def _child_count(self, kind: str, issue_id: str) -> int:
        return child_count(self.seed, self.scale.attachment_rate, kind, issue_id)

    def child_ids(self, kind: str, issue_id: str) -> list[str]:
        base = int(issue_id) * stride(kind)
        key = f"{kind}s:{issue_id}"
        return [str(base + k) for k in range(self._generated_count(kind, issue_id))] + self.overlay.children(key)

    def _generated_count(self, kind: str, issue_id: str) -> int:
        record = self.overlay.changed.get(f"issue:{issue_id}")
        return 0 if record and record.get("_added") else self._child_count(kind, issue_id)

    def child(self, kind: str, child_id: str) -> Record | None:
        key = f"{kind}:{child_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key]
        issue_id, k = divmod(int(child_id), stride(kind))
        if not self._exists(str(issue_id)) or k >= self._generated_count(kind, str(issue_id)):
            return None
        return self._make_child(kind, child_id, str(issue_id), k)

    def children(self, kind: str, issue_id: str) -> list[Record]:
        return [c for c in (self.child(kind, i) for i in self.child_ids(kind, issue_id)) if c is not None]

    def _make_child(self, kind: str, child_id: str, issue_id: str, k: int) -> Record:
        rng = rng_for(self.seed, kind, child_id)
        created_issue, updated_issue = self._times(issue_id)
        created = moment(rng, after=created_issue)
        created = min(created, updated_issue)  # nothing on an issue is newer than its `updated`
        record: Record = {"id": child_id, "_issue": issue_id, "_created": created, "author": rng.choice(PEOPLE)}
        if kind == "comment":
            record.update(
                _updated=created, body=adf_doc(rng_for(self.seed, "text", child_id), median_kb=self.text_kb / 2)
            )
        elif kind == "attachment":
            filename, mime = attachment_name(rng, k)
            seed = content_seed(rng, f"jira-att{child_id}", 1)
            size = attachment_size(rng) if not seed.startswith("shared:") else 4096 + int(seed[7:])
            record.update(filename=filename, mimeType=mime, size=size, _seed=seed)
        elif kind == "worklog":
            record.update(
                _updated=created, timeSpentSeconds=rng.choice((900, 3600, 7200, 28800)), comment=adf_doc(rng, 1)
            )
        else:
            record["items"] = [status_item(*rng.sample([s for s, _ in STATUSES], 2))]
            if rng.random() < 0.3:
                before, after = rng.sample(PEOPLE, 2)
                record["items"].append(
                    {
                        "field": "assignee",
                        "fieldtype": "jira",
                        "fieldId": "assignee",
                        "from": before,
                        "fromString": f"User {before[-4:]}",
                        "to": after,
                        "toString": f"User {after[-4:]}",
                    }
                )
        return record

    # -- links, sprints, worklogs ---------------------------------------------------------------
    def links_of(self, issue_id: str) -> list[Record]:
        """The links an issue takes part in, as either end (each link shows on both issues)."""
        ids = [str(LINK_BASE + int(issue_id)), str(LINK_BASE + int(issue_id) - 1)]
        ids += self.overlay.children(f"links:{issue_id}")
        found = [self.link(i) for i in ids]
        return [x for x in found if x and issue_id in (x["inward"], x["outward"])]

    def link(self, link_id: str) -> Record | None:
        key = f"link:{link_id}"
        if key in self.overlay.changed:
            record = self.overlay.changed[key]
        elif int(link_id) >= ADDED_LINK_BASE:
            return None
        else:
            inward = str(int(link_id) - LINK_BASE)
            _, n = divmod(int(inward) - ISSUE_BASE, ISSUE_STRIDE)
            rng = rng_for(self.seed, "link", inward)
            if n + 1 >= self.scale.issues_per_project or rng.random() >= 0.2:
                return None
            record = {
                "id": link_id,
                "type": rng.choice(LINK_TYPES)[0],
                "inward": inward,
                "outward": str(int(inward) + 1),
            }
        if record is None or not (self._exists(record["inward"]) and self._exists(record["outward"])):
            return None
        return record

    def sprint(self, sprint_id: int) -> Record:
        return self.overlay.changed.get(f"sprint:{sprint_id}") or sprint_record(sprint_id)

    def worklog_changes(self) -> list[tuple[int, str]]:
        """(updated in epoch ms, id) of every worklog on a live or archived project, oldest first."""

        def build() -> list[tuple[int, str]]:
            found = []
            for project_id in self.every_project_id():
                for issue_id in self.issue_ids(project_id):
                    for worklog in self.children("worklog", issue_id) if self._exists(issue_id) else []:
                        found.append((round(worklog["_updated"] * 1000), worklog["id"]))
            return sorted(found)

        return self.cache.get(("worklog-changes",), build)

    def worklog_deletions(self) -> list[tuple[int, str]]:
        record = self.overlay.changed.get("worklogs-deleted")
        return sorted(tuple(x) for x in record["items"]) if record else []

    def fields(self) -> list[Record]:
        system = [
            "summary",
            "description",
            "status",
            "issuetype",
            "priority",
            "labels",
            "reporter",
            "assignee",
            "created",
            "updated",
            "project",
            "comment",
            "attachment",
            "worklog",
        ]
        found = [{"id": f, "key": f, "name": f.title(), "custom": False, "schema_type": "string"} for f in system]
        found += [
            {"id": c["id"], "key": c["id"], "name": c["name"], "custom": True, "schema_type": c["type"]}
            for c in CUSTOM_FIELDS
        ]
        return found


class JiraMutations:
    """The test-facing way to change Jira between two syncs; every change bumps the issue's `updated`."""

    def __init__(self, content: JiraContent) -> None:
        self.content = content
        self.overlay = content.overlay

    def _issue(self, issue_id_or_key: str) -> Record:
        issue_id = self.content.locate(issue_id_or_key)
        if issue_id is None:
            raise KeyError(f"no such issue {issue_id_or_key}")
        return dict(self.content.issue(issue_id) or {})

    def _touch(self, record: Record) -> None:
        now = self.overlay.now()
        if self.content.search_lag_s:  # until the index catches up, search sees the issue as it was
            seen = self.content.searchable(record["id"])
            before = {k: seen[k] for k in ("id", "key", "_project", "_created", "_updated")} if seen else None
            record["_indexed"] = (now + self.content.search_lag_s, before)
        record["_updated"] = now
        self.overlay.put(f"issue:{record['id']}", record)

    def edit_issue(self, issue_id_or_key: str, **fields: Any) -> Record:
        record = self._issue(issue_id_or_key)
        record.update(fields or {"summary": record["summary"] + " (edited)"})
        self._touch(record)
        return record

    def add_issue(self, project_key: str, summary: str) -> Record:
        project = self.content.project(project_key)
        if project is None:
            raise KeyError(f"no such project {project_key}")
        number = len(self.content.issue_ids(project["id"]))
        issue_id = str(ISSUE_BASE + (int(project["id"]) - PROJECT_BASE) * ISSUE_STRIDE + number)
        now = self.overlay.now()
        record: Record = {
            "id": issue_id,
            "key": f"{project['key']}-{number + 1}",
            "_project": project["id"],
            "_created": now,
            "_updated": now,
            "_added": True,
            "summary": summary,
            "description": None,
            "status": "To Do",
            "_status_category": "new",
            "issuetype": "Task",
            "priority": "Medium",
            "labels": [],
            "reporter": PEOPLE[0],
            "assignee": None,
            "customfield_10016": None,
            "customfield_10020": None,
            "customfield_10030": None,
            "_sprints": [],
            "_fix_versions": [],
            "_components": [],
            "_resolution": None,
            "creator": PEOPLE[0],
        }
        if self.content.search_lag_s:
            record["_indexed"] = (now + self.content.search_lag_s, None)
        self.overlay.put(f"issue:{issue_id}", record)
        self.overlay.add_child(f"issues:{project['id']}", issue_id)
        return record

    def delete_issue(self, issue_id_or_key: str) -> None:
        record = self._issue(issue_id_or_key)
        self.overlay.put(f"issue:{record['id']}", None)

    def add_child(self, kind: str, issue_id_or_key: str, **fields: Any) -> Record:
        issue = self._issue(issue_id_or_key)
        child_id = str(int(issue["id"]) * stride(kind) + len(self.content.child_ids(kind, issue["id"])))
        now = self.overlay.now()
        record: Record = {"id": child_id, "_issue": issue["id"], "_created": now, "_updated": now, "author": PEOPLE[3]}
        if kind == "comment":
            record["body"] = adf_doc(rng_for(0, child_id), 1)
        record.update(fields)
        self.overlay.put(f"{kind}:{child_id}", record)
        self.overlay.add_child(f"{kind}s:{issue['id']}", child_id)
        self._touch(issue)
        return record

    def edit_comment(self, comment_id: str, text: str = "edited") -> Record:
        record = dict(self.content.child("comment", comment_id) or {})
        if not record:
            raise KeyError(f"no such comment {comment_id}")
        record.update(
            body={
                "type": "doc",
                "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
            },
            _updated=self.overlay.now(),
        )
        self.overlay.put(f"comment:{comment_id}", record)
        self._touch(self._issue(record["_issue"]))
        return record

    def delete_child(self, kind: str, child_id: str) -> None:
        record = self.content.child(kind, child_id)
        if record is None:
            raise KeyError(f"no such {kind} {child_id}")
        self.overlay.put(f"{kind}:{child_id}", None)
        if kind == "worklog":  # Jira keeps a list of deleted worklog ids with the time they went
            gone = self.overlay.changed.get("worklogs-deleted") or {"items": []}
            self.overlay.put(
                "worklogs-deleted", {"items": [*gone["items"], [round(self.overlay.now() * 1000), child_id]]}
            )
        self._touch(self._issue(record["_issue"]))

    def transition(self, issue_id_or_key: str, status: str) -> Record:
        """A status change: the issue, and a changelog entry saying from what to what."""
        record = self._issue(issue_id_or_key)
        category = next(c for s, c in STATUSES if s == status)
        history = self.add_child("changelog", record["id"], items=[status_item(record["status"], status)])
        record = self._issue(record["id"])
        record.update(status=status, _status_category=category, _resolution="10000" if category == "done" else None)
        self._touch(record)
        return history

    def move_to_sprint(self, issue_id_or_key: str, sprint_id: int) -> Record:
        """Into another sprint: closed sprints stay in the field, the open one is replaced."""
        record = self._issue(issue_id_or_key)
        kept = [s for s in record["_sprints"] if self.content.sprint(s)["state"] == "closed"]
        record["_sprints"] = [*kept, sprint_id]
        self._touch(record)
        return record

    def close_sprint(self, sprint_id: int) -> Record:
        """Completing a sprint changes the sprint, not its issues' `updated`: only the board shows it."""
        record = dict(self.content.sprint(sprint_id))
        record.update(state="closed", _complete=self.overlay.now())
        self.overlay.put(f"sprint:{sprint_id}", record)
        return record

    def add_link(self, inward: str, outward: str, type_id: str = "10000") -> Record:
        a, b = self._issue(inward), self._issue(outward)
        link_id = str(ADDED_LINK_BASE + sum(1 for k in self.overlay.changed if k.startswith("link:")))
        record = {"id": link_id, "type": type_id, "inward": a["id"], "outward": b["id"]}
        self.overlay.put(f"link:{link_id}", record)
        for issue in (a, b):
            self.overlay.add_child(f"links:{issue['id']}", link_id)
            self._touch(issue)
        return record

    def archive_project(self, project_key: str) -> None:
        project = self.content.project(project_key)
        if project is None:
            raise KeyError(f"no such project {project_key}")
        self.overlay.put("archived-projects", {"ids": sorted(self.content.archived_ids() | {project["id"]})})

    def drop_from_search(self, issue_id_or_key: str) -> None:
        """An issue search no longer returns, though it still answers by id (a stale index entry)."""
        record = self._issue(issue_id_or_key)
        record["_unsearchable"] = True
        self.overlay.put(f"issue:{record['id']}", record)


@lru_cache(maxsize=1 << 16)
def generated_times(seed: int, issue_id: str) -> tuple[float, float]:
    """An issue's generated (created, updated); cached because every child and JQL scan asks for them."""
    rng = rng_for(seed, "issue-times", issue_id)
    created = moment(rng)
    return created, moment(rng, after=created)


@lru_cache(maxsize=1 << 16)
def child_count(seed: int, attachment_rate: float, kind: str, issue_id: str) -> int:
    rng = rng_for(seed, f"{kind}-count", issue_id)
    if kind == "comment":
        return rng.randint(21, 45) if rng.random() < 0.03 else rng.choice((0, 0, 1, 2, 3, 5))
    if kind == "attachment":
        return rng.randint(1, 2) if rng.random() < attachment_rate else 0
    if kind == "worklog":
        return rng.randint(1, 3) if rng.random() < 0.2 else 0
    return rng.randint(*LONG_HISTORY) if rng.random() < 0.04 else rng.randint(1, 6)  # changelog histories


def stride(kind: str) -> int:
    """Child ids are the issue's id times this plus a number; histories can run past a hundred."""
    return 1000 if kind == "changelog" else CHILD_STRIDE


def status_item(before: str, after: str) -> Record:
    """A changelog item for a status change, as Jira writes it: ids in from/to, names in the strings."""
    return {
        "field": "status",
        "fieldtype": "jira",
        "fieldId": "status",
        "from": status_by_name(before)[0],
        "fromString": before,
        "to": status_by_name(after)[0],
        "toString": after,
    }
