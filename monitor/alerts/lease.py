"""Who holds an alert's lease, and whether that process is still alive.

A deliverer claims an alert with a lease before it sends it, so two processes sharing a database
never send it at once. If the process dies mid-send (SIGKILL, power cut) the lease would block the
alert until it expires. Each deliverer therefore holds an exclusive ``flock`` on a file of its
own, next to the database (``<db>-leases/<token>.lock``); the kernel drops that lock when the
process dies, however it dies. Another deliverer that can take the lock knows the owner is gone
and may take over its leases at once: the alert is sent again with the same ``webhook-id``.

Where this cannot work (an in-memory database, a system without ``fcntl``, a folder that cannot
be written) the owner's token says so and leases simply expire.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: leases expire instead
    fcntl = None  # type: ignore[assignment]

__all__ = ["LeaseOwner"]

log = logging.getLogger(__name__)

TRACKED = "f-"  # token prefix of an owner with a lock file; other owners are never presumed dead


class LeaseOwner:
    """This process's identity on the leases it takes. ``close()`` when done."""

    def __init__(self, db_path: str) -> None:
        self._fd: int | None = None
        self._path: Path | None = None
        self._dir: Path | None = None
        nonce = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.token = "x-" + nonce
        if fcntl is None or not db_path or db_path == ":memory:" or db_path.startswith("file:"):
            return
        folder = Path(db_path + "-leases")
        try:
            folder.mkdir(exist_ok=True)
            path = folder / f"{TRACKED}{nonce}.lock"
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            log.warning("cannot keep a lease lock in %s (%s): a crashed run's alerts wait for their lease "
                        "to expire", folder, exc.strerror)
            return
        self._fd, self._path, self._dir, self.token = fd, path, folder, TRACKED + nonce

    def alive(self, token: str) -> bool:
        """False only when ``token``'s process is known to be gone (its lock could be taken)."""
        if token == self.token or not token.startswith(TRACKED) or self._dir is None or fcntl is None:
            return True
        path = self._dir / f"{token}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False  # the owner closed cleanly (it released its leases) or was cleared away
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # locked: the owner is alive
        else:
            try:
                path.unlink()
            except OSError:
                pass
            return False
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            if self._path is not None:
                try:
                    self._path.unlink()
                except OSError:
                    pass
            os.close(self._fd)
            self._fd = None
