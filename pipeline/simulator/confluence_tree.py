"""The fake site's page tree beyond pages: folders, whiteboards, databases and embeds ("nodes").

Every space holds a few nodes: an empty folder and an empty whiteboard at its root (only CQL finds
those), folders holding pages, nodes under nodes and under pages, and one archived folder (which CQL
cannot see). Acyclic by construction: every item has a position in its space (a page its index, node m
the position m * pages / nodes), and a parent always sits at a smaller position.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dataset import CONTAINER_STRIDE, PEOPLE, SPACE_BASE, WORDS, iso, moment, rng_for

if TYPE_CHECKING:
    from .confluence_content import ConfluenceContent

NODE_BASE = 500_000_000
NODE_TYPES = ("folder", "whiteboard", "database", "embed")
FIXED_TYPES = ("folder", "whiteboard", "folder", "database", "embed", "folder")  # every space has each kind
ARCHIVED_NODE = 5  # a folder that is archived: invisible to CQL, reached only through its children
Record = dict[str, Any]


class TreeContent:
    def __init__(self, content: ConfluenceContent) -> None:
        self.content = content
        self.seed, self.scale, self.overlay = content.seed, content.scale, content.overlay

    # -- which nodes --------------------------------------------------------------------------------
    def generated_count(self) -> int:
        return 6 + self.scale.pages_per_space // 20

    def node_ids(self, space_id: str) -> list[str]:
        index = int(space_id) - SPACE_BASE
        base = NODE_BASE + index * CONTAINER_STRIDE
        return [str(base + m) for m in range(self.generated_count())] + self.overlay.children(f"nodes:{space_id}")

    def all_node_ids(self) -> list[str]:
        return self.content.cache.get(
            ("node-ids",), lambda: [n for s in self.content.space_ids() for n in self.node_ids(s)]
        )

    def is_node_id(self, node_id: str) -> bool:
        return node_id.isdigit() and NODE_BASE <= int(node_id) < NODE_BASE + 100 * CONTAINER_STRIDE * 10

    def node(self, node_id: str) -> Record | None:
        if not self.is_node_id(node_id):
            return None
        key = f"node:{node_id}"
        if key in self.overlay.changed:
            return self.overlay.changed[key]
        space_index, m = divmod(int(node_id) - NODE_BASE, CONTAINER_STRIDE)
        if not (0 <= space_index < self.scale.spaces and 0 <= m < self.generated_count()):
            return None
        return self._make_node(node_id, space_index, m)

    def nodes(self) -> list[Record]:
        return [n for n in map(self.node, self.all_node_ids()) if n is not None]

    # -- generation -----------------------------------------------------------------------------
    def _position(self, m: int) -> float:
        return m * self.scale.pages_per_space / self.generated_count()

    def _make_node(self, node_id: str, space_index: int, m: int) -> Record:
        rng = rng_for(self.seed, "node", node_id)
        kind = FIXED_TYPES[m] if m < len(FIXED_TYPES) else rng.choice(("folder", "folder", *NODE_TYPES))
        created = moment(rng)
        space_id = str(SPACE_BASE + space_index)
        parent_id, parent_type = None, None
        roll = rng.random()
        if m >= 3 and roll < 0.35:
            parent_id = str(NODE_BASE + space_index * CONTAINER_STRIDE + rng.randrange(2, m))
            parent_type = self._generated_type(parent_id)
        elif m >= 3 and roll < 0.65:
            page_j = rng.randrange(int(self._position(m)) + 1)
            page_id = str(self.content.page_base(space_id) + page_j)
            if page_j < self.scale.pages_per_space and self.content.status(page_id) != "draft":
                parent_id, parent_type = page_id, "page"
        author = rng.choice(PEOPLE)
        title = f"{kind.title()} {rng.choice(WORDS)} {m}" + (" 📁" if kind == "folder" and m % 4 == 0 else "")
        return {
            "id": node_id,
            "type": kind,
            "status": "archived" if m == ARCHIVED_NODE else "current",
            "title": title,
            "parentId": parent_id,
            "parentType": parent_type,
            "position": m,
            "authorId": author,
            "ownerId": author,
            "createdAt": iso(created),
            "spaceId": space_id,
            "version": {
                "number": 1,
                "createdAt": iso(created),
                "message": "",
                "minorEdit": False,
                "authorId": author,
            },
        }

    def _generated_type(self, node_id: str) -> str:
        record = self.node(node_id)
        return record["type"] if record else "folder"

    def page_parent(self, page_id: str, j: int) -> tuple[str, str] | None:
        """Some pages sit under a node placed before them (never under the two empty root nodes)."""
        rng = rng_for(self.seed, "tree-parent", page_id)
        space_id = self.content.space_of(page_id)
        space_base = NODE_BASE + (int(space_id) - SPACE_BASE) * CONTAINER_STRIDE
        if j == self.scale.pages_per_space - 1:  # the archived folder still holds a page
            return str(space_base + ARCHIVED_NODE), "folder"
        if j == 0 or rng.random() >= 0.2:
            return None
        candidates = [m for m in range(2, self.generated_count()) if self._position(m) < j]
        if not candidates:
            return None
        node_id = str(space_base + rng.choice(candidates))
        return node_id, self._generated_type(node_id)

    # -- the hierarchy --------------------------------------------------------------------------
    def children_index(self) -> dict[str, list[Record]]:
        """parent id -> direct children (listed pages and live nodes), as light entries."""

        def build() -> dict[str, list[Record]]:
            index: dict[str, list[Record]] = {}
            for page in self.content.contents("page"):
                if page["status"] in ("current", "archived") and page.get("parentId"):
                    index.setdefault(page["parentId"], []).append(child_entry(page, "page"))
            for node in self.nodes():
                if node["status"] in ("current", "archived") and node.get("parentId"):
                    index.setdefault(node["parentId"], []).append(child_entry(node, node["type"]))
            return index

        return self.content.cache.get(("children-index",), build)

    def children(self, parent_id: str) -> list[Record]:
        return self.children_index().get(parent_id, [])

    def kind_of_any(self, item_id: str) -> str | None:
        """page, blogpost, or a node type; None when unknown."""
        node = self.node(item_id)
        if node is not None:
            return node["type"]
        if item_id.isdigit() and self.content.content(item_id) is not None:
            return self.content.kind_of(item_id)
        return None


def child_entry(record: Record, kind: str) -> Record:
    return {
        "id": record["id"],
        "status": record["status"],
        "title": record["title"],
        "type": kind,
        "spaceId": record["spaceId"],
        "childPosition": record.get("position"),
    }


class TreeMutations:
    """Moves, renames, deletions and additions of nodes, and moves of pages into them."""

    def __init__(self, tree: TreeContent) -> None:
        self.tree = tree
        self.overlay = tree.overlay
        self.content = tree.content

    def _save(self, record: Record, message: str) -> Record:
        record["version"] = {
            "number": record["version"]["number"] + 1,
            "createdAt": iso(self.overlay.now()),
            "message": message,
            "minorEdit": False,
            "authorId": PEOPLE[0],
        }
        self.overlay.put(f"node:{record['id']}", record)
        return record

    def _node(self, node_id: str) -> Record:
        record = self.tree.node(node_id)
        if record is None:
            raise KeyError(f"no node {node_id}")
        return dict(record)

    def add_node(self, kind: str, space_id: str, title: str, parent_id: str | None = None) -> Record:
        if kind not in NODE_TYPES:
            raise ValueError(f"unknown node type {kind}")
        node_id = str(NODE_BASE + (int(space_id) - SPACE_BASE) * CONTAINER_STRIDE + len(self.tree.node_ids(space_id)))
        now = iso(self.overlay.now())
        record = {
            "id": node_id,
            "type": kind,
            "status": "current",
            "title": title,
            "parentId": parent_id,
            "parentType": self.tree.kind_of_any(parent_id) if parent_id else None,
            "position": 0,
            "authorId": PEOPLE[0],
            "ownerId": PEOPLE[0],
            "createdAt": now,
            "spaceId": space_id,
            "version": {"number": 1, "createdAt": now, "message": "", "minorEdit": False, "authorId": PEOPLE[0]},
        }
        self.overlay.put(f"node:{node_id}", record)
        self.overlay.add_child(f"nodes:{space_id}", node_id)
        return record

    def rename_node(self, node_id: str, title: str) -> Record:
        record = self._node(node_id)
        record["title"] = title
        return self._save(record, "renamed")

    def move_node(self, node_id: str, parent_id: str | None) -> Record:
        record = self._node(node_id)
        record["parentId"] = parent_id
        record["parentType"] = self.tree.kind_of_any(parent_id) if parent_id else None
        return self._save(record, "moved")

    def delete_node(self, node_id: str) -> None:
        """Gone for good; its children move up to its parent, as Confluence does."""
        record = self._node(node_id)
        self.reparent_children(node_id, record.get("parentId"), record.get("parentType"))
        self.overlay.put(f"node:{node_id}", None)

    def reparent_children(self, old_parent: str, parent_id: str | None, parent_type: str | None) -> None:
        for child in list(self.tree.children(old_parent)):
            if child["type"] == "page":
                page = dict(self.content.content(child["id"]))
                page.update(parentId=parent_id, parentType=parent_type)
                self.overlay.put(f"page:{page['id']}", page)
            else:
                node = self._node(child["id"])
                node.update(parentId=parent_id, parentType=parent_type)
                self.overlay.put(f"node:{node['id']}", node)

    def move_page(self, page_id: str, parent_id: str | None) -> Record:
        """A page moved under another page or a node: its version stays, its parent changes."""
        page = dict(self.content.content(page_id) or {})
        if not page:
            raise KeyError(f"no page {page_id}")
        page.update(parentId=parent_id, parentType=self.tree.kind_of_any(parent_id) if parent_id else None)
        self.overlay.put(f"page:{page_id}", page)
        return page
