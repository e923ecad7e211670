"""A journal of finished request records, so a process killed outright (SIGKILL, out of memory)
loses only the requests it was still serving, not those it had answered but not yet logged.

Each record is appended to the process's current journal segment as it is handed to the log
writer (one write to the operating system, which keeps it when the process dies). Each flush
starts a new segment and deletes the old ones once their records are in the database. The next
segment is created by the flush, not by the next record: creating a file was the slowest step of
a request that came after a flush (~0.2 ms, and every request's when they come a second apart;
bench/README.md, eleventh pass). A process
holds a lock on its own journal while it lives; the next process to start (or any running one)
writes the journals of dead processes, skipping records already logged.
"""

import fcntl
import logging
import os
import secrets
import time
from pathlib import Path

import orjson
from django.conf import settings

logger = logging.getLogger(__name__)


class Journal:
    def __init__(self):
        self._token = None
        self._lock = None  # open lock file: held while this process lives
        self._fd = None
        self._current: Path | None = None
        self._closed: list[Path] = []
        self._written = False  # the current segment holds a record
        self._broken = False

    def append(self, record):
        """Journal a record; never raises (a full or unwritable disk must not fail a request)."""
        if not settings.LOG_JOURNAL or self._broken:
            return
        try:
            if self._fd is None:
                self._open_segment()
            os.write(self._fd, orjson.dumps(record.to_json()) + b"\n")
            self._written = True
        except OSError as exc:
            self._break(exc)

    def rotate(self):
        """Start a new segment, opened now: what was appended so far is in the closed ones. A segment
        still empty is kept."""
        if self._fd is None or not self._written:
            return
        os.close(self._fd)
        self._closed.append(self._current)
        self._fd = self._current = None
        self._written = False
        if not self._broken:
            try:
                self._open_segment()
            except OSError as exc:
                self._break(exc)

    def close(self):
        """At shutdown: close the current segment, and delete it if it holds no record."""
        if self._fd is None:
            return
        os.close(self._fd)
        if not self._written:
            self._current.unlink(missing_ok=True)
        self._fd = self._current = None
        self._written = False

    def _break(self, exc: OSError):
        self._broken = True  # the records still go to the database as usual
        logger.error("request-log journal off for this process (%s): a SIGKILL may lose unwritten rows", exc)

    def forget_closed(self):
        """The closed segments' records are all in the database: delete them."""
        for path in self._closed:
            path.unlink(missing_ok=True)
        self._closed.clear()

    def _open_segment(self):
        spool = Path(settings.LOG_SPOOL_DIR)
        if self._lock is None or self._lock.closed:
            spool.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._token = f"{os.getpid()}-{secrets.token_hex(4)}"
            self._lock = open(spool / f"journal-{self._token}.lock", "a")
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._current = spool / f"journal-{self._token}-{time.time_ns()}.jsonl"
        self._fd = os.open(self._current, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def orphaned_segments() -> list[tuple[Path, list[Path]]]:
    """(lock file, its segments) of every dead process's journal."""
    spool = Path(settings.LOG_SPOOL_DIR)
    if not spool.is_dir():
        return []
    orphans = []
    for lock_path in sorted(spool.glob("journal-*.lock")):
        token = lock_path.name.removeprefix("journal-").removesuffix(".lock")
        with open(lock_path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive
            fcntl.flock(lock, fcntl.LOCK_UN)
        orphans.append((lock_path, sorted(spool.glob(f"journal-{token}-*.jsonl"))))
    return orphans
