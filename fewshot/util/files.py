"""Writing only what fewshot owns, and never losing what was there.

Every file fewshot writes goes through :func:`write_atomic`: written to a temporary file beside
it, flushed to disk, then renamed over the old one, so a reader (or a crash) sees the old file
or the new one, never half of one. An output path must be a regular file or not exist yet:
a directory, device, FIFO or socket there is refused (:func:`check_output_file`), and the
check is repeated just before the rename, which would otherwise replace anything. A symbolic
link to a regular file is followed, so the link survives and its target is replaced.

Whole directories (a model, a run replaced with ``--overwrite``) are built under a temporary
name beside the target and swapped in by :func:`replace_directory`: with Linux's
``renameat2(RENAME_EXCHANGE)`` the swap is one atomic step; elsewhere it is two renames.
:func:`building` holds that pattern: a failure anywhere removes the half-built copy, and a write
the file system refuses (disk full, a file-size limit, a quota) ends in one line naming the file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from fewshot.errors import ConfigError

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
}


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words ("a directory", "a FIFO (named pipe)")."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _target(path: Path) -> Path:
    """``path``, or where its chain of symbolic links ends."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


#: The two files every model directory holds (:mod:`fewshot.models.directory`). A folder with
#: both is a model: closed, every file in it listed in its fewshot.json, so that anything else
#: written inside (predictions, a run, another model) makes it fail to load.
MODEL_DIRECTORY_FILES = ("fewshot.json", "state.safetensors")


def enclosing_model(path: str | Path) -> Path | None:
    """The model directory that ``path`` lies inside (not ``path`` itself), or None."""
    for folder in Path(os.path.realpath(path)).parents:
        if all((folder / name).is_file() for name in MODEL_DIRECTORY_FILES):
            return folder
    return None


def check_outside_models(path: str | Path, flag: str = "--out") -> None:
    """Refuse an output path inside a model directory: writing there would break the model."""
    model = enclosing_model(path)
    if model is not None:
        raise ConfigError(
            f"{flag} {path} is inside the model directory {model}, which holds only the files "
            "its fewshot.json lists (anything more and it no longer loads): choose a path "
            "outside it"
        )


def check_output_file(path: str | Path, *, inputs: Iterable[str | Path] = (), flag: str = "--out"):
    """Refuse an output path that exists and is not a regular file, whose folder is missing or
    not a folder, that is one of ``inputs`` (the same file by any name), or that lies inside a
    model directory."""
    path = Path(path)
    check_outside_models(path, flag)
    target = _target(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot use it ({exc.strerror})") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise ConfigError(
            f"{flag} {path} is {file_kind(mode)}; expected a regular file or a new file name"
        )
    parent = target.parent
    if not parent.exists():
        raise ConfigError(f"{flag} {path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise ConfigError(f"{flag} {path}: {parent} is not a folder")
    if mode is not None:
        for source in inputs:
            with contextlib.suppress(OSError):
                if os.path.samefile(target, source):
                    raise ConfigError(
                        f"{flag} {path} is the input file {source}; writing there would "
                        "destroy it: choose another output"
                    )
    return path


def umask() -> int:
    """The process's umask (read without changing it)."""
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomic(path: str | Path, content: str | bytes) -> None:
    """Replace ``path`` with ``content`` in one step; refuses a path that is not a regular file."""
    target = _target(Path(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        data = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        replace_file(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        if exc.filename is None or exc.filename == temporary:  # name the file the user asked for
            raise refused(exc, path) from None
        raise
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def refused(exc: OSError, path: str | Path) -> OSError:
    """A write to the output ``path`` that the file system refused (``exc``, which may name a
    temporary file or none), as one error naming ``path`` and saying what became of it."""
    kept = "is as it was" if os.path.lexists(path) else "was not written"
    return OSError(exc.errno, f"{exc.strerror or exc}; {path} {kept}", str(path))


def write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to the new file ``path`` (in a directory being built) and sync it. A write
    the file system refuses names ``path``: Python's own error from ``write`` names no file."""
    try:
        with open(path, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def replace_file(temporary: str | Path, path: str | Path) -> None:
    """Rename the finished ``temporary`` (written beside ``path``) over ``path``, with the
    permissions the umask gives, unless ``path`` has become something other than a regular
    file. The temporary file is removed if the rename does not happen."""
    target = _target(Path(path))
    try:
        # mkstemp makes the file private (0600); results are for sharing, as the umask says.
        os.chmod(temporary, 0o666 & ~umask())
        try:
            mode = os.lstat(target).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            raise ConfigError(f"{path} is {file_kind(mode)}; not replacing it with a file")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def share(directory: Path) -> None:
    """Give ``directory`` and everything in it the permissions the umask allows (some writers
    use private 0600 temporary files; model and run directories are for sharing)."""
    mask = umask()
    for path in [directory, *directory.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def staging_directory(target: Path, purpose: str) -> Path:
    """A new, empty, hidden directory beside ``target`` to build its replacement in."""
    staging = target.parent / f".{target.name}.{purpose}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    return staging


_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def _os_error_number(exc: BaseException) -> int | None:
    """The errno of a refused write: an OSError's, or the one a Rust-backed writer (safetensors,
    tokenizers) puts in its message as "(os error 27)" under an exception type of its own."""
    if isinstance(exc, OSError):
        return exc.errno
    found = _RUST_OS_ERROR.search(str(exc)) if isinstance(exc, Exception) else None
    return int(found.group(1)) if found else None


#: Writes that fail for want of room: the disk, a quota, ``ulimit -f``.
_NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


@contextlib.contextmanager
def building(target: Path, purpose: str) -> Iterator[Path]:
    """Build the directory ``target`` in a new staging directory beside it (yielded); the caller
    puts it in place with :func:`replace_directory`. Whatever stops the build, Ctrl-C included,
    removes the staging copy and leaves ``target`` as it was. A write the file system refused
    becomes an OSError naming the file as it would be in ``target`` and saying that ``target``
    was left as it was (one line from the CLI) instead of a writer library's traceback.

    Python ignores SIGXFSZ, so a write past ``ulimit -f`` fails with EFBIG here rather than
    killing the process.
    """
    staging = staging_directory(target, purpose)
    try:
        yield staging
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        number = _os_error_number(exc)
        filename = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
        where = Path(os.fsdecode(filename)) if isinstance(filename, str | bytes) else None
        inside = where is not None and where.is_relative_to(staging)
        if number is None or not (number in _NO_ROOM or inside):
            raise  # not a refused write of ours: the caller's own error, or a bug
        where = target / where.relative_to(staging) if inside else (where or target)
        kept = "is as it was" if target.exists() else "was not written"
        raise OSError(number, f"{os.strerror(number)}; {target} {kept}", str(where)) from None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def replace_directory(staging: Path, target: Path) -> None:
    """Put the finished directory ``staging`` at ``target``; the old ``target`` (if any) is
    removed only once the new one is in place."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # now the old directory
        return
    retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(target, retired)
    os.rename(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


class HeldLock:
    """An exclusive lock file, held: ``release()`` gives it back and removes the file, so a
    finished run leaves no empty lock file behind.

    Removing a lock file is safe only because taking one checks, once it is held, that the
    file locked is still the one at the path: a process that opened it just before the holder
    removed it would otherwise hold a lock on a file nobody else can see.
    """

    def __init__(self, path: Path, busy: str):
        self.path, self._inode = Path(path), None
        self._lock = FileLock(self.path, timeout=0, on_acquired=self._check_linked)
        try:
            self._lock.acquire()
        except (Timeout, _Unlinked):  # held by another, or released and removed just now
            raise ConfigError(busy) from None

    def _check_linked(self, fd: int) -> None:
        held = os.fstat(fd)
        try:
            linked = os.stat(self.path)
        except FileNotFoundError:
            raise _Unlinked from None
        if (linked.st_dev, linked.st_ino) != (held.st_dev, held.st_ino):
            raise _Unlinked
        self._inode = (held.st_dev, held.st_ino)

    def release(self) -> None:
        if self._inode is None:
            return
        with contextlib.suppress(OSError):  # only our own file: another may be there by now
            linked = os.stat(self.path)
            if (linked.st_dev, linked.st_ino) == self._inode:
                self.path.unlink()
        self._inode = None
        self._lock.release()


class _Unlinked(Exception):
    """The file locked is no longer at its path (its holder removed it on release)."""


def hold_lock(path: Path, busy: str) -> HeldLock:
    """Take the exclusive lock ``path`` at once, or say ``busy`` (a ConfigError) if another
    process (or another holder in this one) has it. ``release()`` gives it back and removes
    the file; the process ending gives it back too, however it ends. (filelock: flock on
    Unix, LockFileEx on Windows.)"""
    return HeldLock(path, busy)
