"""``--dtype auto`` by measurement: time the precisions that can run here, keep the fastest that stays accurate.

On first use per machine, torch / onnxruntime version, model family and size and batch-size bucket, a short
calibration (about 10 s) runs the model in every candidate precision on a fixed set of synthetic people (bf16 with
each of its two attention kernels: which is faster depends on the CPU), checks each against fp32 (the accuracy
bound below) and times it. The fastest candidate within the bound that is faster than fp32 wins; fp32 otherwise.
The table is cached in the user cache folder (``precision/``), keyed so that a torch upgrade or another CPU redoes
it; ``smplestx doctor --tune`` redoes it on demand and prints it.

CPU flags only prune candidates that cannot run at all (no fbgemm without AVX2, no bf16 kernels, no int8 matmul);
a candidate whose matrix product is clearly slower than fp32's in a one-matmul probe is left out before the
whole model is timed (``int8`` through ``torch._int_mm`` without VNNI runs at ~2 % of fp32's speed: timing the model
would take minutes). Timing goes through :func:`time_call` and the crops through :func:`calibration_crops`:
tests replace both, so they never time anything real.

This module sits beside ``model.py`` (whose ``load_model`` calls it for ``dtype="auto"``) and not in ``nn/``,
because it reads and writes the cache folder and renders synthetic people: ``nn`` holds layers only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..body import BodyModel
from ..body.joint_sets import CONTOUR_LANDMARKS_START, SMPLX_137
from . import family_of_config
from .smplest_x import SMPLestXConfig

log = logging.getLogger(__name__)

#: The accuracy bound a precision must meet against fp32 for ``auto`` to pick it: root-relative (pelvis at the
#: origin) distance over mesh vertices and all 137 joints, mean and worst, in metres.
MEAN_BOUND_M = 0.005
WORST_BOUND_M = 0.020
#: Wall-clock the timing may take (the model forwards; the first-call warm-ups and the crops come on top).
BUDGET_S = 10.0
#: A candidate must beat fp32 by this factor to be picked: timing noise must not swap fp32 for a slower mode.
MIN_SPEEDUP = 1.05
#: A precision whose probe matmul is this many times slower than fp32's is not timed: the traps are 7-150x
#: slower (emulated bf16, torch._int_mm without VNNI), real gains 1.5-4x faster; the margin absorbs timing noise.
PROBE_SLOWER = 1.5
#: Synthetic people the bound is checked on (and the timed batch, capped by the batch-size bucket).
CALIBRATION_CROPS = 4
#: Seed of the fixed crop set.
CROPS_SEED = 2028
#: Bumped when the calibration's method changes, so old tables are redone (2: bf16 times both attention kernels).
FORMAT_VERSION = 2
#: Attention kernels timed per precision when the caller leaves ``attention`` to ``auto`` (others: the fused kernel).
#: bf16 networks have two whose order depends on the CPU: torch's fused kernel runs on the AMX tiles (half the
#: textbook form's time there), while without AMX the textbook form in bf16 is 5-14 % faster (docs/benchmarks.md).
#: float32 activations (fp32, int8) keep the fused fp32 kernel: bf16 attention with casts gained nothing measurable.
ATTENTION_CANDIDATES: dict[str, tuple[str, ...]] = {"bf16": ("sdpa", "bf16")}


@dataclass
class Trial:
    """One candidate's row of the calibration table."""

    precision: str
    backend: str = "torch"
    attention: str = ""  # the attention kernel (nn.attention.ATTENTION_KINDS); "" where the backend has no choice
    ms: float | None = None  # per timed batch (best of the reps); None when not timed
    speedup: float | None = None  # fp32 time / this time
    mean_mm: float | None = None  # root-relative error against fp32 over vertices and joints
    worst_mm: float | None = None
    accepted: bool = False  # within the bound and faster than fp32 (fp32 itself: always)
    note: str = ""

    @property
    def label(self) -> str:
        """What timings and logs call this candidate: the precision, and the attention kernel if not the fused one."""
        return self.precision if self.attention in ("", "sdpa") else f"{self.precision} ({self.attention} attention)"


@dataclass
class Tuning:
    """A calibration: what was measured, under which key, and the pick."""

    key: dict[str, object]
    picked: str
    attention: str = ""  # the picked candidate's attention kernel ("": the backend's only one)
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False  # read back from the cache rather than measured now

    def to_json(self) -> str:
        """The cache file's text."""
        return json.dumps({"key": self.key, "picked": self.picked, "attention": self.attention,
                           "seconds": self.seconds, "trials": [asdict(t) for t in self.trials]}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Tuning":
        """Parse a cache file (ValueError / KeyError / TypeError when it is not one)."""
        data = json.loads(text)
        return cls(key=data["key"], picked=str(data["picked"]), attention=str(data.get("attention", "")),
                   seconds=float(data["seconds"]),
                   trials=[Trial(**t) for t in data["trials"]], cached=True)


# ------------------------------------------------------------------------------------------------ the key


def cpu_identity() -> tuple[str, list[str]]:
    """This CPU's model name and its flags (``/proc/cpuinfo``; ``platform`` elsewhere)."""
    name, flags = "", []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not name:
                    name = value.strip()
                elif key.strip() in ("flags", "Features") and not flags:
                    flags = sorted(value.split())
                if name and flags:
                    break
    except OSError:
        pass
    return name or platform.processor() or platform.machine(), flags


#: Environment variables that cap the instruction sets torch's kernels use (oneDNN's, ATen's): a capped machine ranks
#: the precisions like an older CPU (bf16 without AVX512-BF16 is emulated and slow), so it is another machine.
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")


def isa_caps() -> dict[str, str]:
    """The instruction-set caps set in this process's environment (empty when none is)."""
    return {name: os.environ[name] for name in ISA_CAPS if os.environ.get(name)}


def batch_bucket(batch_size: int) -> str:
    """Batch sizes whose speed ordering is alike: 1, 2-4, 5-16, 17+."""
    for top, label in ((1, "1"), (4, "2-4"), (16, "5-16")):
        if batch_size <= top:
            return label
    return "17+"


def _version(dist: str) -> str | None:
    """An installed distribution's version (without importing it), or None."""
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def tuning_key(config: SMPLestXConfig, batch_size: int, backend: str = "torch", threads: int | None = None, *,
               attention: str = "auto") -> dict[str, object]:
    """What a calibration depends on: CPU, library versions, model family and size, batch bucket, thread count and
    the caller's attention kernel ("auto": the calibration picks it)."""
    name, flags = cpu_identity()
    e = config.encoder
    family = family_of_config(config).name
    return {
        "format": FORMAT_VERSION,
        "cpu": name,
        "cpu_flags": hashlib.sha256(" ".join(flags).encode()).hexdigest()[:16],
        "isa_caps": isa_caps(),
        "torch": torch.__version__,
        "onnxruntime": _version("onnxruntime") or _version("onnxruntime-gpu"),
        "family": family,
        "size": f"{e.embed_dim}x{e.depth}",
        "batch": batch_bucket(batch_size),
        "backend": backend,
        "threads": threads or torch.get_num_threads(),
        "attention": attention,
    }


def cache_file(key: dict[str, object]) -> Path:
    """Where the calibration of ``key`` is cached (a file per key: another torch or CPU gets another file)."""
    from ..user_config import cache_dir

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / "precision" / f"{digest}.json"


def load_cached(key: dict[str, object]) -> Tuning | None:
    """The cached calibration of ``key``, or None (none, unreadable, or made under another key: stale)."""
    path = cache_file(key)
    try:
        tuning = Tuning.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: unreadable precision calibration (%s); measuring again", path, exc)
        return None
    if tuning.key != json.loads(json.dumps(key)):
        log.info("%s: made for %s, not %s; measuring again", path, tuning.key, key)
        return None
    return tuning


def save(tuning: Tuning) -> None:
    """Write the calibration to the cache (atomically; a read-only cache only costs a new calibration next time)."""
    from ..io.atomic import atomic_path

    path = cache_file(tuning.key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, keep_suffix=True) as tmp:
            Path(tmp).write_text(tuning.to_json(), encoding="utf-8")
    except OSError as exc:
        log.warning("could not cache the precision calibration in %s: %s", path, exc)


# ----------------------------------------------------------------------------------------- candidates


def _bf16_matmul_works() -> bool:
    try:
        a = torch.ones(4, 4, dtype=torch.bfloat16)
        return bool(torch.isfinite((a @ a).float()).all())
    except RuntimeError:
        return False


def _int8_matmul_works() -> bool:
    from ..errors import UsageError
    from ..nn.int8 import check_int8_kernel

    try:
        check_int8_kernel()
    except UsageError:
        return False
    return True


def _fbgemm_runs() -> bool:
    """fbgemm needs AVX2 (or AVX-512) and a torch that still ships it."""
    from ..nn.int8 import fbgemm_available

    return fbgemm_available() and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def _onnx_int8_runs() -> bool:
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError:
        return False
    return True


def candidates(device: str | torch.device, backend: str = "torch") -> list[str]:
    """Precisions ``auto`` may try on ``device``, fp32 first; only those that can run here (flags prune, no timing).

    GPUs and MPS keep fp32 (not calibrated). The onnxruntime backend offers fp32 and ONNX Runtime's int8.
    """
    if torch.device(device).type != "cpu":
        return ["fp32"]
    if backend == "onnxruntime":
        return ["fp32", *(["int8"] if _onnx_int8_runs() else [])]
    out = ["fp32"]
    if _bf16_matmul_works():
        out.append("bf16")
    if _int8_matmul_works():
        out.append("int8")
    if _fbgemm_runs():
        out.append("int8-fbgemm")
    return out


# --------------------------------------------------------------------------------------- measurements


def time_call(label: str, fn: Callable[[], object], reps: int, *, warmup: bool = False, max_s: float = float("inf")) -> float:
    """Best wall-clock seconds of up to ``reps`` calls of ``fn``, stopping once ``max_s`` is spent (after one call).

    ``label`` names what is timed ("fp32 model", "int8 matmul", ...): tests replace this function and key their
    fake timings on it. ``warmup`` makes one untimed call first (lazy initialisation, thread pools).
    """
    if warmup:
        fn()
    best, spent = float("inf"), 0.0
    for _ in range(max(1, reps)):
        t = time.perf_counter()
        fn()
        took = time.perf_counter() - t
        best, spent = min(best, took), spent + took
        if spent >= max_s:
            break
    return best


def _probe_matmul(precision: str, width: int) -> Callable[[], object]:
    """One encoder-MLP-shaped matrix product (272 tokens x width x 4 width, width >= 256) in ``precision``'s kernel."""
    g = torch.Generator().manual_seed(0)
    m, k, n = 272, max(width, 256), 4 * max(width, 256)
    if precision == "int8":
        a = torch.randint(-127, 128, (m, k), dtype=torch.int8, generator=g)
        b = torch.randint(-127, 128, (n, k), dtype=torch.int8, generator=g)
        return lambda: torch._int_mm(a, b.t())
    if precision == "int8-fbgemm":
        from ..nn.int8 import quantize_linears_fbgemm

        lin = quantize_linears_fbgemm(torch.nn.Sequential(torch.nn.Linear(k, n)), min_outputs=1)
        x = torch.randn(m, k, generator=g)
        return lambda: lin(x)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    a, b = torch.randn(m, k, generator=g).to(dtype), torch.randn(k, n, generator=g).to(dtype)
    return lambda: a @ b


def _probe_ratio(precision: str, width: int, fp32_matmul: Callable[[], object]) -> float:
    """Time of ``precision``'s probe matmul over fp32's: best of up to 5 interleaved pairs, at most ~0.5 s each side.

    Interleaved, so a load spike on a shared machine hits both; the cap bounds a 50x-slow kernel's cost.
    """
    matmul = _probe_matmul(precision, width)
    fp32_matmul(), matmul()  # warm-up: lazy initialisation, thread pools
    best_fp32, best, spent = float("inf"), float("inf"), 0.0
    for _ in range(5):
        best_fp32 = min(best_fp32, time_call("fp32 matmul", fp32_matmul, 1))
        took = time_call(f"{precision} matmul", matmul, 1)
        best, spent = min(best, took), spent + took
        if spent >= 0.5:
            break
    return best / best_fp32


def calibration_crops(body: BodyModel, config: SMPLestXConfig, num: int) -> torch.Tensor:
    """The fixed synthetic people (num, 3, H, W) in [0, 1] the bound is checked and the time measured on."""
    from ..synthetic.dataset import person_crops

    h, w = config.input_img_shape
    crops = person_crops(body, num, seed=CROPS_SEED, size=(w, h))
    return torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous().float() / 255.0


def comparable_joints(low_bins: torch.Tensor | np.ndarray, full_bins: torch.Tensor | np.ndarray) -> np.ndarray:
    """Mask (B, 137) of joints two runs can be compared at: the 17 face-contour joints only where both share a bin.

    The contour joints are vertices looked up by a head-angle bin: where rounding moves a head across a bin edge
    they are other vertices, which says nothing about the arithmetic.
    """
    contour = np.asarray(SMPLX_137.index_in_144) >= CONTOUR_LANDMARKS_START
    same = np.asarray(low_bins) == np.asarray(full_bins)
    return ~contour[None, :] | same[:, None]


def errors_m(ref, low, body: BodyModel) -> tuple[float, float]:
    """Root-relative (mean, worst) distance in metres of ``low``'s vertices and comparable joints from ``ref``'s.

    ``ref`` and ``low`` are :class:`~smplestx.models.smplest_x.CropPrediction` of the same crops.
    """
    def rel(p, points: torch.Tensor) -> torch.Tensor:
        return (points - p.joints_cam[:, :1]).double().cpu()

    vert = (rel(ref, ref.vertices) - rel(low, low.vertices)).norm(dim=-1)
    joint = (rel(ref, ref.joints_cam) - rel(low, low.joints_cam)).norm(dim=-1)
    bins = [body.face_contour_bins(p.global_orient, p.body_pose).cpu().numpy() for p in (low, ref)]
    mask = torch.from_numpy(comparable_joints(*bins))
    dist = torch.cat((vert.flatten(), joint[mask]))
    if not bool(torch.isfinite(dist).all()):
        return float("inf"), float("inf")
    return float(dist.mean()), float(dist.max())


def within_bound(mean_m: float, worst_m: float) -> bool:
    """Whether a reduced precision's errors against fp32 (metres, :func:`errors_m`) allow ``auto`` to pick it."""
    return mean_m <= MEAN_BOUND_M and worst_m <= WORST_BOUND_M


def attention_kinds(precision: str, backend: str = "torch", attention: str = "auto") -> tuple[str, ...]:
    """The attention kernels the calibration times ``precision`` with: the caller's, else ``ATTENTION_CANDIDATES``'."""
    if backend != "torch":
        return ("",)  # an exported graph carries its attention
    if attention != "auto":
        return (attention,)
    return ATTENTION_CANDIDATES.get(precision, ("sdpa",))


def calibrate(
    build: Callable[[str, str], torch.nn.Module],
    precisions: list[str],
    crops: torch.Tensor,
    body: BodyModel,
    key: dict[str, object],
    *,
    width: int,
    attention: str = "auto",
    budget_s: float = BUDGET_S,
) -> Tuning:
    """Measure every precision of ``precisions`` (fp32 first): accuracy against fp32 on ``crops``, then speed.

    ``build(precision, attention)`` returns the model in that precision with that attention kernel (a callable on
    crops giving a ``CropPrediction``); each precision is tried with each kernel of :func:`attention_kinds`. Each
    candidate left after the matmul probe runs once for its accuracy (also its warm-up); those within the bound are
    then timed with fp32 in interleaved rounds (best of 1-3, as the budget allows), so a slow machine takes longer,
    not fewer candidates.
    """
    start = time.perf_counter()
    backend = str(key.get("backend", "torch"))
    fp32_kind = attention_kinds("fp32", backend, attention)[0]
    trials = [Trial("fp32", backend, fp32_kind, mean_mm=0.0, worst_mm=0.0, accepted=True)]
    timed: list[Trial] = []
    with torch.inference_mode():
        fp32_matmul = _probe_matmul("fp32", width) if backend == "torch" else None
        for precision in precisions:
            if precision == "fp32":
                continue
            # One probe per precision: the attention kernels share its matmuls.
            ratio = _probe_ratio(precision, width, fp32_matmul) if fp32_matmul is not None else 0.0
            for kind in attention_kinds(precision, backend, attention):
                trial = Trial(precision, backend, kind)
                trials.append(trial)
                if ratio >= PROBE_SLOWER:
                    trial.note = f"its matmul takes {ratio:.1f}x fp32's: not timed"
                    continue
                timed.append(trial)
        fp32_model = build("fp32", fp32_kind)
        t = time.perf_counter()
        ref = fp32_model(crops)  # the reference outputs, and fp32's warm-up
        first_s = time.perf_counter() - t
        models: dict[str, Callable] = {trials[0].label: fp32_model}
        for trial in timed:
            try:
                model = build(trial.precision, trial.attention)
                low = model(crops)  # its accuracy, and its warm-up
            except Exception as exc:  # a kernel missing from this build: the candidate cannot run, fp32 stays
                trial.note = f"failed: {str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}"
                continue
            mean, worst = errors_m(ref, low, body)
            trial.mean_mm, trial.worst_mm = mean * 1000, worst * 1000
            if within_bound(mean, worst):
                models[trial.label] = model
            else:  # never picked, so not worth the budget
                trial.note = f"outside the bound (mean <= {MEAN_BOUND_M * 1000:g} mm, worst <= {WORST_BOUND_M * 1000:g} mm)"
        # Rounds of one timed call per model, interleaved so that a load change on a shared machine hits all
        # alike; best per model. As many rounds (1-3) as the budget allows.
        rounds = int(min(3, max(1, budget_s / max(first_s, 1e-6) / len(models))))
        best = {name: float("inf") for name in models}
        for _ in range(rounds):
            for name, model in models.items():
                best[name] = min(best[name], time_call(f"{name} model", lambda: model(crops), 1))
        fp32_s = best[trials[0].label]
        trials[0].ms, trials[0].speedup = fp32_s * 1000, 1.0
        for trial in timed:
            if trial.label not in models:
                continue
            trial.ms, trial.speedup = best[trial.label] * 1000, fp32_s / best[trial.label]
            trial.accepted = trial.speedup >= MIN_SPEEDUP
            if not trial.accepted:
                trial.note = f"not faster than fp32 (needs {MIN_SPEEDUP:g}x)"
        del models
    pick = max((t for t in trials if t.accepted), key=lambda t: t.speedup or 0.0)
    return Tuning(key=key, picked=pick.precision, attention=pick.attention, trials=trials,
                  seconds=time.perf_counter() - start)


def tune(
    build: Callable[[str, str], torch.nn.Module],
    body: BodyModel,
    config: SMPLestXConfig,
    device: str | torch.device = "cpu",
    *,
    batch_size: int = CALIBRATION_CROPS,
    backend: str = "torch",
    attention: str = "auto",
    redo: bool = False,
) -> Tuning:
    """The precision (and attention kernel) ``auto`` runs: the cached calibration for this machine and model, else a
    new one (cached). ``attention`` other than "auto" is the caller's kernel: only that one is timed."""
    precisions = candidates(device, backend)
    key = tuning_key(config, batch_size, backend, attention=attention)
    if not redo and (cached := load_cached(key)) is not None:
        return cached
    if len(precisions) == 1:
        kind = attention_kinds(precisions[0], backend, attention)[0]
        return Tuning(key=key, picked=precisions[0], attention=kind, trials=[
            Trial(precisions[0], backend, kind, accepted=True, note="the only candidate here")])
    crops = calibration_crops(body, config, min(CALIBRATION_CROPS, max(1, batch_size)))
    log.info("calibrating the precision for this CPU and model (once; cached): %s", ", ".join(precisions))
    tuning = calibrate(build, precisions, crops, body, key, width=config.encoder.embed_dim, attention=attention)
    save(tuning)
    log.info("precision calibration: %s picked in %.1f s (%s)", tuning.picked, tuning.seconds,
             "; ".join(f"{t.label} {t.speedup:.2f}x" for t in tuning.trials if t.speedup))
    return tuning


def format_table(tuning: Tuning) -> str:
    """The calibration as a text table (``smplestx doctor --tune``)."""
    lines = [f"{'precision':<12} {'backend':<11} {'attention':<9} {'ms':>8} {'vs fp32':>8} {'mean mm':>8} "
             f"{'worst mm':>9}  verdict"]
    for t in tuning.trials:
        def num(v: float | None, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)

        picked = t.precision == tuning.picked and t.attention == tuning.attention
        verdict = ("PICKED" if picked else "ok" if t.accepted else "no") + (f": {t.note}" if t.note else "")
        lines.append(f"{t.precision:<12} {t.backend:<11} {t.attention or '-':<9} {num(t.ms, '.0f'):>8} "
                     f"{num(t.speedup, '.2f') + ('x' if t.speedup else ''):>8} {num(t.mean_mm, '.2f'):>8} "
                     f"{num(t.worst_mm, '.2f'):>9}  {verdict}")
    return "\n".join(lines)
