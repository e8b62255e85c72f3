"""`--dtype auto`: measured per machine and model on the CPU (``precision_tuning``; its own tests), float32 on GPUs;
the CPU flags' guess where no model is at hand; ``int8`` names the int8 kernel fast on the CPU; fp32 opts out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import smplestx.models.loading as model_mod
import smplestx.models.precision_tuning as pt
from precision_helpers import assert_same_results
from smplestx.models.loading import auto_precision, cpu_has_bf16, cpu_has_vnni, load_model, pick_dtype, pick_precision


def _hardware(monkeypatch: pytest.MonkeyPatch, *, torch_probe: bool, flags: set[str]) -> None:
    """Pretend torch's cpuid probes answer ``torch_probe`` and /proc/cpuinfo lists ``flags``."""
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported", "_is_vnni_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: torch_probe, raising=False)
    monkeypatch.setattr(model_mod, "_cpuinfo_flags", lambda path="/proc/cpuinfo": set(flags))
    monkeypatch.setattr(model_mod, "fbgemm_available", lambda: True)  # x86 torch builds ship it


def _calibration_picks(monkeypatch: pytest.MonkeyPatch, precision: str) -> None:
    """Pretend this machine's calibration (cached or measured) picked ``precision``."""
    monkeypatch.setattr(pt, "tune", lambda build, body, config, device, **kw: pt.Tuning(key={}, picked=precision))


@pytest.mark.parametrize(
    "torch_probe, flags, expected",
    [
        (False, set(), "fp32"),  # e.g. AVX2-only x86, or no /proc/cpuinfo
        (False, {"avx2", "avx512f"}, "fp32"),  # AVX-512 without BF16 or VNNI (Skylake-X): both would be emulated
        (False, {"avx512f", "avx512_bf16"}, "bf16"),  # bf16 without VNNI (no shipping CPU; the rule's fallback)
        (False, {"avx512f", "avx512_vnni"}, "int8"),  # Cascade Lake / Ice Lake: VNNI, no bf16
        (False, {"avx2", "avx_vnni"}, "int8"),  # Alder Lake and later client CPUs
        (False, {"avx512f", "avx512_vnni", "avx512_bf16"}, "int8"),  # Zen 4 / Cooper Lake: int8 is the faster
        # Sapphire Rapids and later: bf16 matmuls and attention on the AMX tiles outrun torch._int_mm (no tiles)
        (False, {"avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}, "bf16"),
        (True, set(), "bf16"),  # torch's cpuid probes are enough
    ],
)
def test_flag_guess_and_int8_kernel_follow_the_cpu_flags(monkeypatch, torch_probe, flags, expected):
    """The guess ``auto`` makes without a model, and the int8 kernel ``--dtype int8`` names, by CPU flags."""
    _hardware(monkeypatch, torch_probe=torch_probe, flags=flags)
    vnni = expected == "int8" or torch_probe or "amx_int8" in flags
    assert cpu_has_vnni() == vnni
    assert model_mod.cpu_has_amx() == (torch_probe or "amx_bf16" in flags)
    assert auto_precision("cpu") == expected
    assert pick_precision("auto", "cpu") == expected
    # int8 networks keep float32 weights around the int8 layers.
    assert pick_dtype("auto", "cpu") == {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": torch.float32}[expected]
    # GPUs keep their behaviour (float32) whatever the host CPU has; explicit names are never rewritten.
    assert auto_precision("cuda") == "fp32" and auto_precision("cuda:1") == "fp32" and auto_precision("mps") == "fp32"
    assert pick_dtype("fp32", "cpu") == torch.float32 and pick_dtype("bf16", "cuda") == torch.bfloat16
    assert pick_precision(torch.float16) == "fp16"
    # int8 is the kernel fast on this CPU: per-row int8 matmuls with VNNI, fbgemm's AVX2 kernels without.
    assert pick_precision("int8", "cpu") == ("int8" if vnni else "int8-fbgemm")
    assert pick_precision("int8-fbgemm", "cpu") == "int8-fbgemm" and pick_dtype("int8", "cpu") == torch.float32


def test_bf16_probe(monkeypatch):
    _hardware(monkeypatch, torch_probe=False, flags={"avx512_bf16"})
    assert cpu_has_bf16() and not cpu_has_vnni()
    _hardware(monkeypatch, torch_probe=False, flags={"avx512_vnni"})
    assert cpu_has_vnni() and not cpu_has_bf16()


def test_cpuinfo_flags_are_read_from_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n"
                    "processor\t: 1\nflags\t\t: fpu avx2\n")
    assert model_mod._cpuinfo_flags(str(info)) == {"fpu", "avx2", "avx512f", "avx512_bf16"}
    assert model_mod._cpuinfo_flags(str(tmp_path / "absent")) == set()


@pytest.mark.parametrize("precision", ["int8", "int8-fbgemm", "bf16", "fp32"])
def test_load_model_auto_and_fp32_opt_out(tiny_ckpt, tiny_config, parity_body, monkeypatch, precision):
    _calibration_picks(monkeypatch, precision)
    auto = load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="auto")
    assert model_mod.network_precision(auto.net) == precision
    assert next(auto.net.parameters()).dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
    assert auto.body.v_template.dtype == torch.float32  # the body model stays float32 either way
    fp32 = load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="fp32")
    assert all(p.dtype == torch.float32 for p in fp32.net.parameters())
    # The library default stays float32 (the parity surface), whatever the CPU.
    default = load_model(tiny_ckpt, body_models=parity_body, config=tiny_config)
    assert next(default.net.parameters()).dtype == torch.float32


def test_infer_defaults_to_auto_and_fp32_opts_out(tiny_ckpt, tiny_config, parity_body, monkeypatch, tmp_path, capsys):
    from smplestx import load_results
    from smplestx.cli import main
    from smplestx.io.video import write_image

    _calibration_picks(monkeypatch, "bf16")
    monkeypatch.setattr(model_mod, "cpu_has_bf16", lambda: True)
    image = (np.random.default_rng(0).random((240, 180, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "in.png", image)
    common = ["infer", str(tmp_path / "in.png"), "--checkpoint", str(tiny_ckpt), "--config", str(tiny_config),
              "--body-models", str(parity_body), "--detector", "full", "--no-render", "--device", "cpu"]
    runs: dict[str, Path] = {}
    for name, extra in (("auto", []), ("fp32", ["--dtype", "fp32"])):
        runs[name] = tmp_path / name
        assert main([*common, "--output", str(runs[name]), *extra]) == 0
        err = capsys.readouterr().err
        assert f"device cpu ({'bf16' if name == 'auto' else 'fp32'})" in err, err
    a, b = (load_results(runs[k] / "in.npz") for k in ("auto", "fp32"))
    assert a.num_people == b.num_people == 1
    # Same people, different arithmetic: bf16 moves the joints, but by millimetres, not metres.
    assert_same_results(a.arrays, b.arrays, parity_body)
