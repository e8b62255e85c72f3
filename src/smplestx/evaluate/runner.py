"""The evaluation loop: test samples -> crops -> model -> meshes -> per-sample metrics (both modes), resumable.

Per-sample rows are appended to ``per_sample.csv`` after every batch (flushed and synced), so a killed run loses at
most one batch and a rerun with the same output folder continues where it stopped. ``summary.json`` and the
printed table are computed from every row of the CSV.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from ..body import SMPLX_PARAM_NAMES
from ..errors import SmplestxError
from ..fingerprint import file_fingerprint, folder_fingerprint, model_identity
from ..geometry.crops import crop_image, process_box
from ..io.atomic import atomic_path, write_text
from ..sharding import Shard
from .benchmarks import Benchmark
from .metrics import METRIC_NAMES, EvalAssets, mesh_metrics_per_sample
from .samples import GroundTruthBuilder, ImageError, SampleList, TestSample, build_test_samples, load_image

SMPL_METRIC_NAMES: tuple[str, ...] = ("mpvpe_all", "pa_mpvpe_all", "mpjpe_body", "pa_mpjpe_body")
REF_PREFIX = "ref_"
_ID_COLUMNS = ("index", "image", "gender", "lhand_valid", "rhand_valid")
RUN_FILE = "run.json"
CSV_FILE = "per_sample.csv"
SUMMARY_FILE = "summary.json"


class EvalSetupError(SmplestxError, ValueError):
    """The output folder belongs to a different run, or the inputs do not fit together (one line)."""


@dataclass
class EvalOptions:
    """Knobs of an evaluation run."""

    batch_size: int = 16
    limit: int | None = None  # evaluate only the first N test samples
    mode: str = "corrected"  # the mode shown first in the table; both modes are always computed and stored
    workers: int = 4  # image decoding threads
    shard: Shard = field(default_factory=Shard)  # this process's share of the test samples
    restart: bool = False  # discard this folder's earlier results of another run instead of refusing


@dataclass
class EvalReport:
    """What a run produced: the summary numbers and where the files are."""

    benchmark: str
    output: Path
    evaluated: int
    skipped: dict[str, int]
    corrected: dict[str, float]
    reference: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON-able summary."""
        return {"benchmark": self.benchmark, "evaluated": self.evaluated, "skipped": self.skipped,
                "corrected": self.corrected, "reference": self.reference, "counts": self.counts,
                "units": "mm"}


def metric_names(benchmark: Benchmark) -> tuple[str, ...]:
    """Per-sample metric columns of ``benchmark`` (the SMPL-X set, or the SMPL set for SMPL ground truth)."""
    return SMPL_METRIC_NAMES if benchmark.rules.body_model == "smpl" else METRIC_NAMES


def csv_columns(benchmark: Benchmark) -> list[str]:
    """Header of ``per_sample.csv``: ids, corrected-mode metrics, reference-mode metrics (``ref_`` prefix)."""
    names = metric_names(benchmark)
    return [*_ID_COLUMNS, *names, *(REF_PREFIX + n for n in names)]


# ----------------------------------------------------------------------------------------------------------------
# The resumable CSV


def _repair_tail(path: Path) -> None:
    """Drop a last line cut short by a kill (no trailing newline)."""
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a per-sample CSV (empty list when it does not exist)."""
    if not path.exists():
        return []
    _repair_tail(path)
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _fmt(v: float | None) -> str:
    if v is None:
        return ""
    return "nan" if math.isnan(v) else f"{v:.6f}"


def _parse(v: str) -> float | None:
    return None if v == "" else float(v)


class _CsvAppender:
    """Appends rows and makes them durable batch by batch."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        new = not path.exists() or path.stat().st_size == 0
        self._fh = open(path, "a", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=columns)
        if new:
            self._writer.writeheader()
            self._sync()

    def _sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def write(self, rows: Iterable[dict[str, str]]) -> None:
        self._writer.writerows(rows)
        self._sync()

    def close(self) -> None:
        self._fh.close()


def _atomic_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, allow_nan=True) + "\n")


def _differences(old: Any, new: dict[str, Any]) -> str:
    """Which recorded settings of a run differ (for a one-line refusal)."""
    if not isinstance(old, dict):
        return "its run.json is unreadable"
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(keys) or "settings"


def discard_results(output: Path) -> None:
    """Remove this package's result files of an evaluation folder (nothing else in it)."""
    for pattern in (RUN_FILE, CSV_FILE, SUMMARY_FILE, "per_sample.shard-*.csv", "summary.shard-*.json",
                    "predictions.zip"):
        for f in output.glob(pattern):
            f.unlink()
    predictions = output / "predictions"
    if predictions.is_dir():
        for f in predictions.glob("*.pkl"):
            f.unlink()


def merge_eval_shards(output: Path) -> tuple[EvalReport, list[int]]:
    """Join the per-shard CSVs of a sharded evaluation into ``per_sample.csv`` and ``summary.json``.

    Returns the report (the same numbers a single process gives) and the shards that are missing.
    """
    parts = sorted(output.glob("per_sample.shard-*-of-*.csv"))
    if not parts:
        raise FileNotFoundError(f"{output}: no per_sample.shard-*-of-*.csv files to merge (was the evaluation sharded?)")
    counts = {int(p.name.rsplit("-of-", 1)[1].split(".")[0]) for p in parts}
    if len(counts) != 1:
        raise EvalSetupError(f"{output}: per-sample files of different splits ({sorted(counts)} shares); remove the stale ones")
    count = counts.pop()
    present = {int(p.name.split("shard-")[1].split("-of-")[0]) for p in parts}
    with open(parts[0], newline="") as fh:
        columns = next(csv.reader(fh), [])
    rows: dict[int, dict[str, str]] = {}
    for part in parts:
        for r in read_rows(part):
            i = int(r["index"])
            if i in rows and rows[i] != r:
                raise EvalSetupError(f"{part}: sample {i} was scored differently by two shards; rerun one of them")
            rows[i] = r
    ordered = [rows[i] for i in sorted(rows)]
    with atomic_path(output / CSV_FILE) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(ordered)
    names = tuple(c for c in columns if c not in _ID_COLUMNS and not c.startswith(REF_PREFIX))
    corrected, reference, numbers = summarize_rows(ordered, names)
    skipped: dict[str, int] = {}
    run = json.loads((output / RUN_FILE).read_text()) if (output / RUN_FILE).exists() else {}
    total = None
    for s in sorted(output.glob("summary.shard-*-of-*.json")):
        data = json.loads(s.read_text())
        total = data.get("total_instances", total)
        for k, v in data.get("skipped", {}).items():
            skipped[k] = skipped.get(k, 0) + int(v)
    report = EvalReport(str(run.get("benchmark", "")), output, len(ordered), skipped, corrected, reference, numbers)
    _atomic_json(output / SUMMARY_FILE, {**report.summary(), "total_instances": total,
                                         "shard": {"index": 0, "count": count, "origin": "merged"},
                                         "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    if (output / "predictions").is_dir() and not rows_have_metrics(ordered, names):
        from .agora import zip_predictions

        zip_predictions(output)
    return report, sorted(set(range(count)) - present)


def rows_have_metrics(rows: list[dict[str, str]], names: tuple[str, ...]) -> bool:
    """True when the rows carry metric values (a benchmark with ground truth)."""
    return any(r.get(n) for r in rows for n in names)


# ----------------------------------------------------------------------------------------------------------------
# Summaries


def summarize_rows(rows: list[dict[str, str]], names: tuple[str, ...]) -> tuple[dict[str, float], dict[str, float],
                                                                                 dict[str, int]]:
    """Corrected means (over present, finite-or-not values) and reference means (plain list means, NaN propagates)."""
    corrected: dict[str, float] = {}
    reference: dict[str, float] = {}
    counts: dict[str, int] = {}
    for n in names:
        vals = [x for r in rows if (x := _parse(r.get(n, ""))) is not None]
        corrected[n] = float(np.mean(vals)) if vals else math.nan
        counts[n] = len(vals)
        ref = [x for r in rows if (x := _parse(r.get(REF_PREFIX + n, ""))) is not None]
        reference[n] = float(np.mean(ref)) if ref else math.nan
    return corrected, reference, counts


# ----------------------------------------------------------------------------------------------------------------
# The run


@dataclass
class _Prepared:
    sample: TestSample
    crop: np.ndarray | None  # (512, 384, 3) float32 0..255
    error: str | None = None
    box: np.ndarray | None = None
    image_size: tuple[int, int] = (0, 0)  # (w, h)


def _prepare(sample: TestSample, box_ratio: float) -> _Prepared:
    img = load_image(sample.image_path)
    h, w = img.shape[:2]
    box = sample.box
    if box is None:
        box = process_box(sample.box_xywh, w, h, ratio=box_ratio)
        if box is None:
            return _Prepared(sample, None, "box with no area")
    return _Prepared(sample, crop_image(img, box).patch, box=box, image_size=(w, h))


def _prefetched(pool: ThreadPoolExecutor, batches: list[list[TestSample]], ratio: float
                ) -> Iterable[list[_Prepared]]:
    """Prepared batches in order; the next batch decodes (image per thread) while this one runs."""
    window: deque[list[Future[_Prepared]]] = deque()
    it = iter(batches)
    for b in islice(it, 2):
        window.append([pool.submit(_prepare, s, ratio) for s in b])
    while window:
        futures = window.popleft()
        nxt = next(it, None)
        if nxt is not None:
            window.append([pool.submit(_prepare, s, ratio) for s in nxt])
        try:
            yield [f.result() for f in futures]
        except BaseException:
            for fs in window:
                for f in fs:
                    f.cancel()
            raise


def _person_ids(samples: list[TestSample]) -> dict[int, int]:
    """Per sample, its rank among the samples of the same image (the server's personId), stable across resumes."""
    seen: dict[Path, int] = {}
    out = {}
    for s in samples:
        out[s.index] = seen.get(s.image_path, 0)
        seen[s.image_path] = out[s.index] + 1
    return out


def eval_identity(benchmark: Benchmark, data_dir: str | Path, model: torch.nn.Module, body_models: str | Path) -> dict:
    """What an evaluation's rows depend on: the model (weights by content), body models, annotation, protocol, precision."""
    from ..models.loading import network_backend, network_precision

    annotation = benchmark.annotation_path(data_dir).resolve()
    return {**model_identity(model), "body_models": folder_fingerprint(body_models),
            "annotation": str(annotation), "annotation_data": file_fingerprint(annotation),
            "interval": benchmark.rules.interval,
            "dtype": network_precision(getattr(model, "net", model)),
            "backend": network_backend(getattr(model, "net", model))}


class EvalRun:
    """One benchmark evaluation writing into ``output`` (resumes what is there)."""

    def __init__(self, benchmark: Benchmark, data_dir: str | Path, model: torch.nn.Module, body_models: str | Path,
                 output: str | Path, options: EvalOptions | None = None, *,
                 identity: dict[str, Any] | None = None) -> None:
        # A resume must not average rows of another model, body, annotation or precision with these: the identity
        # is built from what runs (content, not paths), so the Python API resumes as safely as the CLI.
        self.benchmark = benchmark
        self.data_dir = Path(data_dir)
        self.model = model
        self.body_models = body_models
        self.output = Path(output)
        self.options = options or EvalOptions()
        self.identity = eval_identity(benchmark, data_dir, model, body_models) if identity is None else identity
        self.device = next(model.parameters()).device

    # -- setup -----------------------------------------------------------------------------------------------

    @property
    def csv_path(self) -> Path:
        """This process's per-sample CSV: ``per_sample.csv``, or ``per_sample.shard-I-of-N.csv`` for one share."""
        shard = self.options.shard
        return self.output / (f"per_sample.{shard.tag}.csv" if shard.is_split else CSV_FILE)

    def _check_output(self) -> None:
        self.output.mkdir(parents=True, exist_ok=True)
        run_file = self.output / RUN_FILE
        ident = json.loads(json.dumps({"benchmark": self.benchmark.name, **self.identity}))
        if run_file.exists():
            try:
                old = json.loads(run_file.read_text())
            except ValueError:
                old = None
            if old != ident and self.options.restart:
                discard_results(self.output)
            elif old != ident:
                what = _differences(old, ident)
                raise EvalSetupError(f"{self.output}: holds results of another run ({what} differ{'s' if ',' not in what else ''}); "
                                     f"use another --output, or --restart to discard them")
        if not run_file.exists():
            _atomic_json(run_file, ident)
        csv_path = self.csv_path
        if csv_path.exists() and csv_path.stat().st_size:
            with open(csv_path, newline="") as fh:
                header = next(csv.reader(fh), [])
            if header != csv_columns(self.benchmark):
                raise EvalSetupError(f"{csv_path}: its columns do not match this version's; use another --output")

    def samples(self) -> tuple[SampleList, GroundTruthBuilder]:
        """The benchmark's test samples (limit applied) and the GT builder."""
        hd = self.benchmark.open(self.data_dir)
        gt = GroundTruthBuilder(self.body_models, self.benchmark.rules, device="cpu")
        hands_mean = gt.hands_mean() if self.benchmark.rules.flat_hand_mean else None
        found = build_test_samples(hd, self.benchmark.image_root(self.data_dir), self.benchmark.rules,
                                   hands_mean=hands_mean)
        if self.options.limit is not None:
            found.samples = found.samples[: self.options.limit]
        return found, gt

    def _share(self, samples: list[TestSample]) -> list[TestSample]:
        """The samples of this process's share (all of them when not sharded)."""
        shard = self.options.shard
        # Every N-th batch: samples cost about the same, and each sample is scored in the batch a single
        # process would put it in, so the merged numbers equal a single run's to the last digit.
        bs = max(1, self.options.batch_size)
        return [s for k, s in enumerate(samples) if (k // bs) % shard.count == shard.index]

    # -- metrics ---------------------------------------------------------------------------------------------

    def _metrics(self, pred: np.ndarray, gt: np.ndarray, batch: list[TestSample]) -> list[dict[str, str]]:
        names = metric_names(self.benchmark)
        if self.benchmark.rules.body_model == "smpl":
            from .smpl_metrics import smpl_mesh_metrics

            cor = smpl_mesh_metrics(pred, gt, assets=self._smpl_assets, mode="corrected")
            ref = smpl_mesh_metrics(pred, gt, assets=self._smpl_assets, mode="reference")
            cor_rows = [{n: cor[n][k] for n in names} for k in range(len(batch))]
            ref_rows = [{n: ref[n][k] for n in names} for k in range(len(batch))]
        else:
            lv = np.array([s.lhand_valid for s in batch], np.float64)
            rv = np.array([s.rhand_valid for s in batch], np.float64)
            cor_rows = mesh_metrics_per_sample(pred, gt, lv, rv, body_models=self._assets, mode="corrected").rows()
            # The reference's test loop scores both hands of every SMPL-X sample (its lhand/rhand_valid are 1.0).
            ref_rows = mesh_metrics_per_sample(pred, gt, 1.0, 1.0, body_models=self._assets, mode="reference").rows()
        root = self.benchmark.image_root(self.data_dir)
        rows = []
        for s, c, r in zip(batch, cor_rows, ref_rows):
            image = s.image_path.relative_to(root) if s.image_path.is_relative_to(root) else s.image_path
            row = {"index": str(s.index), "image": str(image),
                   "gender": s.gender, "lhand_valid": str(int(s.lhand_valid)), "rhand_valid": str(int(s.rhand_valid))}
            row.update({n: _fmt(c[n]) for n in names})
            row.update({REF_PREFIX + n: _fmt(r[n]) for n in names})
            rows.append(row)
        return rows

    def _submit(self, pred: Any, prepared: list[_Prepared], person_ids: dict[int, int]) -> list[dict[str, str]]:
        """Write each person's server pickle; CSV rows record what is done."""
        from .agora import agora_prediction, person_file, write_prediction

        names = SMPLX_PARAM_NAMES
        arrays = {k: getattr(pred, k).float().cpu().numpy() for k in names}
        # The server reads all 144 SMPL-X joints (the reference's AGORA_test output), not the network's 137.
        body = self.model.body
        arrays["joints_cam"] = body(**{k: getattr(pred, k).to(body.v_template.dtype) for k in names}
                                    ).joints.float().cpu().numpy()
        rows = []
        for j, p in enumerate(prepared):
            params = {k: arrays[k][j] for k in names}
            entry = agora_prediction(params, arrays["joints_cam"][j], p.box, p.image_size)
            write_prediction(person_file(self.output, p.sample.image_path, person_ids[p.sample.index]), entry)
            rows.append({"index": str(p.sample.index), "image": p.sample.image_path.name, "gender": "",
                         "lhand_valid": "", "rhand_valid": ""})
        return rows

    def _score(self, pred: np.ndarray, batch: list[TestSample], gt_builder: GroundTruthBuilder
               ) -> list[dict[str, str]]:
        """CSV rows of one batch: its GT meshes, then both metric modes."""
        gt = gt_builder.meshes(batch)
        if gt.shape[1] != pred.shape[1] and self.benchmark.rules.body_model == "smplx":
            raise EvalSetupError(f"ground-truth meshes have {gt.shape[1]} vertices, predictions {pred.shape[1]}: "
                                 f"check the benchmark's vertex files")
        return self._metrics(pred, gt, batch)

    # -- loop ------------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def run(self, progress: Callable[[int, int], None] | None = None) -> EvalReport:
        """Evaluate every sample not yet in the CSV, then write ``summary.json``; returns the report."""
        self._check_output()
        found, gt_builder = self.samples()
        if self.benchmark.rules.body_model == "smpl":
            from .smpl_metrics import SMPLEvalAssets

            self._smpl_assets = SMPLEvalAssets.from_dir(self.body_models)
        else:
            self._assets = EvalAssets.resolve(self.body_models)
        csv_path = self.csv_path
        done = {int(r["index"]) for r in read_rows(csv_path)}
        mine = self._share(found.samples)
        todo = [s for s in mine if s.index not in done]
        total = len(mine)
        skipped = {k: v for k, v in found.skipped.items() if v}
        late_skips: dict[str, int] = {}
        appender = _CsvAppender(csv_path, csv_columns(self.benchmark))
        bs = max(1, self.options.batch_size)
        person_ids = _person_ids(found.samples)
        finished = total - len(todo)
        if progress:
            progress(finished, total)
        # Scoring threads: numpy releases the GIL in the large array ops, so a few threads lift the metrics'
        # ceiling on many-core GPU machines; rows are still written in batch order.
        scorers = max(1, min(4, (os.cpu_count() or 2) // 2))
        scorer = ThreadPoolExecutor(max_workers=scorers)
        scoring: deque[Future[list[dict[str, str]]]] = deque()
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
                batches = [todo[i : i + bs] for i in range(0, len(todo), bs)]
                for prepared in _prefetched(pool, batches, self.benchmark.rules.box_ratio):
                    ok = [p for p in prepared if p.crop is not None]
                    for p in prepared:
                        if p.error:
                            late_skips[p.error] = late_skips.get(p.error, 0) + 1
                    if ok and not self.benchmark.has_ground_truth:
                        crops = torch.from_numpy(np.stack([p.crop for p in ok])).permute(0, 3, 1, 2) / 255.0
                        appender.write(self._submit(self.model.predict_crops(crops.to(self.device)), ok, person_ids))
                    elif ok:
                        crops = torch.from_numpy(np.stack([p.crop for p in ok])).permute(0, 3, 1, 2) / 255.0
                        pred = self.model.predict_crops(crops.to(self.device)).vertices.float().cpu().numpy()
                        # GT meshes and metrics of this batch run while the network does the next one.
                        scoring.append(scorer.submit(self._score, pred, [p.sample for p in ok], gt_builder))
                    while len(scoring) > scorers or (scoring and scoring[0].done()):
                        appender.write(scoring.popleft().result())
                    finished += len(prepared)
                    if progress:
                        progress(finished, total)
                while scoring:
                    appender.write(scoring.popleft().result())
        finally:
            # After an error or Ctrl-C, batches already scored still reach the CSV (nothing finished is lost).
            scorer.shutdown(wait=True)
            for f in scoring:
                if not f.cancelled() and f.exception() is None:
                    appender.write(f.result())
            appender.close()
        for k, v in late_skips.items():
            skipped[k] = skipped.get(k, 0) + v
        shard = self.options.shard
        if not self.benchmark.has_ground_truth and not shard.is_split:
            from .agora import zip_predictions

            zip_predictions(self.output)
        wanted = {s.index for s in mine}
        rows = [r for r in read_rows(csv_path) if int(r["index"]) in wanted]
        corrected, reference, counts = summarize_rows(rows, metric_names(self.benchmark))
        report = EvalReport(self.benchmark.name, self.output, len(rows), skipped, corrected, reference, counts)
        name = f"summary.{shard.tag}.json" if shard.is_split else SUMMARY_FILE
        _atomic_json(self.output / name, {**report.summary(), "total_instances": found.total,
                                          "shard": {"index": shard.index, "count": shard.count, "origin": shard.origin},
                                          "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        return report


# ----------------------------------------------------------------------------------------------------------------
# The paper-style table

_LABELS = {
    "mpvpe_all": "MPVPE All", "mpvpe_hand": "MPVPE Hands", "mpvpe_face": "MPVPE Face",
    "pa_mpvpe_all": "PA-MPVPE All", "pa_mpvpe_hand": "PA-MPVPE Hands", "pa_mpvpe_face": "PA-MPVPE Face",
    "mpjpe_body": "MPJPE Body", "pa_mpjpe_body": "PA-MPJPE Body", "pa_mpjpe_hand": "PA-MPJPE Hands",
    "mpjpe_hand": "MPJPE Hands",
}


def format_table(report: EvalReport, benchmark: Benchmark, primary: str = "corrected") -> str:
    """The paper's columns for this benchmark: one row per mode (primary first) and the published row."""
    cols = list(benchmark.table_columns)
    head = ["", *(_LABELS.get(c, c) for c in cols)]
    order = [primary, "reference" if primary == "corrected" else "corrected"]
    body = []
    for mode in order:
        vals = report.corrected if mode == "corrected" else report.reference
        body.append([f"ours ({mode})", *(f"{vals.get(c, math.nan):.1f}" for c in cols)])
    if benchmark.published:
        body.append([benchmark.published_label, *(f"{benchmark.published[c]:.1f}" if c in benchmark.published
                                                   else "-" for c in cols)])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "  ".join(x.rjust(w) if i else x.ljust(w) for i, (x, w) in enumerate(zip(r, widths)))  # noqa
    rule = "  ".join("-" * w for w in widths)
    title = f"{benchmark.title}: {report.evaluated} samples (mm)"
    return "\n".join([title, line(head), rule, *map(line, body)])


__all__ = ["EvalOptions", "EvalReport", "EvalRun", "EvalSetupError", "ImageError", "csv_columns", "discard_results",
           "format_table", "merge_eval_shards", "metric_names", "read_rows", "summarize_rows"]
