"""Plain text from Confluence storage XHTML and Atlassian Document Format, for full-text search."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import orjson

BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "br", "div", "pre", "blockquote", "td", "th"}
SKIP = {"ac:parameter", "script", "style"}


class _Storage(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP:
            self.skipping += 1
        elif tag in BLOCKS:
            self.parts.append("\n")
        elif tag == "ri:attachment":
            name = dict(attrs).get("ri:filename")
            if name:
                self.parts.append(f" {name} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP and self.skipping:
            self.skipping -= 1
        elif tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def from_storage(xhtml: str | None) -> str | None:
    """`<h1>Plan</h1><p>Ship &amp; tell</p>` -> `Plan\\nShip & tell`."""
    if not xhtml:
        return None
    parser = _Storage()
    parser.feed(xhtml)
    parser.close()
    return tidy("".join(parser.parts))


def from_adf(doc: Any) -> str | None:
    """The text of an ADF document (a dict, or a JSON string as Confluence sends it)."""
    if isinstance(doc, str):
        try:
            doc = orjson.loads(doc)
        except orjson.JSONDecodeError:
            return doc
    if not isinstance(doc, dict):
        return None
    parts: list[str] = []
    _walk(doc, parts)
    return tidy("".join(parts)) or None


def _walk(node: Any, parts: list[str]) -> None:
    if isinstance(node, list):
        for child in node:
            _walk(child, parts)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "text":
        parts.append(str(node.get("text", "")))
    elif kind in ("mention", "emoji", "status"):
        attrs = node.get("attrs") or {}
        parts.append(str(attrs.get("text") or attrs.get("shortName") or ""))
    elif kind == "hardBreak":
        parts.append("\n")
    _walk(node.get("content"), parts)
    if kind in ("paragraph", "heading", "listItem", "codeBlock", "blockquote", "tableRow"):
        parts.append("\n")


def tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)
