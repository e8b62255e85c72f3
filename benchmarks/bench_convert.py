"""Load time and peak memory: official .pth.tar (with Adam state) vs converted safetensors.

Builds a random checkpoint in the official format for a given size (default L), converts
it, then loads each in a fresh process and prints a markdown table.

    python benchmarks/bench_convert.py --size L --workdir /tmp/bench_ckpt
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

LOAD_SNIPPET = """
import json, sys, time, torch
from smplestx.models.checkpoint import load_network, map_official_keys, infer_config
from smplestx.nn.network import SMPLestXNet
path, dtype, mode = sys.argv[1], getattr(torch, sys.argv[2]), sys.argv[3]
start = time.perf_counter()
if mode == "reference":
    # What the reference does: a full torch.load (no mmap) of the whole snapshot, then load_state_dict.
    state = map_official_keys(torch.load(path, map_location="cpu", weights_only=True)["network"])
    net = SMPLestXNet(infer_config(state)).eval()
    net.load_state_dict(state, strict=False)
else:
    net = load_network(path, dtype=dtype)
loaded = time.perf_counter() - start
with torch.inference_mode():
    out = net(torch.zeros(1, 3, 512, 384, dtype=dtype))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": loaded, "peak_rss_mb": hwm / 1024, "transl": out.transl.float().tolist()}))
"""


def make_official_checkpoint(size: str, path: Path) -> None:
    """Write a random checkpoint like the reference Trainer does: network + Adam state."""
    import torch

    from smplestx.models.smplest_x import SMPLEST_X_PRESETS
    from smplestx.nn.network import SMPLestXNet

    torch.manual_seed(0)
    net = SMPLestXNet(SMPLEST_X_PRESETS[size])
    network = {f"module.{k}": v for k, v in net.state_dict().items()}
    state = {i: {"step": torch.tensor(1.0), "exp_avg": torch.randn_like(p), "exp_avg_sq": torch.rand_like(p)}
             for i, p in enumerate(net.parameters())}
    optimizer = {"state": state, "param_groups": [{"lr": 1e-5, "params": list(state)}]}
    torch.save({"epoch": 0, "network": network, "optimizer": optimizer}, path)


def measure(path: Path, dtype: str, mode: str = "ours") -> dict:
    """Load (timed) + one forward in a fresh interpreter; returns load seconds and peak RSS."""
    out = subprocess.run([sys.executable, "-c", LOAD_SNIPPET, str(path), dtype, mode], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="L")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/smplestx_bench_convert"))
    args = parser.parse_args()
    from smplestx.models.checkpoint import convert_checkpoint

    args.workdir.mkdir(parents=True, exist_ok=True)
    official = args.workdir / f"random_{args.size}.pth.tar"
    if not official.exists():
        make_official_checkpoint(args.size, official)
    rows = []
    for dtype in ("fp32", "bf16"):
        st = args.workdir / f"random_{args.size}_{dtype}.safetensors"
        start = time.perf_counter()
        convert_checkpoint(official, st, dtype=dtype)
        rows.append((f"convert to {dtype}", st.stat().st_size, time.perf_counter() - start, None))
    ref = measure(official, "float32", "reference")
    base = measure(official, "float32")
    fp32 = measure(args.workdir / f"random_{args.size}_fp32.safetensors", "float32")
    bf16 = measure(args.workdir / f"random_{args.size}_bf16.safetensors", "bfloat16")
    same = base["transl"] == fp32["transl"]
    print(f"size {args.size}; fp32 safetensors output identical to the .pth.tar: {same}\n")
    print("| file | bytes (MB) | load (s) | peak RSS, load + 1 forward (MB) |")
    print("|---|---|---|---|")
    print(f"| official .pth.tar, loaded as the reference does (full torch.load) | {official.stat().st_size / 1e6:.0f} | {ref['seconds']:.2f} | {ref['peak_rss_mb']:.0f} |")
    print(f"| official .pth.tar, smplestx (weights_only + mmap) | {official.stat().st_size / 1e6:.0f} | {base['seconds']:.2f} | {base['peak_rss_mb']:.0f} |")
    for label, path, res in (("safetensors fp32", f"random_{args.size}_fp32", fp32), ("safetensors bf16", f"random_{args.size}_bf16", bf16)):
        size = (args.workdir / f"{path}.safetensors").stat().st_size
        print(f"| {label} | {size / 1e6:.0f} | {res['seconds']:.2f} | {res['peak_rss_mb']:.0f} |")
    for label, size, sec, _ in rows:
        print(f"| ({label}: {sec:.1f} s) | {size / 1e6:.0f} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
