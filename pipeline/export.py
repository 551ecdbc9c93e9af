"""Export the store for a warehouse: one file per table (Parquet, CSV or JSON lines) and a manifest.

Column types are stable, taken from the schema rather than guessed from the data: INTEGER -> int64,
REAL -> float64, TEXT -> string, BLOB -> binary, and columns that hold times (by name: *_at, *_date,
created, updated, started, valid_from, valid_to) -> timestamps in UTC. JSON columns stay strings, as warehouses
load them (JSON / VARIANT / jsonb). All tables are read in one read transaction, so the files agree with
each other even while a sync is writing.

CSV and JSON lines need only the standard library; Parquet needs pyarrow, the optional extra
`pip install 'atlassian-to-sqlite[export]'`. In CSV an empty field is NULL and times are ISO 8601 UTC
strings; in JSON lines times are the same strings.

Incremental (`since_run`): only the rows that runs after `since_run` inserted, changed, deleted or restored,
found through the history table; tables history does not cover are written whole and the manifest says so.
"""

from __future__ import annotations

import csv
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from .errors import ConfigError
from .history import key_sql, tracked_tables
from .times import parse as parse_time
from .times import stamp

FORMATS = ("parquet", "csv", "jsonl")
TIME_COLUMN = re.compile(r"(_at|_date|^created|^updated|^started|^valid_from|^valid_to)$")
CHUNK = 5000
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # int64 | float64 | string | binary | timestamp


def columns_of(conn: sqlite3.Connection, table: str) -> list[Column]:
    found = []
    for _, name, declared, *_ in conn.execute(f"PRAGMA table_info([{table}])"):
        declared = (declared or "").upper()
        if "INT" in declared:
            kind = "int64"
        elif any(t in declared for t in ("REAL", "FLOA", "DOUB")):
            kind = "float64"
        elif "BLOB" in declared:
            kind = "binary"
        else:
            kind = "timestamp" if TIME_COLUMN.search(name) else "string"
        found.append(Column(name, kind))
    return found


def exportable_tables(conn: sqlite3.Connection) -> list[str]:
    """Every real table: content, history and the sync's own records; not full-text indexes."""
    virtual = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL%'")]
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%' "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    )
    return [n for (n,) in names if not any(n.startswith(v + "_") for v in virtual)]


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else stamp(moment)


def selection(
    conn: sqlite3.Connection, table: str, since_run: int | None, tracked: dict[str, tuple[str, ...]]
) -> tuple[str, tuple]:
    """The SQL condition choosing the rows to write, and whether the table is written whole."""
    if since_run is None:
        return "1 = 1", ()
    if table in tracked:
        return (
            f"{key_sql(tracked[table])} IN "
            "(SELECT id FROM history WHERE table_name = ? AND valid_to IS NULL AND run_id > ?)",
            (table, since_run),
        )
    if table == "history":
        started = conn.execute("SELECT MIN(started_at) FROM sync_runs WHERE id > ?", (since_run,)).fetchone()[0]
        return "run_id > ? OR valid_to >= ?", (since_run, started or "9999")
    if table == "sync_runs":
        return "id > ?", (since_run,)
    return "1 = 1", ()


def without_rowid(conn: sqlite3.Connection, table: str) -> bool:
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    return "WITHOUT ROWID" in sql.upper()


def export_store(
    db: Path, out: Path, fmt: str, tables: list[str] | None = None, since_run: int | None = None
) -> dict[str, Any]:
    """Write the chosen tables (default: all) to `out` in `fmt`; return the manifest, also written there."""
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    writer_for = writer(fmt)
    if not db.exists():
        raise ConfigError(f"no database at {db}: run `atlassian-to-sqlite sync` first (or pass --db)")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        conn.execute("BEGIN")  # one snapshot for every table
        available = exportable_tables(conn)
        chosen = tables or available
        unknown = sorted(set(chosen) - set(available))
        if unknown:
            raise ConfigError(f"no table {', '.join(unknown)} in {db}; the tables are: {', '.join(available)}")
        tracked = tracked_tables(conn)
        last = conn.execute("SELECT MAX(id) FROM sync_runs WHERE finished_at IS NOT NULL").fetchone()[0]
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"cannot write to {out} ({error.strerror}): choose another folder with --out") from None
        entries = [export_table(conn, table, out, fmt, writer_for, since_run, tracked) for table in chosen]
    finally:
        conn.close()
    manifest = {
        "source": str(db),
        "run_id": last,
        "since_run": since_run,
        "format": fmt,
        "exported_at": iso(datetime.now(UTC)),
        "tables": entries,
    }
    (out / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest


def export_table(conn, table, out, fmt, writer_for, since_run, tracked) -> dict[str, Any]:
    columns = columns_of(conn, table)
    if without_rowid(conn, table):
        keys = [r[1] for r in sorted(conn.execute(f"PRAGMA table_info([{table}])"), key=lambda r: r[5]) if r[5]]
        order = ", ".join(f"[{k}]" for k in keys)
    else:
        order = "rowid"
    where, params = selection(conn, table, since_run, tracked)
    names = ", ".join(f"[{c.name}]" for c in columns)
    cursor = conn.execute(f"SELECT {names} FROM [{table}] WHERE {where} ORDER BY {order}", params)
    unread: dict[str, int] = {}
    chunks = (convert(chunk, columns, unread) for chunk in iter(lambda: cursor.fetchmany(CHUNK), []))
    path = out / f"{table}.{fmt}"
    partial = path.with_name(path.name + ".part")
    rows = writer_for(partial, columns, chunks)
    os.replace(partial, path)
    entry = {
        "table": table,
        "file": path.name,
        "rows": rows,
        "columns": [{"name": c.name, "type": c.kind} for c in columns],
        "whole": since_run is None or where == "1 = 1",
    }
    if unread:
        entry["times_not_understood"] = unread
    return entry


def convert(chunk: list[tuple], columns: list[Column], unread: dict[str, int]) -> list[tuple]:
    """Times become datetimes; the rest is already the type the column declares."""
    times = [i for i, c in enumerate(columns) if c.kind == "timestamp"]
    if not times:
        return chunk
    out = []
    for row in chunk:
        values = list(row)
        for i in times:
            moment = parse_time(values[i])
            if moment is None and values[i] not in (None, ""):
                unread[columns[i].name] = unread.get(columns[i].name, 0) + 1
            values[i] = moment
        out.append(tuple(values))
    return out


# -- writers: (path, columns, chunks of rows) -> number of rows written --------------------------------
def writer(fmt: str):
    if fmt == "csv":
        return write_csv
    if fmt == "jsonl":
        return write_jsonl
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError(
            "Parquet needs the export extra: pip install 'atlassian-to-sqlite[export]' "
            "(or export --format csv or jsonl, which need nothing more)"
        ) from None
    return write_parquet


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def write_csv(path: Path, columns: list[Column], chunks) -> int:
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow([c.name for c in columns])
        for chunk in chunks:
            out.writerows([["" if v is None else plain(v) for v in row] for row in chunk])
            count += len(chunk)
    return count


def write_jsonl(path: Path, columns: list[Column], chunks) -> int:
    names = [c.name for c in columns]
    count = 0
    with open(path, "wb") as handle:
        for chunk in chunks:
            for row in chunk:
                handle.write(orjson.dumps(dict(zip(names, map(plain, row), strict=True))) + b"\n")
            count += len(chunk)
    return count


def write_parquet(path: Path, columns: list[Column], chunks) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {
        "int64": pa.int64(),
        "float64": pa.float64(),
        "string": pa.string(),
        "binary": pa.binary(),
        "timestamp": pa.timestamp("ms", tz="UTC"),
    }
    schema = pa.schema([pa.field(c.name, types[c.kind]) for c in columns])
    count = 0
    with pq.ParquetWriter(path, schema) as out:
        for chunk in chunks:
            arrays = [column_array(pa, [row[i] for row in chunk], schema.field(i).type) for i in range(len(columns))]
            out.write_table(pa.Table.from_arrays(arrays, schema=schema))
            count += len(chunk)
        if count == 0:
            out.write_table(schema.empty_table())
    return count


def column_array(pa, values: list, kind):
    """SQLite lets a value differ from its column's declared type; such a value is written as its text."""
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        if kind != pa.string():
            raise
        return pa.array([None if v is None else str(plain(v)) for v in values], type=kind)
