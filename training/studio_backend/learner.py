"""Learning while annotators work: annotation events in, a background retrain, a guarded switch.

`Learner.submit(event)` only puts a webhook event on a queue, so the request that carried it
is answered at once. One worker thread takes the events in order: annotation created,
updated or deleted counts as a change; "Start Training" (the project's Model settings), or
`min_new_annotations` changes since the last try, starts a retrain:

1. a snapshot of the project, as `stance label pull` writes it (labeling.studio.pull), into
   the studio config's annotations_dir; unchanged since the last retrain: nothing to do;
2. its labeled rows (labeled.jsonl: a tie between annotators stays out until adjudicated);
3. the baseline trained as `stance train baseline <snapshot>` does (training.train.train_tracked:
   one MLflow run, registered; a crash ends the run FAILED and the old model keeps serving);
4. the retrained recipe and the serving model scored on the same grouped folds
   (training.studio_backend.compare); the new version is served only if its macro-F1 is not
   worse (by more than `max_drop`); the decision and its reason go on the run as tags
   (backend.decision, backend.reason), in the log and in status();
5. after a switch, the queue re-ranked (training.studio_backend.queue).

Data too thin to train or compare on (a tag without examples, fewer groups than folds) is a
skipped retrain, not a failed run: status() says what is missing.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timezone
from queue import Queue
from typing import Any, Mapping, Sequence

from labeling.config import CONFIG_DIR, load_config
from labeling.schema import LabelSchema
from labeling.studio.client import StudioConnectionError, StudioError, connect
from labeling.studio.config_xml import build_label_config
from labeling.studio.pull import take_snapshot
from labeling.studio.settings import StudioConfig, resolve_path
from labeling.studio.snapshot import SUMMARY
from training import tracking
from training.baseline import BaselineConfig
from training.cv import CVError
from training.dataset import DatasetConfig, SplitError, split_rows, summarize
from training.labeled import LabeledDataError, load_labeled
from training.studio_backend.compare import NothingToCompare, check_comparable, compare_on_folds
from training.studio_backend.config import BackendConfig
from training.studio_backend.queue import rerank
from training.studio_backend.serving import ModelHolder, load_serving
from training.train import train_tracked

log = logging.getLogger(__name__)

START_TRAINING = "START_TRAINING"
# webhook action -> the payload key holding its annotation(s)
CHANGES = {"ANNOTATION_CREATED": "annotation", "ANNOTATION_UPDATED": "annotation",
           "ANNOTATIONS_CREATED": "annotation", "ANNOTATIONS_DELETED": "annotations"}
_STOP = object()
# Data that cannot be trained or compared on yet: a skipped retrain, not a failed run.
_TOO_THIN = (LabeledDataError, SplitError, CVError, NothingToCompare)


def changes(event: Mapping[str, Any]) -> int:
    """How many annotations a webhook event created, updated or deleted (0 for other events)."""
    key = CHANGES.get(str(event.get("action")))
    if key is None:
        return 0
    items = event.get(key)
    return len(items) if isinstance(items, list) and items else 1


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Learner:
    """Retrains in one background thread while the backend answers requests (module docstring).

    cfg: the backend settings; studio_cfg: where Label Studio and the project are (the same as
    `stance label`); holder: the backend's serving slot, swapped on a switch; schema_tags: the
    labeling config's tags; schema, when given, lets a switch rewrite the labeling view's "ticks come
    from the model ..." line. Bad settings raise ConfigError here, before anything is served.
    """

    def __init__(self, cfg: BackendConfig, studio_cfg: StudioConfig, holder: ModelHolder,
                 schema_tags: Sequence[str], schema: LabelSchema | None = None):
        self.cfg, self.studio_cfg, self.holder, self.tags = cfg, studio_cfg, holder, list(schema_tags)
        self.schema = schema
        baseline_path = resolve_path(cfg.baseline_config) if cfg.baseline_config else None
        self.baseline = load_config(BaselineConfig, baseline_path, default=CONFIG_DIR / "baseline.yaml")
        self.dataset = load_config(DatasetConfig, default=CONFIG_DIR / "dataset.yaml")
        tcfg = tracking.load_tracking_config()
        self.tracking = tcfg.model_copy(update={"experiment": cfg.experiment}) if cfg.experiment else tcfg
        self.store = tracking.resolve_tracking_uri(cfg.tracking_uri, self.tracking)
        self.model_name = cfg.register_as or self.tracking.baseline_model_name
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"pending_annotations": 0, "training": False, "last_training": None,
                                       "last_decision": None, "last_error": None, "last_queue": None}
        self._trained_content: str | None = None  # what the last retrain was given
        self._events: Queue = Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="stance-learner", daemon=True)
        self._thread.start()

    # --- the request side: never blocks ---------------------------------------------------
    def submit(self, event: Mapping[str, Any]) -> None:
        """Queue one webhook event ({"action": ...}) for the worker; returns at once.
        Raises RuntimeError after close()."""
        if self._closed:
            raise RuntimeError("the learner is closed")
        self._events.put(dict(event))

    def status(self) -> dict[str, Any]:
        """For /health: serving version, pending annotations, whether a retrain runs, the last
        training time (UTC ISO), the last decision ({decision, reason, ...}), the last error."""
        with self._lock:
            state = dict(self._state)
        return {"serving": self.holder.get().model_version, "retrain_after": self.cfg.min_new_annotations, **state}

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted event is handled; False when `timeout` seconds passed first."""
        deadline = time.monotonic() + timeout
        while self._events.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Stop taking events and end the worker: a retrain in progress is finished (its MLflow run
        ends FINISHED or FAILED), none is started for events still queued. Waits up to `timeout`
        seconds (None: as long as the retrain in progress takes)."""
        if not self._closed:
            self._closed = True
            self._events.put(_STOP)
        self._thread.join(timeout)

    # --- the worker -----------------------------------------------------------------------
    def _set(self, **values: Any) -> None:
        with self._lock:
            self._state.update(values)

    def _work(self) -> None:
        while True:
            event = self._events.get()
            try:
                if event is _STOP:
                    return
                self._handle(event)
            except Exception as exc:  # the worker outlives a bad job: logged with its traceback, shown in status()
                log.exception("retrain failed; still serving %s", self.holder.get().model_version)
                self._set(last_error=f"{_now()}: {type(exc).__name__}: {exc}")
            finally:
                self._events.task_done()

    def _handle(self, event: dict[str, Any]) -> None:
        if self._closed:  # shutting down: no new retrain for events that were still queued
            return
        with self._lock:
            self._state["pending_annotations"] += changes(event)
            pending = self._state["pending_annotations"]
        if event.get("action") == START_TRAINING:
            self._retrain("start training requested", forced=True)
        elif pending >= self.cfg.min_new_annotations:
            self._retrain(f"{pending} annotation changes since the last try", forced=False)

    def _retrain(self, trigger: str, forced: bool) -> None:
        self._set(training=True)
        try:
            decision = self._try_retrain(trigger, forced)
        except StudioConnectionError:
            raise  # pending kept: the next event tries again
        except _TOO_THIN as exc:
            decision = {"decision": "skipped", "reason": f"not enough data yet: {exc}"}
        except Exception as exc:
            # a failed run: counted changes start again from 0, so that every later event does not
            # retrain the same data into another failure ("Start Training" still forces one)
            self._set(pending_annotations=0, last_decision={"at": _now(), "trigger": trigger, "decision": "failed",
                                                            "reason": f"{type(exc).__name__}: {exc}"})
            raise
        finally:
            self._set(training=False)
        log.info("retrain (%s): %s: %s", trigger, decision["decision"], decision["reason"])
        self._set(pending_annotations=0, last_decision={"at": _now(), "trigger": trigger, **decision})

    def _snapshot(self) -> Any:
        client = connect(self.studio_cfg)
        project = client.find_project(self.studio_cfg.project_title, self.studio_cfg.project_id)
        if project is None:
            raise StudioError(f"Label Studio at {client.url}: no project titled {self.studio_cfg.project_title!r}")
        export, users = client.export(project["id"]), client.users()
        meta = {"source": f"{client.url}/projects/{project['id']}", "project_id": project["id"],
                "project_title": project["title"], "taken_by": "stance label serve"}
        outcome = take_snapshot(export, self.tags, resolve_path(self.studio_cfg.annotations_dir), meta, users)
        return client, project["id"], outcome.snapshot

    def _try_retrain(self, trigger: str, forced: bool) -> dict[str, Any]:
        client, project_id, snapshot = self._snapshot()
        content = json.loads((snapshot / SUMMARY).read_text(encoding="utf-8"))["content_hash"]
        if content == self._trained_content and not forced:
            return {"decision": "skipped", "reason": f"no annotation changed since snapshot {snapshot.name}"}
        rows = load_labeled(snapshot, self.tags)  # resolved rows only: ties wait in adjudication.jsonl
        serving = self.holder.get()
        # checked before any run: data that cannot be compared on is not worth a registered version
        check_comparable(rows, self.tags, serving.scorer, self.cfg.cv_folds)
        splits = split_rows(rows, self.tags, self.dataset)
        meta = summarize(splits, self.tags, self.dataset, str(snapshot))
        self._trained_content = content
        self._set(last_training=_now())
        summary = train_tracked("baseline", splits, meta, self.tags, self.baseline, self.store, self.tracking,
                                self.model_name, run_tags={"stance.trigger": "studio-backend", "studio.snapshot":
                                                           snapshot.name, "backend.serving_before": serving.model_version})
        new_uri = f"models:/{summary['name']}/{summary['version']}"
        decision = self._decide(rows, serving, summary["run_id"], new_uri)
        if decision["decision"] == "switched":
            self.holder.swap(load_serving(new_uri, self.tags, self.store))
            self._requeue(client, project_id)
        return decision

    def _decide(self, rows: list[dict], serving: Any, run_id: str, new_uri: str) -> dict[str, Any]:
        metrics: dict[str, float] = {}
        try:
            cmp = compare_on_folds(rows, self.tags, serving.scorer, self.baseline, self.cfg.cv_folds, self.cfg.seed)
        except _TOO_THIN as exc:
            decision, reason = "kept", f"cannot compare: {exc}"
        except Exception as exc:  # the version is registered; without a comparison it is not served
            log.exception("comparing %s with %s failed", new_uri, serving.model_version)
            decision, reason = "kept", f"cannot compare: {type(exc).__name__}: {exc}"
        else:
            metrics = {"backend.cv_macro_f1": cmp.candidate, "backend.serving_cv_macro_f1": cmp.serving,
                       "backend.compared_rows": float(cmp.rows)}
            numbers = (f"grouped {self.cfg.cv_folds}-fold macro-F1 {cmp.candidate:.3f} vs {cmp.serving:.3f} for "
                       f"{serving.model_version} on {cmp.rows} sentences it had not seen"
                       + ("" if cmp.lineage else " (no lineage.json: scored on all, which favours it)"))
            if cmp.candidate >= cmp.serving - self.cfg.max_drop:
                decision, reason = "switched", f"{new_uri}: {numbers}"
            else:
                decision, reason = "kept", f"{new_uri} is worse: {numbers}"
        tracking.log_to_existing_run(self.store, run_id, metrics, {},
                                     tags={"backend.decision": decision, "backend.reason": reason[:5000]})
        return {"decision": decision, "reason": reason, "run_id": run_id, "model": new_uri, **metrics}

    def _requeue(self, client: Any, project_id: int) -> None:
        try:
            model = self.holder.get()
            view = build_label_config(self.schema, model.model_version) if self.schema is not None else None
            report = rerank(client, project_id, model, self.cfg.rescore_batch_size, self.cfg.queue_strategy,
                            self.cfg.queue_batch, self.cfg.uncertainty_sampling, self.cfg.seed, label_config=view)
        except StudioError as exc:  # the switch stands; the queue catches up at the next switch
            log.warning("switched, but the queue was not re-ranked: %s", exc)
            self._set(last_queue={"at": _now(), "error": str(exc)})
            return
        log.info("queue re-ranked for %s: %d open tasks, %d scored in %d requests", report.model_version,
                 report.open_tasks, report.scored, report.requests)
        self._set(last_queue={"at": _now(), "model_version": report.model_version, "open_tasks": report.open_tasks,
                              "scored": report.scored, "next_batch": report.next_batch[:20]})
