"""Failures a test sets on a running fake cloud and lifts when it likes, beyond the seeded faults that come
and go: what a real site does to a nightly backup for days on end.

- a listing that fails (HTTP 500) on every request, whatever the retry budget (`failing_paths`);
- issues `issue/bulkfetch` cannot return (`issueErrors`, which the spec calls retriable), always for
  chosen ids, or for a seeded share of ids in every answer;
- people `users-bulk` no longer returns (an account closed since it was named);
- attachments whose download answers 403 (the account may not read them) or 404, either deleted between
  the listing and the download (their metadata answers 404 too) or hidden (attachments disabled, or
  restricted: the metadata still answers).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from .responses import json_response

DOWNLOADS = (
    re.compile(r"/child/attachment/(?P<id>[^/]+)/download$"),
    re.compile(r"/rest/api/3/attachment/content/(?P<id>[^/]+)$"),
)
METADATA = (re.compile(r"/wiki/api/v2/attachments/(?P<id>[^/]+)$"), re.compile(r"/rest/api/3/attachment/(?P<id>\d+)$"))


@dataclass
class Troubles:
    failing_paths: set[str] = field(default_factory=set)  # path substrings answered 500, every time
    vanished_paths: set[str] = field(default_factory=set)  # path substrings answered 404 (deleted meanwhile)
    issue_errors: set[str] = field(default_factory=set)  # issue ids bulkfetch lists in issueErrors
    issue_error_share: float = 0.0  # and this share of the others, drawn anew in every answer
    forbidden_attachments: set[str] = field(default_factory=set)  # downloads answered 403
    gone_attachments: set[str] = field(default_factory=set)  # downloads and metadata answered 404 (deleted)
    hidden_attachments: set[str] = field(default_factory=set)  # downloads 404, metadata fine (disabled, restricted)
    # path substring -> a change made just before the first request whose path holds it is answered: what
    # happens on a site while a run is under way (a page edited between its listing and its versions)
    meanwhile: dict[str, Callable[[], object]] = field(default_factory=dict)
    bodiless_versions: set[str] = field(default_factory=set)  # "content id:number" answered with an empty body
    unreturned_people: set[str] = field(default_factory=set)  # account ids POST /users-bulk leaves out (closed since)
    seed: int = 1
    dealt: int = 0  # how many answers these troubles spoiled

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed * 104729 + 3)

    def refuse(self, path: str) -> web.Response | None:
        """An answer that replaces the real one, or None."""
        for part in [p for p in self.meanwhile if p in path]:
            self.meanwhile.pop(part)()
        if any(part in path for part in self.failing_paths):
            self.dealt += 1
            return json_response({"errorMessages": ["Internal server error"], "errors": {}}, 500)
        if any(part in path for part in self.vanished_paths):
            self.dealt += 1
            return json_response({"errorMessages": ["Issue does not exist or you do not have permission."]}, 404)
        for pattern in DOWNLOADS:
            found = pattern.search(path)
            if found and found["id"] in self.forbidden_attachments:
                self.dealt += 1
                return json_response({"errorMessages": ["You do not have permission to view this attachment."]}, 403)
            if found and found["id"] in self.gone_attachments | self.hidden_attachments:
                self.dealt += 1
                return json_response({"errorMessages": ["The attachment does not exist."]}, 404)
        for pattern in METADATA:
            found = pattern.search(path)
            if found and found["id"] in self.gone_attachments:
                return json_response({"errorMessages": ["The attachment does not exist."]}, 404)
        return None

    def unreturned(self, ids: list[str]) -> set[str]:
        """The ids one bulkfetch answer lists in issueErrors instead of returning them."""
        chosen = {i for i in ids if i in self.issue_errors or self.rng.random() < self.issue_error_share}
        self.dealt += len(chosen)
        return chosen

    def clear(self) -> None:
        self.failing_paths.clear()
        self.vanished_paths.clear()
        self.issue_errors.clear()
        self.issue_error_share = 0.0
        self.forbidden_attachments.clear()
        self.gone_attachments.clear()
        self.hidden_attachments.clear()
        self.unreturned_people.clear()
        self.meanwhile.clear()
        self.bodiless_versions.clear()
