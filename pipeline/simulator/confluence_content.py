"""The fake site's Confluence: spaces, pages, blog posts, comments, attachments, labels, versions.

Records are API-shaped dicts (v2 field names) with a few private keys starting with `_` (the storage
body, the attachment's content seed) that the API layer turns into response fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from .confluence_tree import TreeContent
from .dataset import (
    BLOG_BASE,
    BODY_KB,
    CHILD_STRIDE,
    CONTAINER_STRIDE,
    LABEL_BASE,
    LABEL_NAMES,
    PAGE_BASE,
    PEOPLE,
    SPACE_BASE,
    TRICKY_TITLES,
    WORDS,
    Scale,
    attachment_name,
    attachment_size,
    content_seed,
    escape,
    iso,
    moment,
    on_whole_second,
    rng_for,
    storage_body,
)
from .overlay import Overlay, RevisionCache

COMMENT_BASE = 100_000_000_000
Record = dict[str, Any]
LISTED_BY_DEFAULT = ("current", "archived")  # v2 listings without `status`, per the spec
SPACE_TYPES = ("global", "knowledge_base", "onboarding", "global", "collaboration")  # all seen on real sites


class ConfluenceContent:
    def __init__(self, seed: int, scale: Scale, overlay: Overlay, body_kb: float = BODY_KB) -> None:
        self.seed, self.scale, self.overlay = seed, scale, overlay
        self.body_kb = body_kb  # the median page body
        self.cache = RevisionCache(overlay)
        self.tree = TreeContent(self)

    # -- spaces ---------------------------------------------------------------------------------
    def space_ids(self) -> list[str]:
        return [str(SPACE_BASE + i) for i in range(self.scale.spaces)]

    def space(self, space_id: str) -> Record | None:
        index = int(space_id) - SPACE_BASE
        if not 0 <= index < self.scale.spaces:
            return None
        return self.overlay.get(f"space:{space_id}", lambda: self._make_space(index))

    def _make_space(self, i: int) -> Record:
        rng = rng_for(self.seed, "space", i)
        word = WORDS[i % len(WORDS)]
        key = (word[:3] + (str(i // len(WORDS)) if i >= len(WORDS) else "")).upper()
        personal = i == self.scale.spaces - 1 and self.scale.spaces > 2
        return {
            "id": str(SPACE_BASE + i),
            "key": f"~{PEOPLE[i % len(PEOPLE)][:8]}" if personal else key,
            "name": f"{word.title()} space" + (" 🌍" if i % 3 == 1 else ""),
            "type": "personal" if personal else SPACE_TYPES[i % len(SPACE_TYPES)],
            "status": "archived" if i == 1 and self.scale.spaces > 3 else "current",
            "authorId": rng.choice(PEOPLE),
            "createdAt": iso(moment(rng)),
            "homepageId": str(PAGE_BASE + i * CONTAINER_STRIDE),
            "description": {"plain": {"value": f"All about {word}", "representation": "plain"}},
        }

    # -- pages and blog posts ---------------------------------------------------------------------
    def content_ids(self, kind: str, space_id: str) -> list[str]:
        index = int(space_id) - SPACE_BASE
        base = PAGE_BASE if kind == "page" else BLOG_BASE
        count = self.scale.pages_per_space if kind == "page" else self.scale.blogposts_per_space
        generated = [str(base + index * CONTAINER_STRIDE + j) for j in range(count)]
        return generated + self.overlay.children(f"{kind}s:{space_id}")

    def all_content_ids(self, kind: str) -> list[str]:
        """Every page (or blog post) id of the site in id order, added ones included."""
        return self.cache.get(
            ("ids", kind),
            lambda: sorted((cid for sid in self.space_ids() for cid in self.content_ids(kind, sid)), key=int),
        )

    def content(self, content_id: str) -> Record | None:
        number = int(content_id) if content_id.isdigit() else -1
        kind = "page" if PAGE_BASE <= number < BLOG_BASE else "blogpost"
        base = PAGE_BASE if kind == "page" else BLOG_BASE
        space_index, j = divmod(number - base, CONTAINER_STRIDE)
        count = self.scale.pages_per_space if kind == "page" else self.scale.blogposts_per_space
        key = f"{kind}:{content_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key]
        if number < PAGE_BASE or not (0 <= space_index < self.scale.spaces and 0 <= j < count):
            return None
        return self._make_content(kind, content_id, space_index, j)

    def _make_content(self, kind: str, content_id: str, space_index: int, j: int) -> Record:
        rng = rng_for(self.seed, kind, content_id)
        created = on_whole_second(moment(rng), content_id)
        status = self._generated_status(content_id, j)
        title = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {j}"
        if rng.random() < 0.05:
            title = f"{rng.choice(TRICKY_TITLES)} {j}"
        # the body names the attachments the page was made with; later uploads do not rewrite it
        attachments = [
            self._make_attachment(att_id, content_id, k)["title"]
            for k, att_id in enumerate(self._generated_attachment_ids(content_id))
        ]
        record: Record = {
            "id": content_id,
            "status": status,
            "title": title,
            "spaceId": str(SPACE_BASE + space_index),
            "authorId": rng.choice(PEOPLE),
            "createdAt": iso(created),
            "version": self._version(rng, created, rng.randint(1, 8)),
            # the body draws from its own generator: its size does not change the rest of the site
            "_body": storage_body(rng_for(self.seed, "body", content_id), title, attachments, self.body_kb),
        }
        if kind == "page":
            base = int(content_id) - j
            if j == 0 or rng.random() < 0.05:
                parent = None
            elif rng.random() < 0.4:
                parent = str(base + j - 1)  # long chains make deep trees
            else:
                parent = str(base + rng.randrange(j))
            if parent and self._generated_status(parent, int(parent) - base) == "draft":
                parent = None  # an unpublished draft has no published children
            parent_type = "page" if parent else None
            under_node = self.tree.page_parent(content_id, j)
            if under_node:
                parent, parent_type = under_node
            record.update(
                parentId=parent,
                parentType=parent_type,
                position=j,
                ownerId=record["authorId"],
                lastOwnerId=None,
            )
        return record

    def _generated_status(self, content_id: str, j: int) -> str:
        roll = rng_for(self.seed, "status", content_id).random()
        if j == 0 or roll > 0.12:
            return "current"
        if roll >= 0.08:
            return "draft"
        return "archived" if self.kind_of(content_id) == "page" else "current"  # blog posts cannot be archived

    def status(self, content_id: str) -> str | None:
        """A content item's status without generating it (None when purged or unknown)."""
        key = f"{self.kind_of(content_id)}:{content_id}"
        if key in self.overlay.changed:
            record = self.overlay.changed[key]
            return record["status"] if record else None
        base = PAGE_BASE if self.kind_of(content_id) == "page" else BLOG_BASE
        return self._generated_status(content_id, (int(content_id) - base) % CONTAINER_STRIDE)

    def _version(self, rng: Any, created: float, number: int) -> Record:
        return {
            "number": number,
            "createdAt": iso(moment(rng, after=created) if number > 1 else created),
            "message": "" if rng.random() < 0.7 else "tidied up ✏️",
            "minorEdit": rng.random() < 0.2,
            "authorId": rng.choice(PEOPLE),
        }

    def contents(self, kind: str, space_id: str | None = None) -> Iterator[Record]:
        ids = self.content_ids(kind, space_id) if space_id else self.all_content_ids(kind)
        for content_id in ids:
            record = self.content(content_id)
            if record is not None:
                yield record

    def visible_content_ids(self, kind: str) -> Iterator[str]:
        return (i for i in self.all_content_ids(kind) if self.status(i) in LISTED_BY_DEFAULT)

    def page_base(self, space_id: str) -> int:
        return PAGE_BASE + (int(space_id) - SPACE_BASE) * CONTAINER_STRIDE

    def space_of(self, content_id: str) -> str:
        base = PAGE_BASE if self.kind_of(content_id) == "page" else BLOG_BASE
        return str(SPACE_BASE + (int(content_id) - base) // CONTAINER_STRIDE)

    def kind_of(self, content_id: str) -> str:
        return "page" if PAGE_BASE <= int(content_id) < BLOG_BASE else "blogpost"

    def versions(self, content_id: str) -> list[Record]:
        """Every version of a page or blog post, oldest first: generated ones, then those kept by edits."""
        record = self.content(content_id)
        if record is None:
            return []
        kept = [{k: v for k, v in h.items() if k != "_body"} for h in record.get("_history", [])]
        first_kept = kept[0]["number"] if kept else record["version"]["number"]
        return [*(self._old_version(record, n) for n in range(1, first_kept)), *kept, record["version"]]

    def _old_version(self, record: Record, number: int) -> Record:
        rng = rng_for(self.seed, "versions", record["id"], number)
        generated_latest = (record.get("_history") or [record["version"]])[0]
        start = datetime.fromisoformat(record["createdAt"].replace("Z", "+00:00")).timestamp()
        end = datetime.fromisoformat(generated_latest["createdAt"].replace("Z", "+00:00")).timestamp()
        at = start + (end - start) * (number - 1) / max(1, generated_latest["number"] - 1)
        return {
            "number": number,
            "createdAt": iso(round(at, 3)),
            "message": "" if rng.random() < 0.7 else "tidied up ✏️",
            "minorEdit": rng.random() < 0.2,
            "authorId": rng.choice(PEOPLE),
        }

    def version_body(self, record: Record, number: int) -> str | None:
        """The storage body a version had (None for a version that never was)."""
        if number == record["version"]["number"]:
            return record["_body"]
        for kept in record.get("_history", []):
            if kept["number"] == number:
                return kept["_body"]
        if not 1 <= number < record["version"]["number"]:
            return None
        return f"<p>{escape(record['title'])}, as it was at version {number}</p>"

    # -- comments -------------------------------------------------------------------------------
    def _added(self, container_id: str) -> bool:
        """Pages and blog posts made by a test start with no comments, attachments or labels."""
        record = self.overlay.changed.get(f"{self.kind_of(container_id)}:{container_id}")
        return bool(record and record.get("_added"))

    def comment_ids(self, container_id: str) -> list[str]:
        rng = rng_for(self.seed, "comments", container_id)
        count = 0 if rng.random() < 0.45 or self._added(container_id) else rng.randint(1, 6)
        base = COMMENT_BASE + int(container_id) * CHILD_STRIDE
        return [str(base + k) for k in range(count)] + self.overlay.children(f"comments:{container_id}")

    def comment(self, comment_id: str) -> Record | None:
        key = f"comment:{comment_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key]
        container_num, k = divmod(int(comment_id) - COMMENT_BASE, CHILD_STRIDE)
        container_id = str(container_num)
        if container_num < PAGE_BASE or comment_id not in self.comment_ids(container_id)[: k + 1]:
            return None
        return self._make_comment(comment_id, container_id, k)

    def _make_comment(self, comment_id: str, container_id: str, k: int) -> Record:
        rng = rng_for(self.seed, "comment", comment_id)
        inline = self._generated_kind(comment_id) == "inline"
        parent = None
        if k > 0 and rng.random() < 0.4:
            parent_id = str(int(comment_id) - rng.randint(1, k))
            if self._generated_kind(parent_id) == ("inline" if inline else "footer"):
                parent = parent_id  # a reply threads under an earlier comment of its own kind
        created = on_whole_second(moment(rng), comment_id)
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30)))
        record: Record = {
            "id": comment_id,
            "status": "current",
            "title": f"Re: comment {k}",
            "parentCommentId": parent,
            "version": self._version(rng, created, rng.randint(1, 2)),
            "_kind": "inline" if inline else "footer",
            "_container": container_id,
            "_body": f"<p>{words}{' 👍' if rng.random() < 0.2 else ''}</p>",
        }
        if inline:
            record["resolutionStatus"] = "resolved" if rng.random() < 0.3 else "open"
            record["_marker"] = uuid.UUID(int=rng.getrandbits(128)).hex
        return record

    def _generated_kind(self, comment_id: str) -> str:
        return "inline" if rng_for(self.seed, "comment-kind", comment_id).random() < 0.3 else "footer"

    def comments(self, container_id: str) -> Iterator[Record]:
        for comment_id in self.comment_ids(container_id):
            record = self.comment(comment_id)
            if record is not None:
                yield record

    def all_comments(self, kind: str) -> list[Record]:
        """Every live comment of one kind on visible content, in id order, as light entries (cached)."""

        def build() -> list[Record]:
            found = []
            for content_kind in ("page", "blogpost"):
                for container_id in self.visible_content_ids(content_kind):
                    found.extend(light(c) for c in self.comments(container_id) if c["_kind"] == kind)
            return found

        return self.cache.get(("comments", kind), build)

    # -- attachments ----------------------------------------------------------------------------
    def attachment_ids(self, container_id: str) -> list[str]:
        return self._generated_attachment_ids(container_id) + self.overlay.children(f"attachments:{container_id}")

    def _generated_attachment_ids(self, container_id: str) -> list[str]:
        rng = rng_for(self.seed, "attachments", container_id)
        count = rng.randint(1, 3) if rng.random() < self.scale.attachment_rate and not self._added(container_id) else 0
        base = int(container_id) * CHILD_STRIDE
        return [f"att{base + k}" for k in range(count)]

    def attachment(self, attachment_id: str) -> Record | None:
        key = f"attachment:{attachment_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key]
        if not attachment_id.startswith("att") or not attachment_id[3:].isdigit():
            return None
        container_num, k = divmod(int(attachment_id[3:]), CHILD_STRIDE)
        if attachment_id not in self.attachment_ids(str(container_num)):
            return None
        return self._make_attachment(attachment_id, str(container_num), k)

    def _make_attachment(self, attachment_id: str, container_id: str, k: int) -> Record:
        rng = rng_for(self.seed, "attachment", attachment_id)
        title, media_type = attachment_name(rng, k)
        created = on_whole_second(moment(rng), attachment_id)
        version = rng.randint(1, 3)
        seed = content_seed(rng, attachment_id, version)
        return {
            "id": attachment_id,
            "status": "current",
            "title": title,
            "createdAt": iso(created),
            "mediaType": media_type,
            "mediaTypeDescription": media_type.split("/")[-1].upper(),
            "comment": "" if rng.random() < 0.7 else "uploaded from the desktop app",
            "fileId": str(uuid.UUID(int=rng.getrandbits(128))),
            "fileSize": attachment_size(rng) if not seed.startswith("shared:") else 4096 + int(seed[7:]),
            "version": self._version(rng, created, version),
            "_container": container_id,
            "_seed": seed,
        }

    def attachments_of(self, container_id: str) -> list[Record]:
        return [a for a in map(self.attachment, self.attachment_ids(container_id)) if a is not None]

    def all_attachments(self) -> list[Record]:
        def build() -> list[Record]:
            found = []
            for content_kind in ("page", "blogpost"):
                for container_id in self.visible_content_ids(content_kind):
                    found.extend(light(a) for a in self.attachments_of(container_id))
            return found

        return self.cache.get(("attachments",), build)

    # -- labels ---------------------------------------------------------------------------------
    def labels_of(self, container_id: str) -> list[Record]:
        key = f"labels:{container_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key] or []
        if self._added(container_id):
            return []
        rng = rng_for(self.seed, "labels", container_id)
        picks = sorted(rng.sample(range(len(LABEL_NAMES)), rng.choice((0, 0, 1, 1, 2, 3))))
        return [label(i) for i in picks]

    def all_labels(self) -> list[Record]:
        return [label(i) for i in range(len(LABEL_NAMES))]

    def containers_with_label(self, kind: str, label_id: str) -> list[Record]:
        def build() -> dict[str, list[Record]]:
            index: dict[str, list[Record]] = {}
            for record in self.contents(kind):
                for lab in self.labels_of(record["id"]):
                    index.setdefault(lab["id"], []).append(light(record))
            return index

        return self.cache.get(("label-index", kind), build).get(label_id, [])


LIGHT_KEYS = (
    "id",
    "status",
    "title",
    "spaceId",
    "createdAt",
    "mediaType",
    "parentCommentId",
    "_kind",
    "_container",
    "_seed",
    "fileSize",
    "_container_unnamed",
)


def light(record: Record) -> Record:
    """What listings filter and sort on, without bodies: caches of a large site hold only this."""
    entry = {k: record[k] for k in LIGHT_KEYS if k in record}
    entry["version"] = {"number": record["version"]["number"], "createdAt": record["version"]["createdAt"]}
    return entry


def label(index: int) -> Record:
    return {"id": str(LABEL_BASE + index), "name": LABEL_NAMES[index], "prefix": "global"}


class ConfluenceMutations:
    """The test-facing way to change Confluence between two syncs, as people do on a real site."""

    def __init__(self, content: ConfluenceContent) -> None:
        self.content = content
        self.overlay = content.overlay

    def _bump(self, record: Record, message: str = "") -> None:
        number = record["version"]["number"] + 1
        record["version"] = {
            "number": number,
            "createdAt": iso(self.overlay.now()),
            "message": message,
            "minorEdit": False,
            "authorId": PEOPLE[0],
        }

    def _require(self, record: Record | None, what: str) -> Record:
        if record is None:
            raise KeyError(f"no such {what}")
        return dict(record)

    def _keep(self, record: Record) -> None:
        """The version about to be replaced stays readable, as Confluence keeps every version."""
        record["_history"] = [*record.get("_history", []), {**record["version"], "_body": record["_body"]}]

    def edit(self, content_id: str, title: str | None = None, body: str | None = None) -> Record:
        record = self._require(self.content.content(content_id), "page or blog post")
        self._keep(record)
        if title is not None:
            record["title"] = title
        record["_body"] = body if body is not None else record["_body"] + "<p>edited ✎</p>"
        self._bump(record, "edited")
        self.overlay.put(f"{self.content.kind_of(content_id)}:{content_id}", record)
        return record

    def add(self, kind: str, space_id: str, title: str, parent_id: str | None = None) -> Record:
        base = (PAGE_BASE if kind == "page" else BLOG_BASE) + (int(space_id) - SPACE_BASE) * CONTAINER_STRIDE
        content_id = str(base + len(self.content.content_ids(kind, space_id)))
        now = iso(self.overlay.now())
        record: Record = {
            "id": content_id,
            "status": "current",
            "title": title,
            "spaceId": space_id,
            "authorId": PEOPLE[0],
            "createdAt": now,
            "version": {"number": 1, "createdAt": now, "message": "", "minorEdit": False, "authorId": PEOPLE[0]},
            "_body": f"<p>{title} — new</p>",
            "_added": True,
        }
        if kind == "page":
            record.update(
                parentId=parent_id,
                parentType="page" if parent_id else None,
                position=0,
                ownerId=PEOPLE[0],
                lastOwnerId=None,
            )
        self.overlay.put(f"{kind}:{content_id}", record)
        self.overlay.add_child(f"{kind}s:{space_id}", content_id)
        return record

    def set_status(self, content_id: str, status: str) -> Record:
        """trashed, current (restore), archived; status changes bump the version as Confluence does."""
        record = self._require(self.content.content(content_id), "page or blog post")
        if status == "archived" and self.content.kind_of(content_id) == "blogpost":
            raise ValueError("blog posts cannot be archived")
        self._keep(record)
        record["status"] = status
        self._bump(record, status)
        self.overlay.put(f"{self.content.kind_of(content_id)}:{content_id}", record)
        return record

    def purge(self, content_id: str) -> None:
        self._require(self.content.content(content_id), "page or blog post")
        self.overlay.put(f"{self.content.kind_of(content_id)}:{content_id}", None)

    def add_comment(self, container_id: str, kind: str = "footer", parent_id: str | None = None) -> Record:
        self._require(self.content.content(container_id), "page or blog post")
        k = len(self.content.comment_ids(container_id))
        comment_id = str(COMMENT_BASE + int(container_id) * CHILD_STRIDE + k)
        now = iso(self.overlay.now())
        record: Record = {
            "id": comment_id,
            "status": "current",
            "title": "Re: new",
            "parentCommentId": parent_id,
            "version": {"number": 1, "createdAt": now, "message": "", "minorEdit": False, "authorId": PEOPLE[1]},
            "_kind": kind,
            "_container": container_id,
            "_body": "<p>a new comment 💬</p>",
        }
        if kind == "inline":
            record.update(resolutionStatus="open", _marker=f"marker{comment_id}")
        self.overlay.put(f"comment:{comment_id}", record)
        self.overlay.add_child(f"comments:{container_id}", comment_id)
        return record

    def edit_comment(self, comment_id: str, body: str = "<p>edited comment</p>") -> Record:
        record = self._require(self.content.comment(comment_id), "comment")
        record["_body"] = body
        self._bump(record)
        self.overlay.put(f"comment:{comment_id}", record)
        return record

    def delete_comment(self, comment_id: str) -> None:
        self._require(self.content.comment(comment_id), "comment")
        self.overlay.put(f"comment:{comment_id}", None)

    def add_attachment(self, container_id: str, title: str, data_seed: str, size: int) -> Record:
        self._require(self.content.content(container_id), "page or blog post")
        k = len(self.content.attachment_ids(container_id))
        attachment_id = f"att{int(container_id) * CHILD_STRIDE + k}"
        now = iso(self.overlay.now())
        record: Record = {
            "id": attachment_id,
            "status": "current",
            "title": title,
            "createdAt": now,
            "mediaType": "application/octet-stream",
            "mediaTypeDescription": "BIN",
            "comment": "",
            "fileId": str(uuid.uuid5(uuid.NAMESPACE_URL, attachment_id)),
            "fileSize": size,
            "version": {"number": 1, "createdAt": now, "message": "", "minorEdit": False, "authorId": PEOPLE[2]},
            "_container": container_id,
            "_seed": data_seed,
        }
        self.overlay.put(f"attachment:{attachment_id}", record)
        self.overlay.add_child(f"attachments:{container_id}", attachment_id)
        return record

    def replace_attachment(self, attachment_id: str, data_seed: str, size: int) -> Record:
        record = self._require(self.content.attachment(attachment_id), "attachment")
        record.update(_seed=data_seed, fileSize=size)
        self._bump(record)
        self.overlay.put(f"attachment:{attachment_id}", record)
        return record

    def unname_container(self, attachment_id: str) -> Record:
        """The attachment is listed without pageId, blogPostId or customContentId, as the v2 schema allows
        for a container of another kind: the sync cannot know where to download it from."""
        record = self._require(self.content.attachment(attachment_id), "attachment")
        record["_container_unnamed"] = True
        self.overlay.put(f"attachment:{attachment_id}", record)
        return record

    def delete_attachment(self, attachment_id: str) -> None:
        self._require(self.content.attachment(attachment_id), "attachment")
        self.overlay.put(f"attachment:{attachment_id}", None)

    def set_labels(self, container_id: str, names: list[str]) -> None:
        labels = [label(LABEL_NAMES.index(name)) for name in names]
        self.overlay.put(f"labels:{container_id}", labels)
