"""Atomic writes: the old target survives every failure and a crash in the middle; modes follow the umask."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest

from labeling import io
from labeling.io import atomic_open, atomic_path, write_jsonl


def _dir(path, **files):
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text, encoding="utf-8")
    return path


def _contents(path):
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(path.iterdir())}


def test_atomic_dir_replaces_the_target_with_the_new_directory(tmp_path):
    target = _dir(tmp_path / "out", old="1")
    with io.atomic_dir(target) as tmp:
        (tmp / "new").write_text("2", encoding="utf-8")
    assert _contents(target) == {"new": "2"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing left beside it


def test_error_while_writing_leaves_the_old_target_untouched(tmp_path):
    target = _dir(tmp_path / "out", old="1")
    with pytest.raises(RuntimeError, match="disk full"):
        with io.atomic_dir(target) as tmp:
            (tmp / "half").write_text("x", encoding="utf-8")
            raise RuntimeError("disk full")
    assert _contents(target) == {"old": "1"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failed_move_into_place_puts_the_old_target_back(tmp_path, monkeypatch):
    target = _dir(tmp_path / "out", old="1")
    new = _dir(tmp_path / "new", new="2")
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the old target is aside; moving the new one in fails
            raise OSError("simulated failure")
        real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", replace)
    with pytest.raises(OSError, match="simulated failure"):
        io.replace_dir(new, target)
    assert _contents(target) == {"old": "1"} and _contents(new) == {"new": "2"}


def test_old_target_is_deleted_only_once_the_new_one_is_in_place(tmp_path, monkeypatch):
    target = _dir(tmp_path / "out", old="1")
    seen = []
    real_rmtree = io.shutil.rmtree

    def rmtree(path, *args, **kwargs):
        seen.append(_contents(target))
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(io.shutil, "rmtree", rmtree)
    io.replace_dir(_dir(tmp_path / "new", new="2"), target)
    assert seen == [{"new": "2"}]


def test_crash_between_the_two_renames_keeps_the_old_directory_on_disk(tmp_path):
    """A process killed in the middle of the swap loses nothing: the old target is only renamed aside."""
    target = _dir(tmp_path / "out", old="1")
    script = textwrap.dedent(f"""
        import os
        from labeling import io

        real_replace, calls = os.replace, []

        def replace(src, dst):
            calls.append(src)
            if len(calls) == 2:
                os._exit(9)  # killed after the old target went aside, before the new one moved in
            real_replace(src, dst)

        io.os.replace = replace
        with io.atomic_dir({str(target)!r}) as tmp:
            (tmp / "new").write_text("2", encoding="utf-8")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(".out.old-")]
    fresh = [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]
    assert len(aside) == 1 and _contents(aside[0]) == {"old": "1"}
    assert len(fresh) == 1 and _contents(fresh[0]) == {"new": "2"}


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_outputs_follow_the_umask_like_open(tmp_path, umask, expected):
    old = os.umask(umask)
    try:
        with atomic_open(tmp_path / "labeled.jsonl") as fh:
            fh.write("{}\n")
        write_jsonl(tmp_path / "rows.jsonl", [{"a": 1}])
        with atomic_path(tmp_path / "plot.png") as tmp:
            tmp.write_bytes(b"png")
        with open(tmp_path / "plain.txt", "w") as fh:  # what a plain open gives, for comparison
            fh.write("x")
    finally:
        os.umask(old)
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode)
             for name in ("labeled.jsonl", "rows.jsonl", "plot.png", "plain.txt")}
    assert modes == dict.fromkeys(modes, expected)


def test_private_outputs_are_owner_only_whatever_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        with atomic_open(tmp_path / "credentials.json", private=True) as fh:
            fh.write("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "credentials.json").stat().st_mode) == 0o600
