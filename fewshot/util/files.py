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
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterable
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


def _umask() -> int:
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
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def replace_file(temporary: str | Path, path: str | Path) -> None:
    """Rename the finished ``temporary`` (written beside ``path``) over ``path``, with the
    permissions the umask gives, unless ``path`` has become something other than a regular
    file. The temporary file is removed if the rename does not happen."""
    target = _target(Path(path))
    try:
        # mkstemp makes the file private (0600); results are for sharing, as the umask says.
        os.chmod(temporary, 0o666 & ~_umask())
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
    umask = _umask()
    for path in [directory, *directory.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def staging_directory(target: Path, purpose: str) -> Path:
    """A new, empty, hidden directory beside ``target`` to build its replacement in."""
    staging = target.parent / f".{target.name}.{purpose}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    return staging


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


def hold_lock(path: Path, busy: str) -> FileLock:
    """Take the exclusive lock ``path`` at once, or say ``busy`` (a ConfigError) if another
    process (or another holder in this one) has it. ``release()`` gives it back; so does the
    process ending, however it ends. (filelock: flock on Unix, LockFileEx on Windows.)"""
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(busy) from None
    return lock
