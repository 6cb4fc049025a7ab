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
import glob
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "check_out_dir",
    "staged_dir",
    "swap_in",
    "tmp_path",
    "write_text_atomic",
    "replace_folder",
    "out_lock",
    "sweep_stale",
    "file_sha256",
    "write_sealed_json",
    "verify_sealed",
]


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
        real = out.resolve(strict=False)  # a loop anywhere on the path fails here, at once
        if out.is_symlink():  # a link to a folder: the set is swapped in where the link points
            if not os.path.lexists(real) and not real.parent.is_dir():
                raise ValueError(
                    f"{flag} {text!r} is a link to {str(real)!r}, whose folder does not exist; "
                    "create it first, or give a plain folder path."
                )
            out = real
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
    _refuse_sources(out, flag, text)
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


SOURCES = ("alignpro_lite", "notebooks", "tests", "scripts", "docs", "benchmarks", ".git", ".ci",
           "data/tasks", "data/paper", "data/headroom", "data/preferences")  # fmt: skip
"""The repository's sources and shipped inputs: no command writes its set into them (outputs go
to ``build/``, ``runs/``, ``data/tables`` or anywhere outside the repository)."""


def _refuse_sources(out: Path, flag: str, text: str) -> None:
    """``ValueError`` if ``out``, with every link followed, is the repository itself or lies in
    one of its :data:`SOURCES` (a link to ``notebooks/`` given as ``--out`` included)."""
    from alignpro_lite.config import repo_root

    root = repo_root().resolve()
    try:
        real = out.resolve(strict=False)
    except (RuntimeError, OSError):
        return  # a loop: check_out_dir names it
    if not (root / "pyproject.toml").is_file():
        return  # an installed package: no sources beside it to protect
    inside = [s for s in SOURCES if real == root / s or (root / s) in real.parents]
    holders = {(root / s).parent for s in SOURCES} - {root}  # data/: swapping it moves data/tasks
    if real in holders:
        inside = [str(real.relative_to(root))]
    if real == root or inside:
        what = "the repository itself" if real == root else f"the repository's {inside[0]}/"
        raise ValueError(
            f"{flag} {text!r} is {what} ({real}); commands never write into the sources: give a "
            f"folder under build/ or runs/, e.g. {flag} build/out."
        )


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
    for stale in out.parent.glob(f".{glob.escape(out.name)}.tmp-*"):
        _remove_if_stale(stale)  # left by a killed run of this command
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    held = _hold(tmp)  # marks the staging folder as in use until we are done
    os.chmod(tmp, _folder_mode(out))  # mkdtemp makes 0700; keep the folder's own permissions
    try:
        yield tmp
        swap_in(tmp, out, owned)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.close(held)


def _hold(folder: Path) -> int:
    """An open descriptor of ``folder`` holding an exclusive lock (released when closed or when
    the process ends, however it ends): a sweep of stale staging folders leaves it alone."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _remove_if_stale(path: Path) -> bool:
    """Delete a staging file or folder that no live process holds (never following a link)."""
    import fcntl

    if path.is_symlink() or not path.is_dir():
        if os.path.lexists(path):
            os.unlink(path)
            return True
        return False
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
        )
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # another process is writing into it right now
    finally:
        os.close(fd)
    shutil.rmtree(path, ignore_errors=True)
    return True


def sweep_stale(out: str | Path) -> list[Path]:
    """Remove the staging files and folders a killed run left under ``out`` (``NAME.tmp``,
    ``.NAME.tmp-XXXX``, ``.NAME.tmp-XXXX-old``), without following links and leaving any a live
    process holds; returns what was removed. Called when a long command takes ``out``'s lock."""
    removed = []
    for root, dirs, files in os.walk(out, followlinks=False):
        for name in [*dirs, *files]:
            if name.endswith(".tmp") or (name.startswith(".") and ".tmp-" in name):
                path = Path(root) / name
                if _remove_if_stale(path):
                    removed.append(path)
        dirs[:] = [d for d in dirs if (Path(root) / d).exists()]
    return removed


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


def replace_folder(new: str | Path, folder: str | Path) -> None:
    """Put the finished staging folder ``new`` at ``folder``, replacing whatever is there: a
    stale folder of a killed run (``os.replace`` would refuse a non-empty one), a file, or a
    link, which is removed and never followed. One atomic exchange on Linux."""
    new, folder = Path(new), Path(folder)
    if os.path.islink(folder) or folder.is_file():
        os.unlink(folder)
    elif folder.is_dir():
        if _rename_exchange(new, folder):
            shutil.rmtree(new, ignore_errors=True)  # holds the old folder now
            return
        old = tmp_path(folder.with_name(folder.name + ".old"))
        os.rename(folder, old)
        os.rename(new, folder)
        shutil.rmtree(old, ignore_errors=True)
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    os.replace(new, folder)


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
    sweep_stale(out)  # we hold the folder: whatever staging a killed run left is stale
    try:
        yield out
    finally:
        _HELD[key][1] -= 1
        if _HELD[key][1] == 0:
            del _HELD[key]
            os.close(fd)  # releases the lock


_HELD: dict[str, list] = {}


# --------------------------------------------------------------------------- sealed sets
DIGESTS_KEY = "outputs_sha256"


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (read in 1 MiB chunks)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_sealed_json(folder: str | Path, name: str, meta: dict, **dump) -> None:
    """Write ``folder/name`` (e.g. a report's ``report.json``) holding ``meta`` and, under
    ``outputs_sha256``, the SHA-256 of every other file of ``folder`` (the set just written in
    a staging folder), so a later reader can tell an edited output from the one written."""
    import json

    folder = Path(folder)
    digests = {p.name: file_sha256(p) for p in sorted(folder.iterdir())
               if p.is_file() and not p.is_symlink() and p.name != name}  # fmt: skip
    write_text_atomic(folder / name, json.dumps({**meta, DIGESTS_KEY: digests}, indent=1, **dump))


def verify_sealed(folder: str | Path, name: str = "report.json", files=None) -> None:
    """Check the outputs of ``folder`` against the digests its ``name`` recorded
    (:func:`write_sealed_json`): ``ValueError`` naming the first file that is missing or was
    changed after it was written, or the set when it records no digests at all (a missing or
    stripped ``report.json`` is not a way around the check). ``files``: only these (default:
    every recorded one)."""
    import json

    folder = Path(folder)
    meta_path = folder / name
    unsealed = (f"{folder}: no SHA-256 of its files is recorded ({meta_path.name} is missing or "
                f"has no {DIGESTS_KEY}), so an edit cannot be told from the set that was written; "
                "rerun the command that wrote it (or, for a set you trust, record them with "
                f"python scripts/seal_round.py {folder}).")  # fmt: skip
    if not meta_path.is_file():
        raise ValueError(unsealed)
    try:
        recorded = json.loads(meta_path.read_text(encoding="utf-8")).get(DIGESTS_KEY)
    except (ValueError, AttributeError):
        raise ValueError(f"{meta_path} is not a JSON object; rerun the command that wrote "
                         f"{folder}.") from None  # fmt: skip
    if not isinstance(recorded, dict):
        raise ValueError(unsealed)
    for fname in files or ():
        if fname not in recorded:
            raise ValueError(unsealed)
    for fname, digest in recorded.items():
        if files is not None and fname not in files:
            continue
        path = folder / fname
        if not path.is_file():
            raise ValueError(f"{path} is missing (recorded in {meta_path}); rerun the command "
                             "that wrote it, or restore the file.")  # fmt: skip
        if file_sha256(path) != digest:
            raise ValueError(f"{path} was changed after it was written (its SHA-256 no longer "
                             f"matches {meta_path}); restore it or rerun the command that wrote "
                             "it.")  # fmt: skip
