"""Attachment bytes, content-addressed: {root}/{sha256[0:2]}/{sha256}.

Bytes stream into a temporary file under {root}/.partial while being hashed; only a complete file
whose size matches is renamed into place, so a crash never leaves a partial file at a final path, the
same bytes attached twice are stored once, and no name from the API ever becomes part of a path.
"""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from .errors import DiskFull, UnexpectedResponse


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    new: bool  # False when the same bytes were already stored


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.partial = root / ".partial"

    def prepare(self) -> None:
        """Create the folders and clear partial files a killed run left behind."""
        self.partial.mkdir(parents=True, exist_ok=True)
        for leftover in self.partial.iterdir():
            leftover.unlink(missing_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def writer(self) -> BlobWriter:
        return BlobWriter(self)


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
        os.replace(self.temp, final)
        return StoredBlob(digest, self.size, new=True)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def discard(self) -> None:
        self.close()
        self.temp.unlink(missing_ok=True)

    def _guard(self, action):
        try:
            return action()
        except OSError as error:
            self.close()
            self.temp.unlink(missing_ok=True)
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull(
                    f"the disk holding {self.store.root} is full: free some space and run again; "
                    "everything synced so far is kept"
                ) from None
            raise
