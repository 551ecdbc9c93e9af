"""Attachment bytes, content-addressed: {root}/{sha256[0:2]}/{sha256}.

Bytes stream into a temporary file while being hashed; only a complete file whose size matches is
renamed into place, so a crash never leaves a partial file at a final path, the same bytes attached twice
are stored once, and no name from the API ever becomes part of a path.

Several syncs may share one attachments folder (one per database). Each keeps its temporary files in a
folder of its own, {root}/.partial/{pid}-{random}/, beside a lock file {pid}-{random}.lock it holds (flock)
for as long as it runs. `prepare()` removes only folders whose lock is free: what a killed process left
behind, never a live one's work.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import secrets
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .errors import DiskFull, UnexpectedResponse

T = TypeVar("T")
LEGACY_AGE_S = 3600  # loose files in .partial come from older versions; one this old is no live download


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    new: bool  # False when the same bytes were already stored


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.partials = root / ".partial"
        self.partial: Path | None = None  # this process's folder for temporary files, made by prepare()
        self._lock_fd: int | None = None

    def prepare(self) -> None:
        """Create the folders, claim a folder for this process's partial files, and clear dead ones'."""
        try:
            self.partials.mkdir(parents=True, exist_ok=True)
            self._clear_dead()
            self._claim()
        except OSError as error:
            raise_if_full(error, self.root)
            raise

    def _claim(self) -> None:
        while self.partial is None:
            name = f"{os.getpid()}-{secrets.token_hex(4)}"
            lock = self.partials / f"{name}.lock"
            # a lock file, not the folder itself: over NFS an exclusive flock needs a file open for writing
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _same_file(fd, lock):  # a concurrent prepare() took it for a dead one's before we locked it
                os.close(fd)
                continue
            (self.partials / name).mkdir()
            self.partial, self._lock_fd = self.partials / name, fd

    def _clear_dead(self) -> None:
        for entry in self.partials.iterdir():
            with suppress(FileNotFoundError):  # another process may be clearing the same leftovers
                if entry.suffix == ".lock":
                    _clear_if_unlocked(entry)
                elif entry.is_dir():
                    if not entry.with_name(entry.name + ".lock").exists():  # its lock always comes first
                        shutil.rmtree(entry, ignore_errors=True)
                elif time.time() - entry.stat().st_mtime > LEGACY_AGE_S:
                    entry.unlink()

    def close(self) -> None:
        """Remove this process's partial folder, then its lock."""
        if self.partial is not None:
            shutil.rmtree(self.partial, ignore_errors=True)
            with suppress(OSError):
                self.partial.with_name(self.partial.name + ".lock").unlink()
            self.partial = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def writer(self) -> BlobWriter:
        if self.partial is None:
            raise RuntimeError("BlobStore.prepare() must run before a download")
        return BlobWriter(self)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _clear_if_unlocked(lock: Path) -> None:
    """Remove a partial folder and its lock if no live process holds the lock (its owner was killed)."""
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return
    try:
        shutil.rmtree(lock.with_suffix(""), ignore_errors=True)
        lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


class BlobWriter:
    """One download in progress. `reset()` starts over (a retry); `commit()` verifies and publishes."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.temp = store.partial / f"{uuid.uuid4().hex}.part"
        self.handle = None
        self.reset()

    def reset(self) -> None:
        self.close()
        self.hash = hashlib.sha256()
        self.size = 0
        self.handle = self._guard(lambda: open(self.temp, "wb"))  # noqa: SIM115 - closed in close()

    def write(self, chunk: bytes) -> None:
        self._guard(lambda: self.handle.write(chunk))
        self.hash.update(chunk)
        self.size += len(chunk)

    def commit(self, expected_size: int | None) -> StoredBlob:
        self._guard(self.handle.flush)
        self._guard(lambda: os.fsync(self.handle.fileno()))
        self.close()
        if expected_size is not None and self.size != expected_size:
            self.discard()
            raise UnexpectedResponse(f"download ended at {self.size} bytes, expected {expected_size}")
        digest = self.hash.hexdigest()
        final = self.store.path(digest)
        if final.is_file():
            self.discard()
            return StoredBlob(digest, self.size, new=False)
        self._guard(lambda: final.parent.mkdir(parents=True, exist_ok=True))
        self._guard(lambda: os.replace(self.temp, final))
        return StoredBlob(digest, self.size, new=True)

    def close(self) -> None:
        """Close the temporary file (closing flushes, so it too can meet a full disk)."""
        if self.handle is not None:
            handle, self.handle = self.handle, None
            self._guard(handle.close)

    def discard(self) -> None:
        self._drop()

    def _drop(self) -> None:
        """Let go of the temporary file whatever state it is in; never raises."""
        handle, self.handle = self.handle, None
        if handle is not None:
            with suppress(OSError):
                handle.close()
        with suppress(OSError):
            self.temp.unlink(missing_ok=True)

    def _guard(self, action: Callable[[], T]) -> T:
        """Run a file operation; on failure drop the temporary file, and a full disk becomes DiskFull."""
        try:
            return action()
        except OSError as error:
            self._drop()
            raise_if_full(error, self.store.root)
            raise


def raise_if_full(error: OSError, root: Path) -> None:
    """A full disk (or quota) becomes DiskFull, the message a user can act on."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DiskFull(
            f"the disk holding {root} is full: free some space and run again; everything synced so far is kept"
        ) from None
