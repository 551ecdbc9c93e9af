"""People: the display name and account type of every account id the Confluence tables mention.

Authors, owners, version authors, commenters, task creators, assignees and completers are stored as
account ids. `POST /users-bulk` names them, 250 a request, and only the ids not yet known or not
refreshed for a week (names change rarely; a quiet night asks nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ...context import SyncContext
from ...store import Batch, dumps, now_iso
from .rows import V2, Row

BULK = 250  # the most account ids POST /users-bulk takes
REFRESH = timedelta(days=7)
MENTIONED = """
SELECT author_id FROM confluence_pages UNION SELECT json_extract(raw, '$.ownerId') FROM confluence_pages
UNION SELECT author_id FROM confluence_blogposts UNION SELECT author_id FROM confluence_comments
UNION SELECT author_id FROM confluence_versions
UNION SELECT created_by FROM confluence_tasks UNION SELECT assigned_to FROM confluence_tasks
UNION SELECT completed_by FROM confluence_tasks
UNION SELECT author_id FROM confluence_folders UNION SELECT owner_id FROM confluence_folders
UNION SELECT author_id FROM confluence_whiteboards UNION SELECT owner_id FROM confluence_whiteboards
UNION SELECT author_id FROM confluence_databases UNION SELECT owner_id FROM confluence_databases
UNION SELECT author_id FROM confluence_embeds UNION SELECT owner_id FROM confluence_embeds
"""


def user_row(item: Row, refreshed_at: str) -> Row:
    """A person. account_id first: the store upserts on it."""
    return {
        "account_id": str(item["accountId"]),
        "display_name": item.get("displayName") or item.get("publicName"),
        "account_type": item.get("accountType"),
        "public_name": item.get("publicName"),
        "email": item.get("email") or None,
        "account_status": item.get("accountStatus"),
        "time_zone": item.get("timeZone"),
        "raw": dumps(item),
        "refreshed_at": refreshed_at,
    }


async def sync_people(ctx: SyncContext) -> None:
    stamp = now_iso()
    stale_before = (datetime.now(UTC) - REFRESH).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    wanted = [account_id for (account_id,) in ctx.db.execute(WANTED, (stale_before,))]
    for start in range(0, len(wanted), BULK):
        chunk = wanted[start : start + BULK]
        response = await ctx.client.post("confluence", f"{V2}/users-bulk", {"accountIds": chunk})
        found = response.data.get("results") if isinstance(response.data, dict) else None
        rows = [user_row(item, stamp) for item in found or [] if isinstance(item, dict) and item.get("accountId")]
        # an id the site does not return (a removed account) is remembered too, so it is not asked nightly;
        # one already named keeps its name: only its status and refresh time move
        missing = set(chunk) - {r["account_id"] for r in rows}
        known = {
            r[0]
            for r in ctx.lookup(
                "SELECT account_id FROM confluence_users WHERE account_id IN ({marks})", sorted(missing)
            )
        }
        rows += [{**user_row({"accountId": m}, stamp), "account_status": "unknown"} for m in sorted(missing - known)]
        batches = [Batch("confluence_users", rows)] if rows else []
        if known:
            kept = [{"account_id": m, "account_status": "unknown", "refreshed_at": stamp} for m in sorted(known)]
            batches.append(Batch("confluence_users", kept))
        for batch in batches:
            await ctx.emit(batch)


WANTED = (
    f"WITH mentioned(id) AS ({MENTIONED}) SELECT id FROM mentioned WHERE id IS NOT NULL AND id != '' "
    "AND id NOT IN (SELECT account_id FROM confluence_users WHERE refreshed_at >= ?) ORDER BY id"
)
