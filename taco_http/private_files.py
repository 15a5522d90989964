"""Finding the service's files that other local users can reach.

The SQLite file holds every state and the key that signs access tokens; the
admin-token file holds an admin credential. The service creates them private
(folder 0700, files 0600, and ``opentacosvc`` runs with umask 077), but files
from an older release, a restore from backup or a hand-made folder may be
wider: the service then says so at start, naming each one and the fix,
rather than changing permissions an operator may have chosen.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable, Iterator
from pathlib import Path


def exposed(folder: Path, files: Iterable[Path]) -> Iterator[str]:
    """A warning for ``folder`` and each existing file of ``files`` that
    group or others may access."""
    for path, private in ((folder, 0o700), *((f, 0o600) for f in files)):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            kind = "folder" if path.is_dir() else "file"
            yield (
                f"the {kind} {path} is accessible to other users (mode {mode:04o}); it holds "
                f"credentials and states: chmod {private:o} {path}"
            )
