"""A labelling project: its pool, its classes and every label given, in one SQLite database.

``fewshot label`` keeps a project in a directory: ``labels.sqlite`` holds the pool's texts,
the classes, and one *event* per decision (a label, a skip, "none of these"). Each event is
committed before the page is told it was taken (WAL journal, ``synchronous=FULL``), so a killed
server, a reload or a second tab loses nothing. Undo does not delete: it marks the latest
event undone, so the history stays whole. A text's decision is its latest event not undone.
One process writes a project at a time (a lock file beside the database).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fewshot.errors import ConfigError, DataError
from fewshot.util.files import HeldLock, hold_lock

DATABASE = "labels.sqlite"
LOCK = ".labels.lock"
#: What an event may be: a text's labels, skipped for now, or a text that fits no class.
KINDS = ("label", "skip", "none")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS texts (row INTEGER PRIMARY KEY, text TEXT NOT NULL, id TEXT);
CREATE TABLE IF NOT EXISTS classes (
    name TEXT PRIMARY KEY, position INTEGER NOT NULL, added REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, row INTEGER NOT NULL REFERENCES texts(row),
    kind TEXT NOT NULL, labels TEXT NOT NULL, at REAL NOT NULL, undone INTEGER NOT NULL DEFAULT 0,
    predicted TEXT, drawn INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS estimates (
    id INTEGER PRIMARY KEY AUTOINCREMENT, labels INTEGER NOT NULL, accuracy REAL NOT NULL,
    low REAL NOT NULL, high REAL NOT NULL, folds INTEGER NOT NULL, learner TEXT NOT NULL,
    at REAL NOT NULL);
"""


def pool_fingerprint(texts: list[str]) -> str:
    """A digest of the pool's texts in order: a project serves the pool it was made for."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Decision:
    """A text's current decision: ``kind`` (``label``, ``skip``, ``none``), its labels, and
    the event that made it."""

    row: int
    kind: str
    labels: tuple[str, ...]
    event: int
    at: float


class LabelProject:
    """The project in ``directory``: made on first use, resumed after.

    Parameters
    ----------
    directory : str or Path
        The project directory (made if missing).
    texts : list of str
        The pool, in order; a project resumed must be given the same pool.
    classes : list of str
        The classes; on resume, new ones are added after those the project has.
    multi_label : bool, default False
        Whether a text may have several labels (fixed when the project is made).
    ids : list or None, default None
        An id per pool text, kept for the exports.
    pool : str, default ""
        Where the pool came from, as the user named it (kept for messages).
    """

    def __init__(
        self,
        directory: str | Path,
        texts: list[str],
        classes: list[str],
        *,
        multi_label: bool = False,
        ids: list[Any] | None = None,
        pool: str = "",
    ):
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ConfigError(f"--project {directory}: exists and is not a folder")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._held: HeldLock | None = hold_lock(
            self.directory / LOCK,
            f"--project {directory}: another fewshot label is serving this project; stop it "
            "first (a project has one writer)",
        )
        self._lock = threading.Lock()  # one connection, shared by the server's threads
        self._db = sqlite3.connect(
            self.directory / DATABASE, timeout=10, check_same_thread=False, isolation_level=None
        )
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed label survives power loss too, not only a killed process.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._open(texts, classes, multi_label, ids, pool)
        except BaseException:
            self.close()
            raise

    def _open(self, texts, classes, multi_label, ids, pool) -> None:
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        fingerprint = pool_fingerprint(texts)
        if not meta:
            with self._transaction():
                self._db.executemany(
                    "INSERT INTO texts VALUES (?, ?, ?)",
                    (
                        (i, t, None if ids is None or ids[i] is None else str(ids[i]))
                        for i, t in enumerate(texts)
                    ),
                )
                for key, value in (
                    ("pool", pool),
                    ("pool_fingerprint", fingerprint),
                    ("multi_label", json.dumps(bool(multi_label))),
                    ("created", json.dumps(time.time())),
                    ("version", "1"),
                ):
                    self._db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
            meta = dict(self._db.execute("SELECT key, value FROM meta"))
        elif meta.get("pool_fingerprint") != fingerprint:
            count = self._db.execute("SELECT COUNT(*) FROM texts").fetchone()[0]
            raise ConfigError(
                f"--project {self.directory}: made for another pool ({meta.get('pool')!r}, "
                f"{count} texts); give that pool, or a new --project folder"
            )
        self.multi_label = json.loads(meta["multi_label"])
        if self.multi_label != bool(multi_label):
            kind = "multi-label" if self.multi_label else "single-label"
            raise ConfigError(f"--project {self.directory}: this project is {kind}")
        self.texts = [t for (t,) in self._db.execute("SELECT text FROM texts ORDER BY row")]
        self.ids = [i for (i,) in self._db.execute("SELECT id FROM texts ORDER BY row")]
        self.pool = meta.get("pool", "")
        for name in classes:
            self.add_class(name)

    # -- writing: each call commits before it returns -------------------------------------

    @contextlib.contextmanager
    def _transaction(self):
        """One write transaction, taken at once (``BEGIN IMMEDIATE``), committed on leaving."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def add_class(self, name: str) -> bool:
        """Add a class (after the others); False where the project has it already."""
        name = str(name).strip()
        if not name:
            raise DataError("a class name may not be empty")
        if len(name) > 200:
            raise DataError(f"a class name has at most 200 characters; this one {len(name)}")
        with self._lock, self._transaction():
            if self._db.execute("SELECT 1 FROM classes WHERE name = ?", (name,)).fetchone():
                return False
            position = self._db.execute("SELECT COUNT(*) FROM classes").fetchone()[0]
            self._db.execute("INSERT INTO classes VALUES (?, ?, ?)", (name, position, time.time()))
            return True

    def record(
        self,
        row: int,
        kind: str,
        labels: list[str] | tuple[str, ...] = (),
        *,
        predicted: list[str] | None = None,
        drawn: bool = False,
    ) -> int:
        """Commit a decision about pool row ``row`` (from 0); returns the event's id.
        ``predicted``: what the model said of the text before it was labelled; ``drawn``:
        whether the text was shown as a uniform random draw from the pool (the audit)."""
        if kind not in KINDS:
            raise DataError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not 0 <= row < len(self.texts):
            raise DataError(f"row {row} is not in the pool (rows 0 to {len(self.texts) - 1})")
        labels = tuple(dict.fromkeys(str(label) for label in labels))
        known = set(self.classes())
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise DataError(f"unknown class {unknown[0]!r}; add it first")
        if kind == "label" and not labels:
            raise DataError("a label event needs at least one class")
        if kind != "label" and labels:
            raise DataError(f"a {kind} event carries no classes")
        if len(labels) > 1 and not self.multi_label:
            raise DataError("this project gives one label per text (it is not multi-label)")
        with self._lock, self._transaction():
            cursor = self._db.execute(
                "INSERT INTO events (row, kind, labels, at, predicted, drawn) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row,
                    kind,
                    json.dumps(list(labels)),
                    time.time(),
                    None if predicted is None else json.dumps(list(predicted)),
                    int(drawn),
                ),
            )
            return int(cursor.lastrowid)

    def undo(self) -> Decision | None:
        """Mark the latest event not undone as undone; the decision it was, or None."""
        with self._lock, self._transaction():
            found = self._db.execute(
                "SELECT id, row, kind, labels, at FROM events WHERE undone = 0 "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if found is None:
                return None
            self._db.execute("UPDATE events SET undone = 1 WHERE id = ?", (found[0],))
        event, row, kind, labels, at = found
        return Decision(row, kind, tuple(json.loads(labels)), event, at)

    def add_estimate(self, labels: int, accuracy: float, low: float, high: float, folds: int,
                     learner: str) -> None:  # fmt: skip
        """Keep a cross-validated accuracy estimate: the learning curve's points."""
        with self._lock, self._transaction():
            self._db.execute(
                "INSERT INTO estimates (labels, accuracy, low, high, folds, learner, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (labels, accuracy, low, high, folds, learner, time.time()),
            )

    # -- reading ---------------------------------------------------------------------------

    def _rows(self, sql: str, args=()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def classes(self) -> list[str]:
        return [name for (name,) in self._rows("SELECT name FROM classes ORDER BY position")]

    def decisions(self) -> dict[int, Decision]:
        """Every decided text's current decision, by row."""
        found = self._rows(
            "SELECT e.id, e.row, e.kind, e.labels, e.at FROM events e JOIN ("
            "SELECT row, MAX(id) AS id FROM events WHERE undone = 0 GROUP BY row) latest "
            "ON e.id = latest.id ORDER BY e.id"
        )
        return {
            row: Decision(row, kind, tuple(json.loads(labels)), event, at)
            for event, row, kind, labels, at in found
        }

    def audit(self) -> dict[str, int]:
        """The texts drawn at random and decided (``n``), and how many of them the model had
        right before it saw their label (``correct``): "none of these" counts against a model
        that gave a class, a skip not at all."""
        found = self._rows(
            "SELECT e.kind, e.labels, e.predicted FROM events e JOIN ("
            "SELECT row, MAX(id) AS id FROM events WHERE undone = 0 GROUP BY row) latest "
            "ON e.id = latest.id WHERE e.drawn = 1 AND e.kind != 'skip' "
            "AND e.predicted IS NOT NULL"
        )
        correct = sum(
            kind == "label" and set(json.loads(labels)) == set(json.loads(predicted))
            for kind, labels, predicted in found
        )
        return {"n": len(found), "correct": correct}

    def labelled(self) -> tuple[list[str], list]:
        """The labelled texts and their labels (label tuples for a multi-label project), in
        the order they were labelled."""
        chosen = [d for d in self.decisions().values() if d.kind == "label"]
        labels = [d.labels if self.multi_label else d.labels[0] for d in chosen]
        return [self.texts[d.row] for d in chosen], labels

    def counts(self) -> dict[str, Any]:
        """Labels per class (every class, in order), and how many texts were skipped or fit
        no class."""
        decisions = list(self.decisions().values())
        per_class = Counter(label for d in decisions if d.kind == "label" for label in d.labels)
        kinds = Counter(d.kind for d in decisions)
        return {
            "classes": {name: per_class.get(name, 0) for name in self.classes()},
            "labelled": kinds["label"],
            "skipped": kinds["skip"],
            "none": kinds["none"],
            "pool": len(self.texts),
        }

    def version(self) -> int:
        """A number that grows with every change to the labels: each event committed, and
        each undone."""
        return self._rows("SELECT COUNT(*) + COALESCE(SUM(undone), 0) FROM events")[0][0]

    def estimates(self) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT labels, accuracy, low, high, folds, learner FROM estimates ORDER BY id"
        )
        keys = ("labels", "accuracy", "low", "high", "folds", "learner")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def search(self, query: str, limit: int = 50) -> list[int]:
        """Pool rows whose text holds ``query`` (case-insensitive), at most ``limit``."""
        needle = query.casefold()
        return [i for i, text in enumerate(self.texts) if needle in text.casefold()][:limit]

    def export_rows(self) -> list[dict[str, Any]]:
        """The labelled texts as rows of a labelled file (``fewshot adapt --train`` reads it):
        ``text``, then ``label`` (or ``labels``, a list, for a multi-label project), and the
        pool's ``id`` where it has one."""
        rows = []
        for decision in self.decisions().values():
            if decision.kind != "label":
                continue
            row: dict[str, Any] = {}
            if self.ids[decision.row] is not None:
                row["id"] = self.ids[decision.row]
            row["text"] = self.texts[decision.row]
            if self.multi_label:
                row["labels"] = list(decision.labels)
            else:
                row["label"] = decision.labels[0]
            rows.append(row)
        return rows

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._held is not None:
            self._held.release()
            self._held = None

    def __enter__(self) -> LabelProject:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
