"""Atomic output, files and directories: write beside the target, then rename into place.

Files: `atomic_path` / `atomic_open` rename a finished temporary file over the target.
Directories: `atomic_dir` yields an empty folder beside the target and `replace_dir`
puts a finished folder in place. A folder cannot be renamed over another, so the old
target is first renamed aside (`.NAME.old-XXXXXXXX`) and deleted only once the new one
is in place: a crash at any point leaves either the old or the new directory complete
(after a crash between the two renames, the old one under its aside name).
`check_writable` refuses an output path that could not be written before any work starts.
Files get the modes a plain `open` would give them (0666 less the user's umask): outputs
such as labeled rows, agreement files and reports are meant for colleagues. Secrets (API
keys) ask for `private=True` (0600).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO, Any, Iterable, Iterator


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, so it is never changed, even briefly)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str = "", private: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it over `target`.

    The file's mode is 0666 less the umask, as `open` would make it (mkstemp alone makes every
    output owner-only); 0600 with `private` (secrets). On any exception the temporary file is
    removed and `target` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o600 if private else 0o666 & ~current_umask())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(target: Path | str, mode: str = "w", encoding: str | None = "utf-8",
                private: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file for writing that replaces `target` only when closed cleanly
    (mode as `atomic_path`: the umask's, or 0600 with `private`)."""
    with atomic_path(target, private=private) as tmp:
        kwargs = {} if "b" in mode else {"encoding": encoding}
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def replace_dir(new: Path | str, target: Path | str) -> Path:
    """Move the complete directory `new` to `target` (same filesystem), replacing what is there.

    The old target is renamed aside first and removed only after `new` is in place; if
    moving `new` in fails, the old target is put back and the error re-raised.
    Returns `target`.
    """
    new, target = Path(new), Path(target)
    old = None
    if target.exists() or target.is_symlink():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        _remove(old)
    return target


@contextlib.contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield an empty directory beside `target`; on success it replaces `target` (replace_dir).

    On any exception the temporary directory is removed and `target` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        yield tmp
        replace_dir(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


class OutputError(ValueError):
    """An output path that cannot be written; the message names it and says why."""


def check_writable(target: Path | str) -> None:
    """Fail before any work when a file could not be written at `target`.

    The target must not be a folder, and its folder (or, when that does not exist yet, the
    nearest one that does, where the missing ones would be made) must take a new file: a
    probe file is created there and removed, which also catches what permission bits do not
    show (read-only mounts, immutable folders, root). Raises OutputError naming the path.
    """
    target = Path(target)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: folder {folder} does not accept new files "
                          f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def write_jsonl(target: Path | str, rows: Iterable[dict[str, Any]], ensure_ascii: bool = False) -> int:
    """Write rows as JSON lines atomically (errors files included); returns the number of rows."""
    n = 0
    with atomic_open(target) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=ensure_ascii) + "\n")
            n += 1
    return n


def read_jsonl(path: Path | str, errors: list[str] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) for each non-blank line of a JSONL file.

    A bad line (bytes that are not UTF-8, malformed JSON, not an object) raises ValueError
    naming file and line; with `errors` given, the message is appended there instead and the
    other lines are still read, so a caller can report every bad line at once.
    """
    path = Path(path)
    # surrogateescape: an undecodable byte ends up in its own line, not in an exception that
    # names no line and stops the file (universal newlines and line numbers stay those of text mode).
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield lineno, _json_object(line)
            except ValueError as exc:
                message = f"{path}:{lineno}: {exc}"
                if errors is None:
                    raise ValueError(message) from None
                errors.append(message)


def _json_object(line: str) -> dict[str, Any]:
    if not line.isascii():
        try:
            line.encode("utf-8")
        except UnicodeEncodeError as exc:  # an escaped undecodable byte
            byte = ord(line[exc.start]) - 0xDC00
            raise ValueError(f"not UTF-8 (byte 0x{byte:02x} at column {exc.start + 1}); save the file as UTF-8") from None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc.msg}") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    return record
