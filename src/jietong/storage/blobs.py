"""The blob port: attachment bytes on disk (default) or object storage, by opaque key."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from jietong.core.ids import new_id


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store `data` durably and return its key."""
        ...

    def get(self, key: str) -> bytes:
        """Return the bytes for `key`; KeyError if there are none."""
        ...


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def put(self, data: bytes) -> str:
        key = new_id()
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write, fsync, rename: a reader never sees a half-written file.
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        return path.read_bytes()

    def _path(self, key: str) -> Path:
        if len(key) != 32 or not all(c in "0123456789abcdef" for c in key):
            raise KeyError(key)
        digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
        return self._root / digest[:2] / key
