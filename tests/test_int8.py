"""`--dtype int8`: int8 linears (per-channel weights, per-row activations) with everything else float32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import smplestx.models.loading as model_mod
from precision_helpers import assert_same_results
from smplestx.errors import UsageError
from smplestx.models.loading import load_model, network_precision
from smplestx.nn.int8 import MIN_INT8_OUTPUTS, Int8Linear, is_quantized, quantize_linears, quantize_rows


@pytest.fixture(autouse=True)
def _int8_is_the_per_row_kernel(monkeypatch):
    """``--dtype int8`` names the per-row kernel on CPUs with VNNI (int8-fbgemm elsewhere): pin it, whatever this CPU."""
    monkeypatch.setattr(model_mod, "cpu_has_vnni", lambda: True)


def test_integer_inputs_are_multiplied_exactly():
    """Rows and weights whose peaks are 127 quantise with scale 1: the int8 product must equal the float one exactly."""
    g = torch.Generator().manual_seed(0)
    w = torch.randint(-127, 128, (300, 40), generator=g).float()
    w[:, 0] = 127.0  # every channel's peak is 127, so its scale is exactly 1
    x = torch.randint(-127, 128, (2, 5, 40), generator=g).float()
    x[..., 3] = -127.0
    lin = nn.Linear(40, 300)
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(torch.arange(300.0))
    q = Int8Linear(lin)
    assert q.weight_int8.dtype == torch.int8 and torch.equal(q.weight_scale, torch.ones(300))
    out = q(x)
    assert out.shape == (2, 5, 300) and out.dtype == torch.float32
    # The products are integers below 2^24, so float32 holds the exact answer; a transposed weight would not.
    assert torch.equal(out, x @ w.t() + torch.arange(300.0))


def test_real_valued_error_is_a_percent_and_rows_are_scaled_independently():
    g = torch.Generator().manual_seed(1)
    lin = nn.Linear(384, 512)
    x = torch.randn(64, 384, generator=g)
    x[0] *= 1000.0  # one huge row (an outlier token) must not cost the other rows their precision
    q = Int8Linear(lin)
    with torch.no_grad():
        ref = lin(x)
        out = q(x)
    rel = (out - ref).norm(dim=1) / ref.norm(dim=1)
    assert float(rel.max()) < 0.02, rel.max()  # measured ~1 %: 8-bit rounding of both operands
    assert float(rel.min()) > 1e-5  # it really is quantised, not a float pass-through


def test_edge_rows_zero_empty_and_bias_free():
    lin = nn.Linear(16, 300, bias=False)
    q = Int8Linear(lin)
    assert q.bias is None
    assert torch.equal(q(torch.zeros(3, 16)), torch.zeros(3, 300))  # an all-zero row: 0, not 0/0
    assert q(torch.zeros(0, 7, 16)).shape == (0, 7, 300)
    values, scale = quantize_rows(torch.tensor([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0]]))
    assert values.tolist() == [[64, -127, 32], [0, 0, 0]] and scale[0, 0] == pytest.approx(1 / 127)
    nan = q(torch.full((1, 16), float("nan")))
    assert torch.isnan(nan).all()  # a NaN input stays visible; it is never quantised into a plausible number


def test_only_wide_plain_linears_are_quantised():
    class Special(nn.Linear):
        pass

    net = nn.Sequential(nn.Linear(8, MIN_INT8_OUTPUTS), nn.GELU(), nn.Linear(MIN_INT8_OUTPUTS, 6),
                        Special(6, 1000))
    quantize_linears(net)
    assert isinstance(net[0], Int8Linear)  # a transformer-width layer
    assert type(net[2]) is nn.Linear  # a prediction head (few outputs) stays float32
    assert type(net[3]) is Special  # a subclass may carry behaviour an int8 copy would drop
    assert is_quantized(net) and not is_quantized(nn.Sequential(nn.Linear(2, 2)))


def _root_relative(pred) -> np.ndarray:
    return (pred.vertices - pred.joints_cam[:, :1]).double().numpy()


def test_int8_model_tracks_fp32_and_reports_its_precision(tiny_ckpt, tiny_config, parity_body):
    fp32 = load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="fp32")
    int8 = load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="int8")
    assert network_precision(int8.net) == "int8" and network_precision(fp32.net) == "fp32"
    assert sum(isinstance(m, Int8Linear) for m in int8.net.modules()) >= 10
    assert all(p.dtype == torch.float32 for p in int8.net.parameters())
    assert int8.body.v_template.dtype == torch.float32
    crops = torch.rand(4, 3, *fp32.config.input_img_shape, generator=torch.Generator().manual_seed(2))
    a, b = fp32.predict_crops(crops), int8.predict_crops(crops)
    err = np.linalg.norm(_root_relative(a) - _root_relative(b), axis=-1)
    spread = np.linalg.norm(_root_relative(a)[1:] - _root_relative(a)[:1], axis=-1).mean()
    # Random weights exaggerate rounding (docs/benchmarks.md); still millimetres, and far below what tells
    # two different crops apart, so the bound can fail.
    assert err.mean() < 0.010 and err.max() < 0.040, (err.mean(), err.max())
    assert spread > 5 * err.mean(), (spread, err.mean())
    assert err.mean() > 0  # the int8 path ran


def test_int8_is_refused_where_it_cannot_run(tiny_ckpt, tiny_config, parity_body, monkeypatch):
    monkeypatch.setattr(model_mod, "pick_device", lambda device: "cuda")
    with pytest.raises(UsageError, match="int8 runs on the CPU"):
        load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, device="cuda", dtype="int8")
    with pytest.raises(UsageError, match="unknown dtype 'int4'"):
        load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="int4")


def test_infer_with_int8_records_it(tiny_ckpt, tiny_config, parity_body, tmp_path, capsys):
    from smplestx import load_results
    from smplestx.cli import main
    from smplestx.io.video import write_image

    image = (np.random.default_rng(0).random((240, 180, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "in.png", image)
    common = ["infer", str(tmp_path / "in.png"), "--checkpoint", str(tiny_ckpt), "--config", str(tiny_config),
              "--body-models", str(parity_body), "--detector", "full", "--no-render", "--device", "cpu"]
    assert main([*common, "--output", str(tmp_path / "q"), "--dtype", "int8"]) == 0
    assert "device cpu (int8)" in capsys.readouterr().err
    assert main([*common, "--output", str(tmp_path / "f"), "--dtype", "fp32"]) == 0
    q, f = load_results(tmp_path / "q" / "in.npz"), load_results(tmp_path / "f" / "in.npz")
    assert q.meta["run"]["dtype"] == "int8" and f.meta["run"]["dtype"] == "fp32"
    assert f.meta["run"]["attention"] in ("sdpa", "eager", "bf16")  # the kernel that ran is recorded too
    assert_same_results(q.arrays, f.arrays, parity_body)


def test_smpler_x_runs_in_int8(synthetic_body):
    """SMPLer-X's linears quantise the same way; its part boxes and mesh stay close to float32."""
    from conftest import PARITY

    sx = PARITY / "smpler_x_tiny"
    ckpt, cfg, case = sx / "smpler_x_tiny.pth.tar", sx / "config_smpler_x_tiny.py", sx / "cases" / "model_forward.npz"
    if not ckpt.exists() or not case.exists():
        pytest.skip(f"SMPLer-X parity fixtures not available ({sx} missing; they live in ../shared/parity)")
    fp32 = load_model(ckpt, body_models=synthetic_body, config=cfg, dtype="fp32")
    int8 = load_model(ckpt, body_models=synthetic_body, config=cfg, dtype="int8")
    assert network_precision(int8.net) == "int8"
    crops = torch.from_numpy(np.load(case)["img"]).float()
    a, b = fp32.predict_crops(crops), int8.predict_crops(crops)
    err = np.linalg.norm(_root_relative(a) - _root_relative(b), axis=-1)
    assert 0 < err.mean() < 0.010 and err.max() < 0.040, (err.mean(), err.max())
    for name in ("lhand_box", "rhand_box", "face_box"):
        # Boxes are in crop pixels (384 x 512): a few pixels at most.
        assert float((getattr(a, name) - getattr(b, name)).abs().max()) < 8.0, name


def test_bf16_attention_matches_the_fused_kernel_to_bf16_precision():
    from smplestx.nn.attention import attend

    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 4, 50, 64, generator=g) for _ in range(3))
    k = k[:, :, :37]  # cross-attention shape: fewer keys than queries
    v = v[:, :, :37]
    ref = attend(q, k, v, "sdpa")
    low = attend(q, k, v, "bf16")
    assert low.dtype == torch.float32 and low.shape == ref.shape
    rel = float((low - ref).norm() / ref.norm())
    assert 1e-5 < rel < 2e-2, rel  # bf16 rounding (8-bit mantissa), not a different formula
    assert attend(q.bfloat16(), k.bfloat16(), v.bfloat16(), "bf16").dtype == torch.bfloat16
    with pytest.raises(ValueError, match="unknown attention kind"):
        attend(q, k, v, "fast")


@pytest.mark.parametrize("queries, keys", [(272, 272), (50, 37)])  # the encoder's shape; a cross-attention one
def test_fused_attention_of_bf16_networks_is_the_formula_at_bf16_precision(queries, keys):
    """bf16 networks on AMX CPUs run torch's fused kernel in bf16 (its tile path there, a vector path elsewhere):
    the same softmax(QK^T / sqrt(D)) V as float64 arithmetic on the same bf16 inputs, to bf16's rounding."""
    from smplestx.nn.attention import attend

    g = torch.Generator().manual_seed(5)
    q = (2 * torch.randn(2, 6, queries, 64, generator=g)).bfloat16()  # peaked weights, not a uniform average
    k, v = (torch.randn(2, 6, keys, 64, generator=g).bfloat16() for _ in range(2))
    qd, kd, vd = (t.double() for t in (q, k, v))
    exact = torch.softmax(qd @ kd.transpose(-2, -1) / 8.0, dim=-1) @ vd
    for kind in ("sdpa", "bf16"):
        low = attend(q, k, v, kind)
        assert low.dtype == torch.bfloat16 and low.shape == exact.shape
        rel = float((low.double() - exact).norm() / exact.norm())
        assert 1e-5 < rel < 1e-2, (kind, rel)  # bf16 rounding (8-bit mantissa: ~0.3 %), not another formula
        worst = float(((low.double() - exact).norm(dim=-1) / exact.norm(dim=-1)).max())
        assert worst < 3e-2, (kind, worst)  # no query row (a softmax block edge, a tail) goes astray


@pytest.mark.parametrize("precision, device, has_bf16, has_amx, expected", [
    ("bf16", "cpu", True, False, "bf16"), ("int8", "cpu", True, False, "sdpa"), ("fp32", "cpu", True, False, "sdpa"),
    ("bf16", "cpu", False, False, "sdpa"), ("bf16", "cuda", True, False, "sdpa"), ("fp16", "cpu", True, False, "sdpa"),
    # AMX: torch's fused kernel runs bf16 on the tiles, twice as fast as the textbook form.
    ("bf16", "cpu", True, True, "sdpa"), ("int8", "cpu", True, True, "sdpa"), ("bf16", "cuda", True, True, "sdpa"),
])
def test_auto_attention(monkeypatch, precision, device, has_bf16, has_amx, expected):
    monkeypatch.setattr(model_mod, "cpu_has_bf16", lambda: has_bf16)
    monkeypatch.setattr(model_mod, "cpu_has_amx", lambda: has_amx)
    assert model_mod.auto_attention(precision, device) == expected


def test_load_model_picks_the_attention_kernel(tiny_ckpt, tiny_config, parity_body, monkeypatch):
    from smplestx.nn.attention import Attention

    def kinds(model) -> set[str]:
        return {m.kind for m in model.net.modules() if isinstance(m, Attention)}

    monkeypatch.setattr(model_mod, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(model_mod, "cpu_has_amx", lambda: False)
    common = dict(body_models=parity_body, config=tiny_config)
    assert kinds(load_model(tiny_ckpt, dtype="bf16", **common)) == {"bf16"}
    assert kinds(load_model(tiny_ckpt, dtype="int8", **common)) == {"sdpa"}  # float32 activations: fused fp32
    assert kinds(load_model(tiny_ckpt, dtype="fp32", **common)) == {"sdpa"}  # parity keeps the fused kernel
    assert kinds(load_model(tiny_ckpt, dtype="int8", attention="bf16", **common)) == {"bf16"}  # explicit wins
    assert kinds(load_model(tiny_ckpt, dtype="bf16", attention="sdpa", **common)) == {"sdpa"}
    monkeypatch.setattr(model_mod, "cpu_has_amx", lambda: True)
    assert kinds(load_model(tiny_ckpt, dtype="bf16", **common)) == {"sdpa"}  # AMX: the fused kernel's bf16 tiles
    monkeypatch.setattr(model_mod, "cpu_has_bf16", lambda: False)
    assert kinds(load_model(tiny_ckpt, dtype="bf16", **common)) == {"sdpa"}  # bf16 emulated: keep the fused kernel


def test_cli_dtype_choices_are_the_precisions():
    """The CLI lists the choices literally (it parses without importing torch); they must stay the model's list."""
    import argparse

    from smplestx.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("infer", "eval"):
        dtype = next(a for a in subparsers.choices[command]._actions if a.dest == "dtype")
        assert set(dtype.choices) == {"auto", *model_mod.PRECISIONS}, command


def test_int8_on_a_cpu_without_vnni_runs_fbgemm_and_records_it(tiny_ckpt, tiny_config, parity_body, monkeypatch,
                                                                tmp_path, capsys):
    """Without VNNI torch's int8 matmul has no fast kernel: ``--dtype int8`` runs fbgemm's (AVX2) and says so."""
    from smplestx import load_results
    from smplestx.cli import main
    from smplestx.io.video import write_image
    from smplestx.nn.int8 import fbgemm_available

    if not fbgemm_available():
        pytest.skip("this torch build has no fbgemm (not x86)")
    monkeypatch.setattr(model_mod, "cpu_has_vnni", lambda: False)
    fp32 = load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="fp32")
    q = load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="int8")
    assert network_precision(q.net) == "int8-fbgemm" and not any(isinstance(m, Int8Linear) for m in q.net.modules())
    # The heads (few outputs) stay float32 nn.Linear, as for the per-row kernel.
    heads = [m for m in q.net.modules() if type(m) is nn.Linear]
    assert heads and all(m.out_features < MIN_INT8_OUTPUTS for m in heads)
    crops = torch.rand(4, 3, *fp32.config.input_img_shape, generator=torch.Generator().manual_seed(2))
    a, b = fp32.predict_crops(crops), q.predict_crops(crops)
    err = np.linalg.norm(_root_relative(a) - _root_relative(b), axis=-1)
    # One activation scale per tensor (7 bits on x86): ~3x int8's error on random weights, still millimetres.
    assert 0 < err.mean() < 0.015 and err.max() < 0.060, (err.mean(), err.max())
    image = (np.random.default_rng(0).random((240, 180, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "in.png", image)
    assert main(["infer", str(tmp_path / "in.png"), "--checkpoint", str(tiny_ckpt), "--config", str(tiny_config),
                 "--body-models", str(parity_body), "--detector", "full", "--no-render", "--device", "cpu",
                 "--output", str(tmp_path / "q"), "--dtype", "int8"]) == 0
    assert "device cpu (int8-fbgemm)" in capsys.readouterr().err
    run = load_results(tmp_path / "q" / "in.npz").meta["run"]
    assert run["dtype"] == "int8-fbgemm" and run["backend"] == "torch"

