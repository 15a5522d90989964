"""Lock IDs saved by ``taco unit lock``/``acquire`` for later commands.

They live under ``.taco/locks/`` in the working directory, so a lock belongs to
the checkout that took it: ``push``, ``unlock``, ``release`` and ``restore``
run from the same directory find it, and another directory (another person's
checkout, a CI job) does not. Files are keyed by server and unit, readable by
the owner only (0600), written atomically, and ``.taco/`` carries a
``.gitignore`` so a lock ID is never committed by accident.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path

from taco_cli.errors import LocalFileError
from taco_core.model import LockInfo
from taco_core.unit_id import encode_path_id


class SavedLocks:
    """The lock IDs one directory holds on one server (``origin``)."""

    def __init__(self, root: Path, origin: str) -> None:
        self.root = root
        self.origin = origin
        slug = re.sub(r"[^A-Za-z0-9.-]+", "_", origin).strip("_")[:60]
        digest = hashlib.sha256(origin.encode()).hexdigest()[:8]
        self.folder = root / "locks" / f"{slug}-{digest}"

    def path(self, unit_id: str) -> Path:
        # encode_path_id is unambiguous: '__' appears in no ID except the reserved prefix.
        return self.folder / f"{encode_path_id(unit_id)}.json"

    def get(self, unit_id: str) -> str | None:
        """The saved lock ID for the unit, or ``None``."""
        path = self.path(unit_id)
        try:
            doc = json.loads(path.read_text())
            lock_id = doc["lock"]["id"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LocalFileError(
                f"cannot read the saved lock file {path}: {exc}; delete it if it is damaged"
            ) from None
        if doc.get("origin") != self.origin or doc.get("unit") != unit_id:
            return None
        return str(lock_id)

    def save(self, unit_id: str, lock: LockInfo) -> Path:
        doc = {
            "origin": self.origin,
            "unit": unit_id,
            "lock": {"id": lock.id, "who": lock.who, "created": lock.created},
        }
        path = self.path(unit_id)
        try:
            self._prepare()
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f, indent=2)
                f.write("\n")
            os.replace(tmp, path)
        except OSError as exc:
            raise LocalFileError(f"cannot save the lock ID in {path}: {exc}") from None
        return path

    def forget(self, unit_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(unit_id).unlink()

    def _prepare(self) -> None:
        for folder in (self.root, self.folder.parent, self.folder):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# lock IDs saved by taco; never commit them\n*\n")
