"""The fake Confluence's inline tasks and people: `GET /tasks` and `POST /users-bulk`.

Tasks live in pages and blog posts. Adding or removing one is an edit of its page (a new version), as in
Confluence; ticking one off is not (the page keeps its version; the task gets `completedAt`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .dataset import PEOPLE, WORDS, iso, moment, rng_for
from .responses import cursor_page, invalid_parameter, json_response, multi

if TYPE_CHECKING:
    from .confluence_content import ConfluenceContent
    from .troubles import Troubles

TASK_BASE = 200_000_000_000
TASK_STRIDE = 100
APP_ACCOUNTS = {PEOPLE[-1]}  # an automation's account: accountType "app"
Record = dict[str, Any]


def person(account_id: str) -> Record | None:
    if account_id not in PEOPLE:
        return None
    index = PEOPLE.index(account_id)
    name = f"{WORDS[index].title()} {WORDS[-index - 1].title()}" + (" 🤖" if account_id in APP_ACCOUNTS else "")
    return {
        "accountId": account_id,
        "accountType": "app" if account_id in APP_ACCOUNTS else "atlassian",
        "accountStatus": "active",
        "displayName": name,
        "publicName": name.split()[0],
        "email": "" if index % 3 else f"{WORDS[index]}@example.com",  # privacy settings hide most
        "timeZone": "Europe/Berlin",
        "isExternalCollaborator": False,
        "profilePicture": {"path": f"/wiki/aa-avatar/{account_id}", "width": 48, "height": 48, "isDefault": False},
    }


def epoch_ms(stamp: str | None) -> int | None:
    return round(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000) if stamp else None


class TaskContent:
    def __init__(self, content: ConfluenceContent) -> None:
        self.content = content
        self.seed, self.overlay = content.seed, content.overlay

    def task_ids(self, container_id: str) -> list[str]:
        rng = rng_for(self.seed, "tasks", container_id)
        count = rng.randint(1, 3) if rng.random() < 0.3 and not self.content._added(container_id) else 0
        base = TASK_BASE + int(container_id) * TASK_STRIDE
        return [str(base + k) for k in range(count)] + self.overlay.children(f"tasks:{container_id}")

    def task(self, task_id: str) -> Record | None:
        key = f"task:{task_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key]
        container, k = divmod(int(task_id) - TASK_BASE, TASK_STRIDE)
        if task_id not in self.task_ids(str(container)):
            return None
        return self._make_task(task_id, str(container), k)

    def _make_task(self, task_id: str, container_id: str, k: int) -> Record:
        rng = rng_for(self.seed, "task", task_id)
        created = moment(rng)
        done = rng.random() < 0.4
        completed = moment(rng, after=created) if done else None
        record = self.content.content(container_id) or {}
        return {
            "id": task_id,
            "localId": str(k + 1),
            "spaceId": record.get("spaceId"),
            "status": "complete" if done else "incomplete",
            "createdBy": rng.choice(PEOPLE),
            "assignedTo": rng.choice(PEOPLE) if rng.random() < 0.6 else None,
            "completedBy": rng.choice(PEOPLE) if done else None,
            "createdAt": iso(created),
            "updatedAt": iso(completed or created),
            "dueAt": iso(moment(rng, after=created)) if rng.random() < 0.5 else None,
            "completedAt": iso(completed) if completed else None,
            "_container": container_id,
            "_body": f"<p>{' '.join(rng.choices(WORDS, k=4))}</p>",
        }

    def tasks(self) -> list[Record]:
        """Every task on listed pages and blog posts, in id order (cached until the next change)."""

        def build() -> list[Record]:
            found = []
            for kind in ("page", "blogpost"):
                for container_id in self.content.visible_content_ids(kind):
                    found += [t for t in map(self.task, self.task_ids(container_id)) if t is not None]
            return sorted(found, key=lambda t: int(t["id"]))

        return self.content.cache.get(("tasks",), build)


class PeopleMutations:
    """Tasks added, ticked off and removed, as people do."""

    def __init__(self, tasks: TaskContent, edit: Callable[..., Record]) -> None:
        self.tasks, self.edit = tasks, edit
        self.overlay = tasks.overlay

    def add_task(self, container_id: str, assignee: str | None = None) -> Record:
        k = len(self.tasks.task_ids(container_id))
        task_id = str(TASK_BASE + int(container_id) * TASK_STRIDE + k)
        now = iso(self.overlay.now())
        page = self.edit(container_id)  # the task is written into the page: a new version
        record = {
            "id": task_id,
            "localId": str(k + 1),
            "spaceId": page["spaceId"],
            "status": "incomplete",
            "createdBy": PEOPLE[2],
            "assignedTo": assignee,
            "completedBy": None,
            "createdAt": now,
            "updatedAt": now,
            "dueAt": None,
            "completedAt": None,
            "_container": container_id,
            "_body": "<p>a new task ☑</p>",
        }
        self.overlay.put(f"task:{task_id}", record)
        self.overlay.add_child(f"tasks:{container_id}", task_id)
        return record

    def complete_task(self, task_id: str) -> Record:
        """Ticked off in the page: the page's version does not move."""
        record = dict(self.tasks.task(task_id) or {})
        now = iso(self.overlay.now())
        record.update(status="complete", completedBy=PEOPLE[3], completedAt=now, updatedAt=now)
        self.overlay.put(f"task:{task_id}", record)
        return record

    def remove_task(self, task_id: str) -> None:
        record = self.tasks.task(task_id)
        self.edit(record["_container"])  # deleted from the page's body: a new version
        self.overlay.put(f"task:{task_id}", None)


class PeopleApi:
    def __init__(self, tasks: TaskContent, site_url: str) -> None:
        self.tasks, self.site_url = tasks, site_url
        self.troubles: Troubles | None = None  # set by the server

    def shape_task(self, request: web.Request) -> Callable[[Record], Record]:
        def shape(record: Record) -> Record:
            out = {k: v for k, v in record.items() if not k.startswith("_") and v is not None}
            kind = self.tasks.content.kind_of(record["_container"])
            out["pageId" if kind == "page" else "blogPostId"] = record["_container"]
            if request.query.get("body-format") == "storage":
                out["body"] = {"storage": {"representation": "storage", "value": record["_body"]}}
            return out

        return shape

    async def list_tasks(self, request: web.Request) -> web.Response:
        records = self.tasks.tasks()
        status = request.query.get("status")
        if status not in (None, "complete", "incomplete"):
            raise invalid_parameter(f"Invalid status '{status}'")
        lists = {name: set(multi(request, name)) for name in ("task-id", "space-id", "page-id", "blogpost-id")}
        for name, values in lists.items():
            if len(values) > 250:
                raise invalid_parameter(f"'{name}' takes at most 250 values")
        containers = lists["page-id"] | lists["blogpost-id"]
        ranges = {field: self._range(request, param) for field, param in RANGES.items()}
        found = [
            r
            for r in records
            if (status is None or r["status"] == status)
            and (not lists["task-id"] or r["id"] in lists["task-id"])
            and (not lists["space-id"] or r["spaceId"] in lists["space-id"])
            and (not containers or r["_container"] in containers)
            and all(_within(epoch_ms(r[field]), low, high) for field, (low, high) in ranges.items())
        ]
        return cursor_page(request, found, self.shape_task(request), self.site_url)

    @staticmethod
    def _range(request: web.Request, param: str) -> tuple[int | None, int | None]:
        def value(name: str) -> int | None:
            raw = request.query.get(name)
            if raw is None:
                return None
            if not raw.isdigit():
                raise invalid_parameter(f"'{name}' must be epoch milliseconds")
            return int(raw)

        return value(f"{param}-from"), value(f"{param}-to")

    async def users_bulk(self, request: web.Request) -> web.Response:
        body = await request.json()
        ids = body.get("accountIds") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= 250:
            raise invalid_parameter("accountIds must list 1 to 250 account ids")
        left_out = self.troubles.unreturned_people if self.troubles else set()
        found = [p for p in map(person, dict.fromkeys(ids)) if p is not None and p["accountId"] not in left_out]
        return json_response({"results": found, "_links": {"base": f"{self.site_url}/wiki"}})

    def routes(self) -> list[tuple[str, str, Callable]]:
        return [
            ("GET", "/wiki/api/v2/tasks", self.list_tasks),
            ("POST", "/wiki/api/v2/users-bulk", self.users_bulk),
        ]


RANGES = {"createdAt": "created-at", "dueAt": "due-at", "completedAt": "completed-at"}


def _within(value: int | None, low: int | None, high: int | None) -> bool:
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)
