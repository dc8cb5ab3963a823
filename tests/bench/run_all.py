"""Run every benchmark (tests/bench/bench_*.py) and rewrite docs/benchmarks.md.

Each benchmark module exposes `run(quick: bool = False) -> dict` with keys
`title`, `rows` (list of dicts, one per table row) and `notes` (list of str).
A benchmark that fails is reported in the document, not hidden. With --only, the other
benchmarks' sections already in the document are kept (each carries its own date), as is its
header (the full run's date, commit and machine speed), and so are hand-written sections
whose marker names no benchmark (`<!-- bench:measured-once -->`).

    python -m tests.bench.run_all [--quick] [--only ingest,predict]
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import subprocess
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "benchmarks.md"
ORDER = ["ingest", "studio", "train", "predict", "quality", "curve", "recipe", "active"]


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node() or 'host'}: {cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB, Python {platform.python_version()}"


def _speed_index() -> str:
    """How fast this machine is right now: shared machines vary from day to day, and absolute
    targets move with them (compare this line across runs before comparing rates)."""
    import time

    import numpy as np

    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    a @ a
    started = time.perf_counter()
    for _ in range(10):
        a @ a
    gflops = 10 * 2 * 1024**3 / (time.perf_counter() - started) / 1e9
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i & 7
    python = 3 / (time.perf_counter() - started)
    return f"float32 matrix product {gflops:.0f} GFLOP/s (numpy, all cores); pure-Python loop {python:.1f} M steps/s"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _table(rows: list[dict]) -> list[str]:
    if not rows:
        return ["(no rows)"]
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |")
    return lines


def _marker(name: str) -> str:
    return f"<!-- bench:{name} -->"


def _previous_sections(path: Path) -> dict[str, list[str]]:
    """Sections of an existing document, keyed by benchmark name (from their markers)."""
    if not path.exists():
        return {}
    sections: dict[str, list[str]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("<!-- bench:"):
            current = line.removeprefix("<!-- bench:").removesuffix(" -->")
            sections[current] = []
        if current is not None:
            sections[current].append(line)
    return sections


def _previous_header(path: Path) -> list[str]:
    """The lines of an existing document before its first section (its title, date and machine)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[:next((i for i, line in enumerate(lines) if line.startswith("<!-- bench:")), len(lines))]


def _available() -> list[str]:
    found = sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    names = [n for n in _available() if not args.only or n in args.only.split(",")]
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # a section run alone (--only) carries its own date and leaves the header, which describes
    # the full run (its date, commit, machine speed), as it was
    doc = (_previous_header(args.out) if args.only else []) or [
           "# Benchmarks", "", f"Written by `make bench` on {now}, commit `{_commit()}`.", "",
           f"Machine: {_machine()}.", "", f"Speed of the machine at the start of this run: {_speed_index()}.", "",
           "Targets come from the issues; ratios are measured against a reference in the same run, "
           "because these machines are noisy.", ""]
    failed = 0
    previous = _previous_sections(args.out)
    for name in _available():
        if name not in names:
            doc += previous.get(name, [])
            continue
        print(f"== bench {name}", flush=True)
        start = time.perf_counter()
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        try:
            result = importlib.import_module(f"tests.bench.bench_{name}").run(quick=args.quick)
        except Exception:  # a failed benchmark is reported in the document, with its traceback
            failed += 1
            doc += [_marker(name), f"## {name}", "", "FAILED:", "", "```", traceback.format_exc(limit=5), "```", ""]
            continue
        elapsed = time.perf_counter() - start
        doc += [_marker(name), f"## {result['title']}", "", f"Measured {stamp}{' (quick run)' if args.quick else ''}.", ""]
        doc += _table(result["rows"]) + [""]
        doc += [f"- {note}" for note in result.get("notes", [])]
        doc += [f"- benchmark wall time: {elapsed:.0f} s", ""]
        doc += result.get("extra", [])  # a second table of the same run (e.g. the learning curve)
    # hand-written sections (a marker that names no benchmark, e.g. one-off measurements) stay as they are
    doc += [line for name, lines in previous.items() if name not in _available() for line in lines]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(doc) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
