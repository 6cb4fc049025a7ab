"""Outputs written atomically *as a set*: a command's files all change together, or none does::

    check_out_dir(out, ["sweep.csv", "sweep.png"])      # before any expensive work
    with staged_dir(out) as tmp:                         # write every file into tmp ...
        df.to_csv(tmp / "sweep.csv")
    # ... and on success the folder ``out`` is replaced by tmp in one atomic rename.

How: the files are written into a fresh folder beside ``out`` (same file system). On success,
the files of the old ``out`` that the command did not write are hard-linked into the new folder
(so unrelated files, e.g. other tables in ``data/tables``, stay), and the two folders are swapped
with one ``renameat2(RENAME_EXCHANGE)`` (Linux), or, where that call does not exist, two renames
with the old folder restored if the second fails. A reader therefore sees the old set or the new
set, never a mix; an error or Ctrl-C before the swap leaves ``out`` byte-identical.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["check_out_dir", "staged_dir", "swap_in", "tmp_path", "write_text_atomic", "out_lock"]


def check_out_dir(out: str | Path, names: Iterable[str] = (), flag: str = "--out") -> Path:
    """Validate an output folder before work starts; ``ValueError`` naming ``flag`` if unusable.

    ``out`` may not exist yet (it is created, parents included); if it exists it must be a
    writable folder, and none of ``names`` (the files the command will write) may be a folder.
    """
    text = str(out)
    if not text.strip():
        raise ValueError(f"{flag} is empty; give an output folder, e.g. {flag} runs/out.")
    out = Path(os.path.abspath(out))  # '.', '..', trailing slashes: one spelling
    try:
        if out.is_symlink():  # a link to a folder: the set is swapped in where the link points
            out = out.resolve(strict=False)
        out.exists()
    except (RuntimeError, OSError) as err:  # a symlink loop, a name too long
        raise ValueError(
            f"{flag} {text!r} cannot be used: {err.strerror if isinstance(err, OSError) else err}"
            " (a symbolic-link loop?); give a plain folder path."
        ) from None
    if out.exists() and not out.is_dir():
        raise ValueError(
            f"{flag} {text!r} is an existing file, not a folder; give a folder path "
            "(it is created if missing)."
        )
    cwd = Path.cwd().resolve()
    if out == cwd or out in cwd.parents or os.path.ismount(out):
        raise ValueError(
            f"{flag} {text!r} is the current folder, one of its parents or a mount point; the "
            "command replaces its output folder as a whole, so give a subfolder, e.g. "
            f"{flag} {os.path.join(text, 'out')}."
        )
    parent = _existing_ancestor(out.absolute().parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(
            f"{flag} {text!r}: cannot write in {str(parent)!r} (permission denied); choose a "
            "folder you can write to."
        )
    if out.is_dir():
        if not os.access(out, os.R_OK | os.W_OK | os.X_OK):
            raise ValueError(
                f"{flag} {text!r} is not writable (permission denied); choose another folder "
                "or fix its permissions."
            )
        for name in names:
            if (out / name).is_dir():
                raise ValueError(
                    f"{flag} {text!r}: {name!r} there is a folder, but this command writes a file "
                    "of that name; move it away or choose another folder."
                )
    return out


def _folder_mode(out: Path) -> int:
    """The permissions ``out`` has, or a new folder would get (``0o777`` minus the umask)."""
    if out.is_dir():
        return out.stat().st_mode & 0o7777
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


@contextmanager
def staged_dir(out: str | Path, flag: str = "--out", owned: Iterable[str] = ()) -> Iterator[Path]:
    """Yield an empty folder beside ``out``; on a clean exit swap it in for ``out`` (see module doc).

    ``owned``: the names of this command's whole set. An old file of that set that this run did
    not write (e.g. ``win_rates.csv`` of an earlier report with a judge) is dropped, so the
    folder never mixes two runs' files; every other old file is kept. On an exception (Ctrl-C
    included) the staging folder is deleted and ``out`` is untouched.
    """
    out = check_out_dir(out, flag=flag)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    os.chmod(tmp, _folder_mode(out))  # mkdtemp makes 0700; keep the folder's own permissions
    try:
        yield tmp
        swap_in(tmp, out, owned)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def swap_in(new: Path, out: Path, owned: Iterable[str] = ()) -> None:
    """Make the folder ``new`` become ``out``, keeping the old files that ``new`` does not hold.

    Afterwards ``new`` holds the old folder's remains, or no longer exists (the caller deletes it).
    """
    new, out = Path(new), Path(out)
    if not out.exists():
        os.rename(new, out)
        return
    owned = set(owned)
    for old in out.iterdir():  # keep what this command did not write
        target = new / old.name
        if target.exists() or target.is_symlink() or old.name in owned:
            continue
        if old.is_dir() and not old.is_symlink():
            shutil.copytree(old, target, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(old, target)
    if _rename_exchange(new, out):
        return
    backup = new.with_name(new.name + "-old")
    os.rename(out, backup)
    try:
        os.rename(new, out)
    except BaseException:
        os.rename(backup, out)
        raise
    os.rename(backup, new)


def _link_or_copy(src, dst) -> None:
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2``); ``False`` where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (38, 22, 95):  # ENOSYS, EINVAL (file system without it), EOPNOTSUPP
        return False
    raise OSError(err, os.strerror(err), str(b))


def tmp_path(path: str | Path) -> Path:
    """``PATH.tmp``, the staging name of ``path``, with whatever was there removed first, without
    following it: a stale file, a stale staging folder of an interrupted run, or a symbolic link
    someone placed there (writing through it would overwrite the file it points to, outside the
    output folder). Write the new content into the returned path, then ``os.replace`` it onto
    ``path`` (which replaces a link at ``path`` itself, never its target)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.is_symlink() or tmp.is_file():
        tmp.unlink()
    elif tmp.is_dir():
        shutil.rmtree(tmp)
    elif os.path.lexists(tmp):  # a fifo, a socket: not ours either
        os.unlink(tmp)
    return tmp


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`tmp_path` (fsynced, then one rename): readers
    see the old file or the new one, and a link at ``PATH.tmp`` or ``path`` is never followed."""
    path = Path(path)
    tmp = tmp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


LOCK_NAME = ".alignpro-lite.lock"


@contextmanager
def out_lock(out: str | Path, flag: str = "--out") -> Iterator[Path]:
    """Hold an exclusive lock on the output folder ``out`` (``OUT/.alignpro-lite.lock``, an OS
    file lock released when the process ends, however it ends) while a long command writes into
    it. A second process on the same folder gets a ``ValueError`` at once instead of both
    writing the same stages. Re-entrant within one process."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    key = str(out.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield out
        finally:
            _HELD[key][1] -= 1
        return
    import fcntl

    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ValueError(f"{flag} {str(out)!r} is in use by another alignpro-lite process; wait for "
                         "it to finish, or give another folder.") from None  # fmt: skip
    _HELD[key] = [fd, 1]
    try:
        yield out
    finally:
        _HELD[key][1] -= 1
        if _HELD[key][1] == 0:
            del _HELD[key]
            os.close(fd)  # releases the lock


_HELD: dict[str, list] = {}
