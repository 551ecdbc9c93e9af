"""Two syncs sharing one attachments folder never delete each other's downloads in progress."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from pipeline.blobs import BlobStore

DIE_MID_DOWNLOAD = """
import os, signal, sys
from pathlib import Path
from pipeline.blobs import BlobStore
store = BlobStore(Path(sys.argv[1]))
store.prepare()
writer = store.writer()
writer.write(b"half of a download")
writer.handle.flush()
print(writer.temp, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_second_store_on_the_same_folder_leaves_the_first_ones_download_alone(tmp_path):
    first = BlobStore(tmp_path)
    first.prepare()
    writer = first.writer()
    writer.write(b"bytes still arriving")
    second = BlobStore(tmp_path)
    second.prepare()  # a second sync starting, into another database, while the first downloads
    assert writer.temp.exists(), "the first sync's partial file survived the second one's start"
    writer.write(b", and more")
    stored = writer.commit(len(b"bytes still arriving, and more"))
    assert first.path(stored.sha256).read_bytes() == b"bytes still arriving, and more"
    assert stored.sha256 == hashlib.sha256(b"bytes still arriving, and more").hexdigest()
    assert first.partial != second.partial
    first.close()
    assert not first.partial and second.partial.is_dir(), "closing one removes only its own folder"
    second.close()
    assert list((tmp_path / ".partial").iterdir()) == []


def test_a_killed_processs_partial_files_are_cleared_by_the_next_start(tmp_path):
    repo = Path(__file__).resolve().parent.parent
    killed = subprocess.run(
        [sys.executable, "-c", DIE_MID_DOWNLOAD, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        timeout=60,
    )
    assert killed.returncode == -9, killed.stderr
    leftover = Path(killed.stdout.strip())
    assert leftover.read_bytes() == b"half of a download"
    live = BlobStore(tmp_path)
    live.prepare()
    assert not leftover.exists() and not leftover.parent.exists(), "a dead process's folder is removed"
    assert {p.name for p in (tmp_path / ".partial").iterdir()} == {live.partial.name, live.partial.name + ".lock"}
    live.close()


def test_loose_partial_files_from_an_older_version_are_cleared_once_stale(tmp_path):
    partials = tmp_path / ".partial"
    partials.mkdir()
    stale, fresh = partials / "old.part", partials / "young.part"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(stale, (0, 0))
    store = BlobStore(tmp_path)
    store.prepare()
    assert not stale.exists() and fresh.exists(), "a recently written one may be an older version's live download"
    store.close()
