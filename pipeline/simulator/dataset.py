"""Deterministic, lazy generation of a fake Atlassian site's content.

Nothing is generated until asked for: every record is a pure function of (seed, kind, id), and ids
encode their container (a page id says which space it is in, a comment id which page), so the `large`
scale costs no memory until a request touches it. `FakeSite` (site.py) layers mutations on top.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime

PAGE_BASE = 100_000_000
BLOG_BASE = 300_000_000
SPACE_BASE = 2_000_000
CONTAINER_STRIDE = 100_000  # pages (or blog posts) a space can hold, added ones included
CHILD_STRIDE = 100  # comments or attachments a container can hold, added ones included
PROJECT_BASE = 10_000
ISSUE_STRIDE = 100_000
ISSUE_BASE = 10_000
LABEL_BASE = 7_000_000

EPOCH_START = datetime(2023, 1, 1, tzinfo=UTC)
EPOCH_SPAN_S = int((datetime(2026, 6, 30, tzinfo=UTC) - EPOCH_START).total_seconds())


@dataclass(frozen=True)
class Scale:
    spaces: int
    pages_per_space: int
    blogposts_per_space: int
    projects: int
    issues_per_project: int
    attachment_rate: float  # share of containers that carry attachments


SCALES: dict[str, Scale] = {
    "tiny": Scale(2, 12, 3, 2, 25, 0.4),
    "small": Scale(4, 60, 8, 3, 150, 0.25),
    "medium": Scale(10, 400, 30, 6, 1_500, 0.1),
    "large": Scale(50, 2_000, 100, 20, 10_000, 0.1),
}

WORDS = [
    "apollo",
    "borealis",
    "cirrus",
    "delta",
    "ember",
    "fjord",
    "granite",
    "harbor",
    "indigo",
    "juniper",
    "kestrel",
    "lumen",
    "meridian",
    "nimbus",
    "onyx",
    "prairie",
    "quartz",
    "riverbend",
    "sierra",
    "tundra",
    "umber",
    "vertex",
    "willow",
    "xenon",
    "yonder",
    "zephyr",
]
PEOPLE = [f"5b10ac8d82e05b22cc7d{n:04x}" for n in range(12)]
LABEL_NAMES = [
    "howto",
    "runbook",
    "architecture",
    "release-notes",
    "incident",
    "onboarding",
    "meeting-notes",
    "décision",
    "draft-review",
    "q3-okr",
    "security",
    "customer-facing",
    "表格",
    "archived-2024",
]
TRICKY_TITLES = [
    "Ünïcödé ✓ and emoji 🚀🔥",
    "Quarterly plan — “smart quotes” & <angle> brackets",
    "日本語のページ",
    "Zero-width\u200bspace and RTL \u05e9\u05dc\u05d5\u05dd",
]
HOSTILE_FILENAMES = [
    "../../etc/passwd",
    "..\\..\\windows\\system32\\config",
    "/absolute/path.txt",
    "CON.txt",
    "résumé 📎 final (2).pdf",
    "a" * 240 + ".bin",
    "dots....",
    ".hidden",
]
EXTENSIONS = {
    ".png": "image/png",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".zip": "application/zip",
    ".bin": "application/octet-stream",
}
SHARED_BLOBS = 4  # a few files (a logo, a template) attached in many places: the same bytes


def rng_for(seed: int, *parts: object) -> random.Random:
    return random.Random(f"{seed}:" + ":".join(map(str, parts)))


def iso(ts: float) -> str:
    """Confluence's timestamp form: 2024-05-01T10:00:00.123Z, and 2026-05-27T07:09:12Z on a whole second.

    Like Java's ISO_INSTANT, which leaves out a zero fraction: real sites send both forms (API_NOTES §7).
    """
    seconds, millis = divmod(round(ts * 1000), 1000)
    whole = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{millis:03d}Z" if millis else f"{whole}Z"


def on_whole_second(ts: float, item_id: str) -> float:
    """Some items' times fall on a whole second (imported, or made by a migration), so that the API
    sends them without milliseconds; chosen by id, so that no generator's random stream changes."""
    return float(int(ts)) if int(hashlib.sha256(item_id.encode()).hexdigest()[:4], 16) % 4 == 0 else ts


def moment(rng: random.Random, after: float | None = None) -> float:
    """A reproducible instant in the site's history, at millisecond precision."""
    start = after if after is not None else EPOCH_START.timestamp()
    end = EPOCH_START.timestamp() + EPOCH_SPAN_S
    return round(rng.uniform(start, max(start + 1, end)), 3)


def blob_bytes(content_seed: str, size: int) -> bytes:
    """The bytes behind an attachment: reproducible from its content seed alone."""
    digest = hashlib.sha256(content_seed.encode()).digest()
    return random.Random(digest).randbytes(size)


def attachment_size(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.05:
        return 0
    if roll < 0.055:
        return rng.randint(1_500_000, 3_000_000)  # the occasional multi-MB file
    return int(rng.lognormvariate(8.5, 1.2)) % 200_000 + 1


def attachment_name(rng: random.Random, index: int) -> tuple[str, str]:
    ext = rng.choice(sorted(EXTENSIONS))
    if rng.random() < 0.08:
        name = rng.choice(HOSTILE_FILENAMES)
        return name, EXTENSIONS.get(ext, "application/octet-stream")
    return f"{rng.choice(WORDS)}-{index}{ext}", EXTENSIONS[ext]


def content_seed(rng: random.Random, owner: str, version: int) -> str:
    if rng.random() < 0.06:
        return f"shared:{rng.randrange(SHARED_BLOBS)}"
    return f"{owner}:v{version}"


BODY_KB = 4.0  # median size of a page's storage XHTML, as on real sites: macros, tables, links, images
HUGE_SHARE = 0.01  # pages over 200 KB (pasted logs, generated tables): the tail that blocks a naive parser


def body_size(rng: random.Random, median_kb: float) -> int:
    """Bytes of XHTML for one page: log-normal around the median, with a tail of huge pages."""
    if rng.random() < HUGE_SHARE:
        return int(rng.uniform(200, 400) * 1024)
    return max(200, int(median_kb * 1024 * rng.lognormvariate(0, 0.9)))


def storage_body(rng: random.Random, title: str, attachment_titles: list[str], median_kb: float = BODY_KB) -> str:
    """Confluence storage format as editors write it: headings, paragraphs with marks and links, lists, tables,
    info and code macros (parameters, CDATA), images of the page's attachments."""
    target = body_size(rng, median_kb)
    parts = [f"<h1>{escape(title)}</h1>"]
    if rng.random() < 0.3:
        parts.append("<p>Emoji 🎉, accents é à ü, CJK 漢字, math ∑ ≠ ∞</p>")
    for name in attachment_titles[:1]:
        parts.append(f'<ac:image ac:width="600"><ri:attachment ri:filename="{escape(name)}" /></ac:image>')
    size = sum(map(len, parts))
    while size < target:
        block = rng.choice(BLOCKS)(rng)
        parts.append(block)
        size += len(block)
    return "".join(parts)


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))


def _paragraph(rng: random.Random) -> str:
    a, b, c = _words(rng, 4, 30), _words(rng, 1, 3), _words(rng, 4, 30)
    mark = rng.choice(("strong", "em", "code", "u"))
    return f"<p>{a} <{mark}>{b}</{mark}> {c} &amp; {_words(rng, 2, 8)}&nbsp;</p>"


def _link(rng: random.Random) -> str:
    page = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)}"
    return (
        f'<p>See <ac:link><ri:page ri:content-title="{page}" /><ac:plain-text-link-body><![CDATA[{page}]]>'
        f'</ac:plain-text-link-body></ac:link> and <a href="https://example.com/{rng.choice(WORDS)}">'
        f"{_words(rng, 1, 3)}</a>.</p>"
    )


def _list(rng: random.Random) -> str:
    tag = rng.choice(("ul", "ol"))
    items = "".join(f"<li><p>{_words(rng, 2, 12)}</p></li>" for _ in range(rng.randint(2, 8)))
    return f"<h2>{_words(rng, 1, 4)}</h2><{tag}>{items}</{tag}>"


def _table(rng: random.Random) -> str:
    columns = rng.randint(2, 5)
    head = "".join(f"<th><p><strong>{rng.choice(WORDS)}</strong></p></th>" for _ in range(columns))
    rows = "".join(
        "<tr>" + "".join(f"<td><p>{_words(rng, 1, 6)}</p></td>" for _ in range(columns)) + "</tr>"
        for _ in range(rng.randint(2, 12))
    )
    return f'<table data-layout="default"><colgroup><col /></colgroup><tbody><tr>{head}</tr>{rows}</tbody></table>'


def _info(rng: random.Random) -> str:
    kind = rng.choice(("info", "note", "warning", "tip"))
    return (
        f'<ac:structured-macro ac:name="{kind}" ac:schema-version="1" ac:macro-id="{rng.getrandbits(64):016x}">'
        f'<ac:parameter ac:name="title">{_words(rng, 1, 4)}</ac:parameter>'
        f"<ac:rich-text-body><p>{_words(rng, 5, 40)}</p></ac:rich-text-body></ac:structured-macro>"
    )


def _code(rng: random.Random) -> str:
    lines = "\n".join(f"{rng.choice(WORDS)} = {rng.choice(WORDS)}({rng.randint(0, 99)}) < 3" for _ in range(8))
    return (
        '<ac:structured-macro ac:name="code" ac:schema-version="1">'
        f'<ac:parameter ac:name="language">python</ac:parameter>'
        f"<ac:plain-text-body><![CDATA[{lines}]]></ac:plain-text-body></ac:structured-macro>"
    )


BLOCKS = (_paragraph, _paragraph, _paragraph, _link, _list, _table, _info, _code)


def adf_doc(rng: random.Random, sentences: int = 3, median_kb: float = 0.0) -> dict:
    """An ADF document; with `median_kb`, of a realistic size around it (paragraphs, a list, a code block)."""
    if median_kb:
        sentences = max(1, int(median_kb * 1024 * rng.lognormvariate(0, 0.9) / 160))  # ~160 B of ADF a sentence
    content: list[dict] = []
    for _ in range(max(1, sentences)):
        text = " ".join(rng.choices(WORDS, k=rng.randint(5, 25)))
        if rng.random() < 0.15:
            text += " ✅ naïve café 🐛"
        content.append({"type": "paragraph", "content": [{"type": "text", "text": text}]})
        if median_kb and rng.random() < 0.1:
            items = [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": w}]}]}
                for w in rng.choices(WORDS, k=3)
            ]
            content.append({"type": "bulletList", "content": items})
    return {"type": "doc", "version": 1, "content": content}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
