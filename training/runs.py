"""Runs side by side: a comparison table and a self-contained HTML report. Pure functions over
the run dicts of training.tracking.search_runs.
"""
from __future__ import annotations

import base64
import html
import math
from datetime import datetime, timezone
from typing import Any, Sequence

from training.plots import f1_across_runs, png_bytes


def _num(metrics: dict[str, float], key: str) -> float:
    return float(metrics.get(key, math.nan))


def compare_rows(runs: Sequence[dict[str, Any]], tags: Sequence[str]) -> list[dict[str, Any]]:
    """One row per run: run, model, data, macro_f1 (+ low/high), f1 per tag, train_seconds, status, started.

    Trained runs report their test split; K-fold runs (tag "cv") their fold mean, and their
    interval is mean +- one standard deviation across folds.
    """
    rows = []
    for r in runs:
        m, t = r["metrics"], r["tags"]
        cv = "cv" in t
        if cv:
            mean, std = _num(m, "cv_mean_macro_f1"), _num(m, "cv_std_macro_f1")
            macro, low, high = mean, mean - std, mean + std
            f1 = {tag: _num(m, f"cv_mean_f1_{tag}") for tag in tags}
            seconds = _num(m, "cv_mean_train_seconds")
        else:
            macro, low, high = (_num(m, f"test_macro_f1{s}") for s in ("", "_low", "_high"))
            f1 = {tag: _num(m, f"test_f1_{tag}") for tag in tags}
            seconds = _num(m, "train_seconds")
        kind = t.get("model_kind", "?") + (f" ({t['cv']}-fold)" if cv else "")
        started = datetime.fromtimestamp(r["start_time"] / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        rows.append({"run": r["name"] or r["run_id"][:8], "run_id": r["run_id"], "model": kind,
                     "registered": t.get("registered_model", ""), "data": t.get("data.fingerprint", ""),
                     "macro_f1": macro, "macro_f1_low": low, "macro_f1_high": high,
                     **{f"f1_{tag}": f1[tag] for tag in tags}, "train_seconds": seconds,
                     "status": r["status"], "started": started})
    return rows


def fmt(value: float, digits: int = 3) -> str:
    """A number for a table; NaN (not measured) as a dash."""
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def html_report(rows: Sequence[dict[str, Any]], tags: Sequence[str], title: str = "Stance Lab runs") -> str:
    """A standalone HTML page: the comparison table and an embedded per-tag F1 plot across runs."""
    finished = [r for r in rows if not math.isnan(r["macro_f1"])]
    plot = f1_across_runs([(f"{r['run']} ({r['model']})", {t: r[f"f1_{t}"] for t in tags}) for r in finished], tags)
    img = base64.b64encode(png_bytes(plot)).decode("ascii")
    head = ["run", "model", "registered", "data", "macro-F1 [95% CI]"] + [f"F1 {t}" for t in tags] + ["train s", "status", "started"]
    body = []
    for r in rows:
        cells = [r["run"], r["model"], r["registered"], r["data"],
                 f"{fmt(r['macro_f1'])} [{fmt(r['macro_f1_low'])}, {fmt(r['macro_f1_high'])}]",
                 *(fmt(r[f"f1_{t}"]) for t in tags), fmt(r["train_seconds"], 1), r["status"], r["started"]]
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} td:first-child{{text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{len(rows)} run(s). Trained runs: test split, 95% bootstrap interval; K-fold runs: fold mean &plusmn; one standard deviation.</p>
<table><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr>
{chr(10).join(body)}
</table>
<h2>Per-tag F1 across runs</h2>
<img alt="per-tag F1 across runs" src="data:image/png;base64,{img}">
</body></html>
"""


GONE = "GONE"  # the store says RUNNING, but the process that ran it no longer exists


def mark_gone_runs(runs: Sequence[dict[str, Any]], host: str | None = None) -> list[dict[str, Any]]:
    """`runs` (training.tracking.search_runs dicts), each RUNNING one whose process is gone given
    the status GONE: a run killed with SIGKILL (or by a crash of the machine) never ends itself.

    Only runs started on `host` (default: this machine) with a recorded pid can be checked (tags
    training.tracking.PID_TAG, HOST_TAG); a pid now held by a process started after the run is
    gone too (the pid was reused). The store is not changed.
    """
    import socket

    import psutil

    from training.tracking import HOST_TAG, PID_TAG

    host = host or socket.gethostname()
    marked = []
    for run in runs:
        tags = run["tags"]
        if run["status"] == "RUNNING" and tags.get(HOST_TAG) == host and str(tags.get(PID_TAG, "")).isdigit():
            try:
                process = psutil.Process(int(tags[PID_TAG]))
                alive = process.create_time() * 1000 <= run["start_time"] + 1000 and process.status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                alive = False
            except psutil.AccessDenied:  # another user's live process
                alive = True
            if not alive:
                run = {**run, "status": GONE}
        marked.append(run)
    return marked
