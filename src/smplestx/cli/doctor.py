"""``smplestx doctor``: what this installation has and lacks, on one screen."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from .common import _POSITIVE_INT, _add_model_args, _model_arg


@dataclass(frozen=True)
class Check:
    """One line of the report; ``ok`` False means something needed is missing (``fix`` says what to do).

    ``warn`` marks a working but wasteful or risky set-up: reported with its fix, not a failure.
    """

    name: str
    value: str
    ok: bool = True
    fix: str = ""
    warn: bool = False


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def folder_size(path: Path) -> int:
    """Bytes under ``path`` (files counted once; links not followed)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _is_cuda_wheel(name: str) -> bool:
    """Distributions only a CUDA build of torch needs: NVIDIA's runtime wheels, cuda-* bindings, triton."""
    n = name.lower().replace("_", "-")
    return n.startswith(("nvidia-", "cuda-")) or n == "triton"


def _installed_bytes(dist: importlib.metadata.Distribution) -> int:
    """A distribution's bytes on disk: the sizes its RECORD lists, the file itself where a row has none."""
    total = 0
    for f in dist.files or []:
        if f.size is not None:
            total += f.size
            continue
        try:
            total += os.lstat(f.locate()).st_size
        except OSError:
            pass
    return total


def cuda_wheels() -> dict[str, int]:
    """The installed CUDA-only distributions and their bytes on disk."""
    sizes: dict[str, int] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if _is_cuda_wheel(name) and name not in sizes:  # a name twice on sys.path: the first one is imported
            sizes[name] = _installed_bytes(dist)
    return sizes


def _cuda_build_without_gpu(cuda_version: str) -> Check:
    wheels = cuda_wheels()
    size = sum(wheels.values())
    names = " ".join(sorted(wheels)) or "(none found)"
    return Check(
        "torch build",
        f"a CUDA {cuda_version} build, but no usable GPU here: {_gib(size)} of CUDA wheels ({len(wheels)} packages: "
        "nvidia-*, triton) do nothing",
        warn=True,
        fix="on a machine without a GPU the CPU build is enough: pip install --force-reinstall torch --index-url "
            f"https://download.pytorch.org/whl/cpu, then pip uninstall -y {names} (frees {_gib(size)}); "
            "if there is a GPU, its driver is not working (see nvidia-smi)",
    )


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"


def _torch_checks() -> list[Check]:
    try:
        import torch
    except ImportError as exc:
        return [Check("torch", f"not importable ({exc})", False, "pip install torch (see pytorch.org for your platform)")]
    out = [Check("torch", f"{torch.__version__} (CUDA build {torch.version.cuda or 'none'})")]
    if torch.version.cuda and not torch.cuda.is_available():
        out.append(_cuda_build_without_gpu(torch.version.cuda))
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        out.append(Check("device", f"cuda ({names})"))
        out.append(Check("bf16", "yes" if torch.cuda.is_bf16_supported() else "no (use --dtype fp16 or fp32)"))
    else:
        mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        out.append(Check("device", "mps" if mps else f"cpu only ({os.cpu_count()} cores)"))
        try:
            # Some CPU builds lack bf16 kernels; a tiny matmul is the honest test.
            a = torch.ones(4, 4, dtype=torch.bfloat16)
            ok = bool(torch.isfinite((a @ a).float()).all())
        except RuntimeError:
            ok = False
        from ..models.loading import auto_precision, cpu_has_bf16, cpu_has_vnni

        if not ok:
            out.append(Check("bf16", "no (use --dtype fp32)"))
        elif cpu_has_bf16():
            out.append(Check("bf16", "yes, in hardware (AVX512-BF16/AMX)"))
        else:
            out.append(Check("bf16", "emulated (no AVX512-BF16/AMX: slower than fp32)"))
        from ..nn.int8 import fbgemm_available

        out.append(Check("int8", "yes, in hardware (VNNI)" if cpu_has_vnni() else
                         "no VNNI: --dtype int8 runs int8-fbgemm (AVX2)" if fbgemm_available() else
                         "no VNNI (int8 would be slow)"))
        out.append(Check("--dtype auto", f"measured per model on first use (`smplestx doctor --tune` shows it); "
                                         f"CPU flags alone: {auto_precision('cpu')} on this CPU (--dtype fp32 to opt out)"))
    return out


def _body_models_check(explicit: str | Path | None = None) -> Check:
    from ..user_config import BodyModelsNotFoundError, UserConfigError, body_models_setting, find_body_models

    try:
        folder = find_body_models(explicit)
    except (BodyModelsNotFoundError, UserConfigError) as exc:
        return Check("body models", "not found", False, str(exc))
    _, source = body_models_setting(explicit)
    return Check("body models", f"{folder} (from {source})")


def _cache_checks() -> list[Check]:
    from ..user_config import cache_dir
    from ..models.zoo import MODELS

    out = []
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return [Check("huggingface_hub", "missing", False, "pip install huggingface_hub (needed for --model NAME)")]
    hub = Path(constants.HF_HUB_CACHE)
    hosted = [m for m in MODELS.values() if not m.packaged]  # the packaged ones never touch the hub cache
    repos = sorted({m.repo for m in hosted})
    size = sum(folder_size(hub / f"models--{r.replace('/', '--')}") for r in repos)
    cached = [m.name for m in hosted
              if isinstance(try_to_load_from_cache(m.repo, m.filename, revision=m.revision), str)]
    offline = " (HF_HUB_OFFLINE=1)" if constants.HF_HUB_OFFLINE else ""
    out.append(Check("model cache", f"{hub}: {_gib(size)} of smplestx models{offline}"))
    out.append(Check("cached models", ", ".join(cached) or "none yet (downloaded on first use of --model NAME)"))
    own = cache_dir()
    out.append(Check("smplestx cache", f"{own}: {_gib(folder_size(own)) if own.is_dir() else 'empty'}"))
    return out


def _detector_check() -> Check:
    have = ["full", "boxes:FILE"]
    for module, name in (("torchvision", "torchvision"), ("ultralytics", "yolo (AGPL)"), ("onnxruntime", "onnxruntime"),
                         ("transformers", "transformers")):
        if importlib.util.find_spec(module) is not None:
            have.append(name)
    return Check("detectors", ", ".join(have))


def run_checks(body_models: str | Path | None = None) -> list[Check]:
    """Every check, in display order (``body_models``: a folder given on the command line, looked up first)."""
    from .. import __version__

    checks = [
        Check("smplestx", f"{__version__} ({Path(__file__).parent})"),
        Check("python", f"{platform.python_version()} ({sys.executable}) on {platform.platform(terse=True)}"),
    ]
    checks += _torch_checks()
    checks.append(_body_models_check(body_models))
    checks += _cache_checks()
    checks.append(_detector_check())
    versions = []
    for dist in ("numpy", "safetensors", "opencv-python-headless", "av", "huggingface_hub", "pygltflib"):
        v = _version(dist)
        versions.append(f"{dist} {v or 'MISSING'}")
        if v is None and dist != "opencv-python-headless":
            checks.append(Check(dist, "missing", False, f"pip install {dist}"))
    if _version("opencv-python-headless") is None and importlib.util.find_spec("cv2") is None:
        checks.append(Check("opencv", "missing", False, "pip install opencv-python-headless"))
    checks.append(Check("versions", ", ".join(versions)))
    return checks


def format_report(checks: list[Check]) -> str:
    """The report as text: one line per check, then the fixes of what is missing."""
    width = max(len(c.name) for c in checks)
    lines = [f"{'NO ' if not c.ok else '!! ' if c.warn else 'ok '} {c.name:<{width}}  {c.value}" for c in checks]
    for c in checks:
        if not c.ok or c.warn:
            lines.append(f"\n{c.name}: {c.fix}")
    return "\n".join(lines)


def tune_report(model: str, *, body_models: str | None = None, config: str | None = None, batch_size: int = 16) -> str:
    """``doctor --tune``: measure ``--dtype auto``'s calibration for ``model`` on this CPU again; its table as text."""
    from ..models.loading import load_model, tune_precision
    from ..models.precision_tuning import cache_file, format_table

    from ..models.precision_tuning import load_cached, tuning_key

    loaded = load_model(model, body_models=body_models, config=config, dtype="fp32")
    if Path(str(model)).suffix.lower() == ".onnx":
        # ONNX Runtime's candidates are separate graphs: drop the cached table and let load_model measure again.
        cache_file(tuning_key(loaded.config, batch_size, "onnxruntime")).unlink(missing_ok=True)
        load_model(model, body_models=body_models, config=config, dtype="auto", batch_size=batch_size)
        tuning = load_cached(tuning_key(loaded.config, batch_size, "onnxruntime"))
        if tuning is None:  # one candidate only (no onnxruntime.quantization): nothing was measured
            return f"--dtype auto for {model}: fp32 (the only candidate here)"
    else:
        tuning = tune_precision(loaded.net, loaded.body, type(loaded), "cpu", batch_size=batch_size, redo=True)
    key = tuning.key
    kernel = f" with {tuning.attention} attention" if tuning.attention else ""
    head = (f"--dtype auto on {key['cpu']} ({key['threads']} threads), torch {key['torch']}, "
            f"{key['family']} {key['size']}, batch {key['batch']}: {tuning.picked}{kernel} "
            f"(measured in {tuning.seconds:.1f} s; cached in {cache_file(key)})")
    return head + "\n" + format_table(tuning)


def _cmd_doctor(args: argparse.Namespace) -> int:

    checks = run_checks(args.body_models)
    print(format_report(checks))
    if args.tune:

        print("\n" + tune_report(_model_arg(args), body_models=args.body_models, config=args.config,
                                 batch_size=args.batch_size))
    missing = [c.name for c in checks if not c.ok]
    if missing:
        print(f"smplestx doctor: missing {', '.join(missing)} (see above)", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("doctor", help="check the installation: torch, device, body models, caches, detectors")
    p.add_argument("--tune", action="store_true", help="measure --dtype auto's precision calibration again for a "
                   "model (on this CPU, this torch) and print its table")
    _add_model_args(p, default_note="with --tune; default: smplest-x-h")
    p.add_argument("--config", help="with --tune: official config of the checkpoint (read as data)")
    p.add_argument("--body-models", help="SMPL-X folder to check (and to tune with) (default: as for infer)")
    p.add_argument("--batch-size", type=_POSITIVE_INT, default=16, help="with --tune: the batch size to tune for "
                   "(default 16, infer's)")
    p.set_defaults(func=_cmd_doctor)
