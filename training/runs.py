"""Runs side by side: a comparison table and a self-contained HTML report. Pure functions over
the run dicts of training.tracking.search_runs.
"""
from __future__ import annotations

import base64
import html
import math
from datetime import datetime, timezone
from typing import Any, Sequence

from matplotlib.figure import Figure

from training.plots import f1_across_runs, png_bytes


def _num(metrics: dict[str, float], key: str) -> float:
    return float(metrics.get(key, math.nan))


def _evals(metrics: dict[str, float]) -> dict[str, tuple[float, float, float]]:
    """Scores `stance evaluate --log-to-run` added: {file stem: (macro-F1, low, high)}."""
    out = {}
    for key, value in metrics.items():
        if key.startswith("eval_") and key.endswith("_macro_f1") and f"{key}_low" in metrics:
            out[key[len("eval_"):-len("_macro_f1")]] = (value, metrics[f"{key}_low"], metrics.get(f"{key}_high", math.nan))
    return dict(sorted(out.items())[:8])


def compare_rows(runs: Sequence[dict[str, Any]], tags: Sequence[str],
                 aliases: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """One row per run: run, model, registered (+ its aliases), val_macro_f1, macro_f1 (+ low/high),
    f1 per tag (+ low/high), data, train_seconds, status, started.

    Trained runs report their test split; K-fold runs (tag "cv") their fold mean, and their
    interval is mean +- one standard deviation across folds. `aliases`: {"name/version": [alias]}
    from the registry (e.g. champion).
    """
    rows = []
    for r in runs:
        m, t = r["metrics"], r["tags"]
        cv = "cv" in t
        if cv:
            mean, std = _num(m, "cv_mean_macro_f1"), _num(m, "cv_std_macro_f1")
            macro, low, high = mean, mean - std, mean + std
            f1 = {}
            for tag in tags:
                tag_mean, tag_std = _num(m, f"cv_mean_f1_{tag}"), _num(m, f"cv_std_f1_{tag}")
                f1[tag] = [tag_mean, tag_mean - tag_std, tag_mean + tag_std]
            seconds = _num(m, "cv_mean_train_seconds")
        else:
            macro, low, high = (_num(m, f"test_macro_f1{s}") for s in ("", "_low", "_high"))
            f1 = {tag: [_num(m, f"test_f1{s}_{tag}") for s in ("", "_low", "_high")] for tag in tags}
            seconds = _num(m, "train_seconds")
        kind = t.get("model_kind", "?") + (f" ({t['cv']}-fold)" if cv else "")
        started = datetime.fromtimestamp(r["start_time"] / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        registered = t.get("registered_model", "")
        rows.append({"run": r["name"] or r["run_id"][:8], "run_id": r["run_id"], "model": kind, "cv": cv,
                     "registered": registered, "aliases": (aliases or {}).get(registered, []),
                     "data": t.get("data.fingerprint", ""), "val_macro_f1": _num(m, "val_macro_f1"),
                     "macro_f1": macro, "macro_f1_low": low, "macro_f1_high": high,
                     **{f"f1_{tag}": f1[tag][0] for tag in tags},
                     **{f"f1_{tag}_low": f1[tag][1] for tag in tags},
                     **{f"f1_{tag}_high": f1[tag][2] for tag in tags},
                     "train_seconds": seconds, "status": r["status"], "started": started, "evals": _evals(m)})
    return rows


def short_tag(tag: str) -> str:
    """A column header for a tag: escalation -> esc, de-escalation -> de-esc."""
    return "-".join(part[:3] for part in tag.split("-"))


def _short_ci(low: float, high: float) -> str:
    """[0.81, 0.87] -> "[.81,.87]" (9 characters)."""
    if math.isnan(low) or math.isnan(high):
        return ""
    return "[" + ",".join(f"{v:.2f}".replace("0.", ".", 1) if 0 <= v < 1 else f"{v:.2f}" for v in (low, high)) + "]"


def _model_cell(r: dict[str, Any]) -> str:
    version = r["registered"].rsplit("/", 1)[-1] if r["registered"] else ""
    cell = r["model"] + (f" v{version}" if version else "")
    return cell + "".join(f" {CHAMPION_MARK}" if a == "champion" else f" @{a}" for a in r["aliases"])


# (header, cell, priority: lower stays longer). The run id, model and the two macro-F1 figures
# are what a comparison is about; per-tag F1 next; provenance and timing last.
def _columns(tags: Sequence[str]) -> list[tuple[str, Any, int]]:
    cols = [
        ("run", lambda r: r["run_id"][:8], 0),
        ("model", _model_cell, 0),
        ("val F1", lambda r: fmt(r["val_macro_f1"]), 1),
        ("test macro-F1", lambda r: f"{fmt(r['macro_f1'])} {_short_ci(r['macro_f1_low'], r['macro_f1_high'])}".strip(), 0),
    ]
    cols += [(short_tag(t), (lambda r, t=t: fmt(r[f"f1_{t}"])), 2) for t in tags]
    cols += [
        ("status", lambda r: r["status"], 3),
        ("data", lambda r: r["data"][:8], 5),
        ("train s", lambda r: fmt(r["train_seconds"], 0), 6),
        ("started", lambda r: r["started"][5:], 4),
        ("name", lambda r: r["run"], 7),
    ]
    return cols


COLUMN_GAP = 2  # what the terminal table spends between columns
TABLE_EDGE = 2  # and around them
CHAMPION_MARK = "★"  # the version behind @champion


def compare_layout(rows: Sequence[dict[str, Any]], tags: Sequence[str],
                   width: int) -> tuple[list[str], list[list[str]]] | None:
    """Headers and cells of the comparison table that fit `width` characters, dropping columns
    from the lowest priority up; None when even the essential columns do not fit (print a
    vertical list instead)."""
    cols = _columns(tags)
    cells = [[fn(r) for _, fn, _ in cols] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (h, _, _) in enumerate(cols)]
    width -= TABLE_EDGE
    keep = list(range(len(cols)))
    for priority in sorted({p for _, _, p in cols}, reverse=True):
        if sum(widths[i] for i in keep) + COLUMN_GAP * (len(keep) - 1) <= width:
            break
        if priority == 0:
            return None
        keep = [i for i in keep if cols[i][2] != priority]
    if sum(widths[i] for i in keep) + COLUMN_GAP * (len(keep) - 1) > width:
        return None
    return [cols[i][0] for i in keep], [[c[i] for i in keep] for c in cells]


def compare_vertical(rows: Sequence[dict[str, Any]], tags: Sequence[str]) -> list[str]:
    """One block per run, one figure per line: for terminals too narrow for any table."""
    lines = []
    for r in rows:
        lines.append(f"{r['run_id'][:8]}  {_model_cell(r)}  {r['status']}")
        lines.append(f"  val macro-F1 {fmt(r['val_macro_f1'])}  test {fmt(r['macro_f1'])} "
                     f"{_short_ci(r['macro_f1_low'], r['macro_f1_high'])}")
        lines.append("  " + "  ".join(f"{short_tag(t)} {fmt(r[f'f1_{t}'])}" for t in tags))
    return lines


def fmt(value: float, digits: int = 3) -> str:
    """A number for a table; NaN (not measured) as a dash."""
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def report_figure(rows: Sequence[dict[str, Any]], tags: Sequence[str]) -> Figure:
    """Per-tag F1 across the finished runs, intervals as error bars, the champion marked, and the
    scores `stance evaluate --log-to-run` added (other labeled files) in a second panel."""
    finished = [r for r in rows if not math.isnan(r["macro_f1"])]
    return f1_across_runs([{"label": f"{r['run_id'][:8]} {r['model']}", "champion": "champion" in r["aliases"],
                            "f1": {t: r[f"f1_{t}"] for t in tags}, "low": {t: r[f"f1_{t}_low"] for t in tags},
                            "high": {t: r[f"f1_{t}_high"] for t in tags}, "evals": r.get("evals", {})}
                           for r in finished], tags)


def html_report(rows: Sequence[dict[str, Any]], tags: Sequence[str], title: str = "Stance Lab runs") -> str:
    """A standalone HTML page: the comparison table and the report figure (report_figure)."""
    img = base64.b64encode(png_bytes(report_figure(rows, tags))).decode("ascii")
    head = ["run", "model", "registered", "data", "val macro-F1", "test macro-F1 [95% CI]"] + [f"F1 {t}" for t in tags] + ["train s", "status", "started"]
    body = []
    for r in rows:
        registered = r["registered"] + "".join(f" @{a}" for a in r["aliases"])
        cells = [r["run"], r["model"], registered, r["data"], fmt(r["val_macro_f1"]),
                 f"{fmt(r['macro_f1'])} [{fmt(r['macro_f1_low'])}, {fmt(r['macro_f1_high'])}]",
                 *(fmt(r[f"f1_{t}"]) for t in tags), fmt(r["train_seconds"], 1), r["status"], r["started"]]
        style = ' style="font-weight:bold"' if "champion" in r["aliases"] else ""
        body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}} td:first-child{{text-align:left}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{len(rows)} run(s), newest first; the champion in bold. Trained runs: test split, 95% bootstrap interval; K-fold runs: fold mean &plusmn; one standard deviation.</p>
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
