"""An on-disk embedding cache shared by runs and processes.

One SQLite file holds every (encoder identity, text) → vector entry. SQLite gives atomic,
concurrent writers for free; each vector carries a CRC32 so a damaged entry is detected and
recomputed rather than used.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from fewshot.errors import ConfigError
from fewshot.util.files import check_outside_models

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS embeddings (
    encoder TEXT NOT NULL,
    key BLOB NOT NULL,
    vector BLOB NOT NULL,
    checksum INTEGER NOT NULL,
    PRIMARY KEY (encoder, key)
) WITHOUT ROWID
""",
    # The length of an encoder's vectors: a row of another length is damaged, whatever its CRC.
    """
CREATE TABLE IF NOT EXISTS dimensions (encoder TEXT PRIMARY KEY, dimension INTEGER NOT NULL)
""",
    # Model fingerprints by the stat signature of their files (fewshot.encoding.encoders).
    """
CREATE TABLE IF NOT EXISTS fingerprints (signature TEXT PRIMARY KEY, fingerprint TEXT NOT NULL)
""",
)


_LOCK_TIMEOUT_S = 60


def _switch_to_wal(db: sqlite3.Connection) -> None:
    # WAL is a property of the file, set once by whichever process creates it. Two processes
    # switching a new file at the same moment deadlock on its lock, and SQLite then answers
    # "database is locked" at once instead of waiting (its busy handler cannot help a deadlock),
    # so the loser retries until the winner is done.
    deadline = time.monotonic() + _LOCK_TIMEOUT_S
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    message = str(exc).lower()
    return "not a database" in message or "malformed" in message or "corrupt" in message


def default_cache_dir() -> Path:
    """``$FEWSHOT_CACHE_DIR``, else the platform's user cache directory for fewshot
    (platformdirs: ``$XDG_CACHE_HOME/fewshot`` or ``~/.cache/fewshot`` on Linux,
    ``~/Library/Caches/fewshot`` on macOS, ``%LOCALAPPDATA%\\fewshot\\Cache`` on Windows)."""
    if os.environ.get("FEWSHOT_CACHE_DIR"):
        return Path(os.environ["FEWSHOT_CACHE_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("fewshot", appauthor=False))


class EmbeddingCache:
    """Vectors keyed by encoder identity and a hash of the text."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        check_outside_models(self.directory, "embedding cache")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"embedding cache {self.directory}: cannot use it as a folder ({exc.strerror}); "
                "choose another --cache-dir or run with --no-cache"
            ) from None
        self.path = self.directory / "embeddings.sqlite3"
        if self.path.exists() and not self.path.is_file():
            raise ConfigError(
                f"embedding cache {self.path} is not a file; move it away, choose another "
                "--cache-dir or run with --no-cache"
            )
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):  # "database is locked" and the like are not damage
                raise ConfigError(
                    f"embedding cache {self.path}: cannot open it ({exc}); choose another "
                    "--cache-dir or run with --no-cache"
                ) from None
            aside = self.path.with_name(f"{self.path.name}.corrupt-{uuid.uuid4().hex[:8]}")
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            warnings.warn(
                f"embedding cache {self.path} was unreadable ({exc}); moved it to {aside.name} and started afresh",
                RuntimeWarning,
                stacklevel=2,
            )
            self._db = self._connect()
        self._broken = False

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=_LOCK_TIMEOUT_S, isolation_level=None)
        try:
            _switch_to_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                db.execute(statement)
            self._dimensions: dict[str, int] = dict(db.execute("SELECT * FROM dimensions"))
        except BaseException:
            db.close()
            raise
        return db

    def _give_up(self, exc: Exception) -> None:
        # Damage found mid-run: carry on without the cache rather than fail or trust it.
        if not self._broken:
            warnings.warn(
                f"embedding cache {self.path} is damaged ({exc}); not using it for this run",
                RuntimeWarning,
                stacklevel=3,
            )
        self._broken = True

    def get_many(self, encoder: str, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The valid cached vectors among ``keys``; damaged entries are left out."""
        found: dict[bytes, np.ndarray] = {}
        if self._broken:
            return found
        try:
            self._select(encoder, keys, found)
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            self._give_up(exc)
            return {}
        return found

    def _select(self, encoder: str, keys: Sequence[bytes], found: dict[bytes, np.ndarray]) -> None:
        # The wanted keys in a temporary table, joined: faster than IN lists of bound keys.
        self._db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS wanted (key BLOB PRIMARY KEY) WITHOUT ROWID"
        )
        self._db.execute("BEGIN")  # one transaction for the temporary rows, not one per key
        try:
            self._db.execute("DELETE FROM wanted")
            self._db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((k,) for k in keys))
        finally:
            self._db.execute("COMMIT")
        rows = [
            (key, blob)
            for key, blob, checksum in self._db.execute(
                "SELECT e.key, e.vector, e.checksum FROM wanted w JOIN embeddings e "
                "ON e.encoder = ? AND e.key = w.key",
                (encoder,),
            )
            if len(blob) % 4 == 0 and zlib.crc32(blob) == checksum
        ]
        if not rows:
            return
        dimension = self._dimensions.get(encoder)
        if dimension is None:  # a cache from before dimensions were recorded: the usual length
            lengths, counts = np.unique([len(b) // 4 for _, b in rows], return_counts=True)
            dimension = int(lengths[counts.argmax()])
        rows = [(key, blob) for key, blob in rows if len(blob) == 4 * dimension]
        # One buffer for all rows: one finiteness check, no array per row until the end.
        matrix = np.frombuffer(b"".join(blob for _, blob in rows), dtype=np.float32)
        matrix = matrix.reshape(len(rows), dimension)
        finite = np.isfinite(matrix).all(axis=1)
        for (key, _), vector, ok in zip(rows, matrix, finite, strict=True):
            if ok:
                found[key] = vector

    def put_many(self, encoder: str, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        rows = []
        dimension = None
        for key, vector in items:
            blob = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
            rows.append((encoder, key, blob, zlib.crc32(blob)))
            dimension = len(blob) // 4
        if self._broken or not rows:
            return
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                if encoder not in self._dimensions:
                    self._db.execute(
                        "INSERT OR IGNORE INTO dimensions VALUES (?, ?)", (encoder, dimension)
                    )
                    self._dimensions[encoder] = dimension
                self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
        except sqlite3.DatabaseError as exc:
            if _damaged(exc):
                self._give_up(exc)
            elif isinstance(exc, sqlite3.OperationalError):
                self._stop_writing(exc)
            else:
                raise

    def _stop_writing(self, exc: sqlite3.OperationalError) -> None:
        # A write refused (a full disk, a file-size limit, a lock held past the timeout): the
        # vectors computed are still right, so the command goes on without the cache instead of
        # failing over an optimisation.
        if not self._broken:
            warnings.warn(
                f"embedding cache {self.path}: cannot add to it ({exc}; is the disk full?); "
                "going on without it for this run",
                RuntimeWarning,
                stacklevel=3,
            )
        self._broken = True

    def fingerprint(self, signature: str) -> str | None:
        """A model fingerprint remembered for files that looked like ``signature``."""
        if self._broken:
            return None
        try:
            row = self._db.execute(
                "SELECT fingerprint FROM fingerprints WHERE signature = ?", (signature,)
            ).fetchone()
        except sqlite3.DatabaseError:
            return None
        return row[0] if row else None

    def remember_fingerprint(self, signature: str, fingerprint: str) -> None:
        if self._broken:
            return
        with contextlib.suppress(sqlite3.DatabaseError), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO fingerprints VALUES (?, ?)", (signature, fingerprint)
            )

    def count(self, encoder: str | None = None) -> int:
        if encoder is None:
            return self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        return self._db.execute(
            "SELECT COUNT(*) FROM embeddings WHERE encoder = ?", (encoder,)
        ).fetchone()[0]

    def close(self) -> None:
        self._db.close()
