"""Reduced-precision CPU modes: speed vs the reference-style fp32 forward and vertex error vs fp32.

One run, variants interleaved rep by rep (median per variant), so the ratios hold on a shared machine.
Accuracy is measured on real-looking crops (synthetic-data test images through the normal crop path),
on random weights and on a model trained briefly with ``smplestx train`` on synthetic data.

    python benchmarks/bench_precision.py --work /tmp/smplestx_precision --prepare-only   # data + training only
    python benchmarks/bench_precision.py --work /tmp/smplestx_precision --compile --onnx --reps 5 [--threads 1]
    python benchmarks/bench_precision.py --work /tmp/smplestx_precision --sizes B --reps 3   # B: random weights
    python benchmarks/bench_precision.py --onnx --skip "int8 (" "+ bf16" "bf16 weights, "   # AVX2-only CPUs

``--skip`` leaves out variants whose name contains any of the given strings: on a CPU without VNNI the per-row
``int8`` kernel (``torch._int_mm``) runs at ~2 % of fp32's speed, so one batch of S would take minutes.

The bf16 rows name their attention kernel: "--dtype bf16" runs what ``attention="auto"`` picks on this CPU (the fused
kernel with AMX, the textbook form in bf16 on other bf16 CPUs); the "fused" and "textbook bf16" rows force one each.
"int8 ... + bf16 autocast" runs the int8 linears with everything autocast covers in bf16 (attention: the fused
kernel in bf16).

The trained weights are cached in ``--work`` (``train/``); nothing is written to the repository.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from smplestx.body import BodyModel
from smplestx.models.smplest_x import SMPLEST_X_PRESETS
from smplestx.evaluate import get_benchmark
from smplestx.evaluate.samples import build_test_samples, load_image
from smplestx.geometry.crops import crop_image, process_box
from smplestx.models.loading import auto_attention, load_model
from smplestx.models.smplest_x import CropPrediction, SMPLestX
from smplestx.nn.int8 import quantize_linears, quantize_linears_fbgemm
from smplestx.nn.network import SMPLestXNet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_style import reference_style  # noqa: E402

#: Training recipe: the S preset (384 wide, 12 blocks: the smallest official size, so the timed network and the
#: trained one are the same architecture), fp32 (no autocast, so the weights are not tuned to bf16), batch 4,
#: lr 1e-4 on a cosine over 8 epochs of 64 synthetic images, stopped after 61 steps (~8 CPU-minutes here).
TRAIN_STEPS = 61
TRAIN_SETTINGS = [
    "data.datasets=[\"synthetic\"]", "data.strategy=\"concat\"", "data.total_data_len=\"auto\"",
    "model.size=\"S\"", "model.drop_path_rate=0.0",
    "train.end_epoch=8", "train.batch_size=4", "train.num_workers=1", "train.lr=1e-4", "train.min_lr=1e-6",
    "train.log_every=10", "train.save_every=8", "train.device=\"cpu\"", "train.amp=\"none\"",
    "train.tensorboard=false", "train.progress=false", f"train.max_steps={TRAIN_STEPS}",
]


def run_cli(*args: str) -> None:
    """Run ``python -m smplestx ARGS`` with this interpreter and the current PYTHONPATH."""
    cmd = [sys.executable, "-m", "smplestx", *args]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=os.environ.copy())


def prepare(work: Path) -> Path:
    """Synthetic train/test data and the briefly trained S weights in ``work``; returns the checkpoint path."""
    train_data, test_data = work / "data_train", work / "data_test"
    if not (train_data / "annotations").is_dir():
        run_cli("synthetic-data", str(train_data), "--num", "64", "--seed", "0", "--split", "train")
    if not (test_data / "annotations").is_dir():
        run_cli("synthetic-data", str(test_data), "--num", "12", "--seed", "1", "--split", "test",
                "--body-models", str(train_data / "body_models"))
    out = work / "train"
    ckpt = out / "checkpoints" / f"step_{TRAIN_STEPS}.pth.tar"
    if not ckpt.is_file():
        config = work / "train.toml"
        config.write_text(
            f'[data]\ndatasets = ["synthetic"]\ndata_dir = "{train_data}"\n\n'
            f'[model]\nsize = "S"\nbody_models = "{train_data / "body_models"}"\n\n[train]\noutput_dir = "{out}"\n'
        )
        sets = [a for s in TRAIN_SETTINGS for a in ("--set", s)]
        run_cli("train", str(config), *sets, "--output", str(out))
    return ckpt


def real_crops(data: Path, limit: int) -> torch.Tensor:
    """Up to ``limit`` crops (N, 3, 512, 384) in [0, 1] of a synthetic test set, through the evaluation crop path."""
    bench = get_benchmark("synthetic")
    found = build_test_samples(bench.open(data), bench.image_root(data), bench.rules)
    crops = []
    for sample in found.samples[:limit]:
        img = load_image(sample.image_path)
        h, w = img.shape[:2]
        box = process_box(sample.box_xywh, w, h, ratio=bench.rules.box_ratio)
        if box is not None:
            crops.append(crop_image(img, box).patch)
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous() / 255.0


Forward = Callable[[torch.Tensor], CropPrediction]


@dataclass
class Variant:
    """One way to run the forward: a name, the callable, and its timings (seconds per batch)."""

    name: str
    run: Forward
    times: list[float] = field(default_factory=list)


def autocast(model: SMPLestX, dtype: torch.dtype = torch.bfloat16) -> Forward:
    """The fp32 model under CPU autocast."""
    def run(x: torch.Tensor) -> CropPrediction:
        with torch.autocast("cpu", dtype=dtype):
            return model(x)
    return run


def with_net(model: SMPLestX, net: torch.nn.Module) -> SMPLestX:
    """A model sharing ``model``'s body layer with another network."""
    out = copy.copy(model)
    out._modules = dict(model._modules)
    out._modules["net"] = net
    return out


def bf16_weights(model: SMPLestX, attention: str = "auto") -> SMPLestX:
    """The network's weights cast to bfloat16 (what ``--dtype bf16`` loads); body model stays fp32."""
    if attention == "auto":
        attention = auto_attention("bf16", "cpu")
    net = copy.deepcopy(model.net).to(torch.bfloat16).set_attention(attention)
    return with_net(model, net)


class Float32In(torch.nn.Module):
    """Feeds a dynamically quantised linear float32 (its kernel takes nothing else), e.g. bf16 from autocast."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped layer on ``x`` as float32."""
        return self.inner(x.float())


def int8_ours(model: SMPLestX, attention: str = "auto") -> SMPLestX:
    """What ``--dtype int8`` loads: int8 linears, per-channel weights and per-row activations (``nn.int8``)."""
    if attention == "auto":
        attention = auto_attention("int8", "cpu")
    return with_net(model, quantize_linears(copy.deepcopy(model.net)).set_attention(attention))


def int8_fbgemm(model: SMPLestX) -> SMPLestX:
    """What ``--dtype int8-fbgemm`` loads (``--dtype int8`` on CPUs without VNNI): fbgemm dynamic int8, heads float."""
    return with_net(model, quantize_linears_fbgemm(copy.deepcopy(model.net)).set_attention("sdpa"))


def int8_linears(model: SMPLestX, float32_in: bool = False) -> SMPLestX:
    """torch.ao dynamic int8 quantisation of every nn.Linear (weights per tensor, activations per batch, fp32 out)."""
    net = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model.net), {torch.nn.Linear}, dtype=torch.qint8)
    if float32_in:
        quantized = torch.ao.nn.quantized.dynamic.Linear
        for parent in list(net.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, quantized):
                    setattr(parent, name, Float32In(child))
    return with_net(model, net)


def onnx_variants(model: SMPLestX, work: Path, label: str) -> list[Variant]:
    """ONNX Runtime on the exported network: float32, and int8 dynamic quantisation of its MatMuls (cached in work)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from smplestx.models.onnx_export import CONFIG_KEY, OnnxNetwork, export_onnx

    folder = work / "onnx" / label.replace(" ", "_")
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "net.onnx"
    if not fp32.is_file():
        export_onnx(copy.deepcopy(model.net), fp32)
    threads = torch.get_num_threads()
    variants = [Variant("onnxruntime fp32", with_net(model, OnnxNetwork(fp32, threads=threads)))]
    # s8 weights: what VNNI runs best; u8 weights: no vpmaddubsw saturation on AVX2-only CPUs (ORT's own advice).
    for label_, weight_type in (("int8 dynamic MatMul", QuantType.QInt8), ("int8 dynamic MatMul, u8 weights", QuantType.QUInt8)):
        int8 = folder / f"net_{weight_type.name}.onnx"
        if not int8.is_file():
            quantize_dynamic(fp32, int8, op_types_to_quantize=["MatMul"], weight_type=weight_type)
            proto = onnx.load(int8)  # the quantiser may drop the metadata OnnxNetwork reads the config from
            if not any(p.key == CONFIG_KEY for p in proto.metadata_props):
                for p in onnx.load(fp32, load_external_data=False).metadata_props:
                    proto.metadata_props.add(key=p.key, value=p.value)
                onnx.save_model(proto, int8)
        variants.append(Variant(f"onnxruntime {label_}", with_net(model, OnnxNetwork(int8, threads=threads))))
    return variants


def root_relative(pred: CropPrediction) -> torch.Tensor:
    """Vertices (float64) with the pelvis at the origin."""
    return (pred.vertices - pred.joints_cam[:, :1]).double()


def vertex_errors_mm(ref: list[CropPrediction], low: list[CropPrediction]) -> tuple[float, float, float]:
    """Root-relative vertex distance (mm) over batches: mean over all crops, the worst crop's mean, the worst vertex."""
    d = torch.cat([(root_relative(r) - root_relative(lo)).norm(dim=-1) for r, lo in zip(ref, low)]) * 1000
    return float(d.mean()), float(d.mean(dim=1).max()), float(d.max())


def forward_flops(model: SMPLestX, x: torch.Tensor) -> float:
    """FLOPs of one forward of ``x`` (matmuls and convolutions, as torch's flop counter counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return float(counter.get_total_flops())


def gemm_rate(m: int, k: int, n: int, dtype: torch.dtype, reps: int = 10) -> float:
    """Best FLOP/s (int8: OP/s) of an (m, k) x (k, n) matmul in ``dtype`` (int8: ``torch._int_mm``, int32 sums)."""
    if dtype == torch.int8:
        a, b = torch.randint(-127, 128, (m, k), dtype=dtype), torch.randint(-127, 128, (n, k), dtype=dtype).t()
        op = torch._int_mm
    else:
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        op = torch.matmul
    op(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        op(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * m * k * n / best


def build_variants(model: SMPLestX, body_dir: Path, compile_: bool, onnx_work: Path | None = None,
                   label: str = "", skip: tuple[str, ...] = ()) -> list[Variant]:
    """Every mode measured, on the weights of ``model`` (fp32)."""
    variants = [
        Variant("reference-style fp32", reference_style(model, body_dir)),
        Variant("ours fp32", model),
        Variant("bf16 autocast", autocast(model)),
        Variant("bf16 weights (--dtype bf16)", bf16_weights(model)),
        Variant("bf16 weights, fused attention", bf16_weights(model, "sdpa")),
        Variant("bf16 weights, textbook bf16 attention", bf16_weights(model, "bf16")),
        Variant("int8 (--dtype int8)", int8_ours(model)),
        Variant("int8 + bf16 attention", int8_ours(model, "bf16")),
        Variant("int8 (--dtype int8) + bf16 autocast", autocast(int8_ours(model))),
        Variant("int8-fbgemm (--dtype int8-fbgemm)", int8_fbgemm(model)),
        Variant("torch.ao int8 dynamic linears", int8_linears(model)),
        Variant("torch.ao int8 dynamic linears + bf16 autocast", autocast(int8_linears(model, float32_in=True))),
    ]
    if compile_:
        variants.append(Variant("bf16 weights (--dtype bf16) + torch.compile", torch.compile(bf16_weights(model))))
        variants.append(Variant("int8 (--dtype int8) + torch.compile", torch.compile(int8_ours(model))))
    if onnx_work is not None:
        variants += onnx_variants(model, onnx_work, label)
    return [v for v in variants if v is variants[0] or not any(s in v.name for s in skip)]


def measure(label: str, model: SMPLestX, body_dir: Path, crops: torch.Tensor, batch: int, reps: int,
            compile_: bool, onnx_work: Path | None = None, skip: tuple[str, ...] = ()) -> list[dict[str, object]]:
    """Accuracy on ``crops`` and interleaved timing at ``batch`` of every variant; one row per variant."""
    variants = build_variants(model, body_dir, compile_, onnx_work, label, skip)
    x = crops[:batch] if len(crops) >= batch else crops.repeat((batch + len(crops) - 1) // len(crops), 1, 1, 1)[:batch]
    rows = []
    with torch.inference_mode():
        chunks = list(crops.split(batch))  # the timed batch size, so a compiled graph is not recompiled
        ref = [model(c) for c in chunks]
        for v in list(variants):  # warm-up (and compilation) outside the timed reps
            try:
                t = time.perf_counter()
                v.run(x)
                if "compile" in v.name:
                    print(f"{label}: {v.name}: first call (compilation) {time.perf_counter() - t:.0f} s", flush=True)
            except Exception as exc:  # torch.compile needs a working C++ toolchain; report and go on without it
                if "compile" not in v.name:
                    raise
                print(f"{label}: {v.name} failed, left out: {str(exc).splitlines()[0][:200]}", flush=True)
                variants.remove(v)
        errors = {v.name: vertex_errors_mm(ref, [v.run(c) for c in chunks]) for v in variants}
        print(f"{label}: accuracy done", flush=True)
        for _ in range(reps):
            for v in variants:
                t = time.perf_counter()
                v.run(x)
                v.times.append(time.perf_counter() - t)
    base = statistics.median(variants[0].times)
    for v in variants:
        sec = statistics.median(v.times)
        rows.append({"weights": label, "variant": v.name, "ms": sec * 1000, "crops_s": batch / sec,
                     "ratio": base / sec, "err": errors[v.name]})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/smplestx_precision"), help="cache: data, trained weights")
    ap.add_argument("--prepare-only", action="store_true", help="make the data and train, then stop")
    ap.add_argument("--sizes", nargs="+", default=["S"], help="S is measured trained and random; others random")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--crops", type=int, default=16, help="crops of the test set for the accuracy columns")
    ap.add_argument("--compile", action="store_true", help="also torch.compile the bf16-weight and int8 networks")
    ap.add_argument("--onnx", action="store_true", help="also ONNX Runtime fp32 and int8 (export cached in --work)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--skip", nargs="*", default=[], help="leave out variants whose name contains one of these")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    ckpt = prepare(args.work)
    if args.prepare_only:
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    body_dir = args.work / "data_train" / "body_models"
    onnx_work = args.work if args.onnx else None
    crops = real_crops(args.work / "data_test", args.crops)
    from smplestx.models.precision_tuning import cpu_identity, isa_caps

    cpu, flags = cpu_identity()
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
    print(f"CPU: {cpu} ({os.cpu_count()} logical CPUs); flags: {' '.join(f for f in wanted if f in flags) or 'none of'} "
          f"(of {', '.join(wanted)}); instruction-set caps: {isa_caps() or 'none'}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, AVX512-BF16 {torch.cpu._is_avx512_bf16_supported()}, "
          f"AMX {torch.cpu._is_amx_tile_supported()}; --dtype bf16 attention here: {auto_attention('bf16', 'cpu')}; "
          f"{len(crops)} crops, batch {args.batch}, {args.reps} reps\n")
    rows = []
    for size in args.sizes:
        torch.manual_seed(0)
        body = BodyModel.from_dir(body_dir)
        random_model = SMPLestX(SMPLestXNet(SMPLEST_X_PRESETS[size]).eval(), body).eval()
        if size == "S":
            trained = load_model(ckpt, body_models=body_dir, dtype="fp32")
            rows += measure(f"{size} trained", trained, body_dir, crops, args.batch, args.reps, args.compile, onnx_work, tuple(args.skip))
        rows += measure(f"{size} random", random_model, body_dir, crops, args.batch, args.reps, args.compile, onnx_work, tuple(args.skip))
        e = random_model.config.encoder
        flops = forward_flops(random_model, crops[:1]) * args.batch
        fp32_ms = next(r["ms"] for r in rows if r["weights"] == f"{size} random" and r["variant"] == "ours fp32")
        m = args.batch * (math.prod(random_model.config.input_body_shape) // e.patch_size ** 2 + e.task_tokens_num)
        rate = gemm_rate(m, e.embed_dim, 4 * e.embed_dim, torch.float32)
        rate16 = gemm_rate(m, e.embed_dim, 4 * e.embed_dim, torch.bfloat16)
        rate8 = gemm_rate(m, e.embed_dim, 4 * e.embed_dim, torch.int8, reps=2)  # seconds per call without VNNI
        print(f"{size}: forward {flops / 1e9:.1f} GFLOP per batch of {args.batch}; ours fp32 runs at "
              f"{flops / (fp32_ms / 1000) / 1e9:.0f} GFLOP/s = {flops / (fp32_ms / 1000) / rate:.0%} of a "
              f"{m}x{e.embed_dim}x{4 * e.embed_dim} fp32 matmul ({rate / 1e9:.0f} GFLOP/s; bf16 {rate16 / 1e9:.0f}, "
              f"int8 {rate8 / 1e9:.0f} GOP/s)")
    print("\n| weights | variant | ms / batch | crops/s | vs reference fp32 | root-rel. vertex err vs fp32, mean / worst crop / worst vertex (mm) |")
    print("|---|---|---:|---:|---:|---|")
    for r in rows:
        err = "{:.2f} / {:.2f} / {:.2f}".format(*r["err"])
        print(f"| {r['weights']} | {r['variant']} | {r['ms']:.0f} | {r['crops_s']:.2f} | {r['ratio']:.2f}x | {err} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
