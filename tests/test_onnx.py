"""`smplestx export-onnx` and `--backend onnxruntime`: the exported network against torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="ONNX tests need the onnx extra: pip install -e '.[onnx]'")
pytest.importorskip("onnxscript", reason="ONNX export needs the onnx extra: pip install -e '.[onnx]'")

from smplestx.cli import main  # noqa: E402
from smplestx.models.loading import load_model  # noqa: E402


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory, tiny_ckpt, tiny_config, parity_body) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    assert main(["export-onnx", str(tiny_ckpt), str(out), "--config", str(tiny_config),
                 "--body-models", str(parity_body)]) == 0
    return out


@pytest.mark.slow
def test_exported_network_matches_torch_at_any_batch(onnx_file, tiny_ckpt, tiny_config, parity_body, forward_case):
    ref = load_model(tiny_ckpt, body_models=parity_body, config=tiny_config)
    ort = load_model(onnx_file, body_models=parity_body)
    assert ort.config == ref.config  # the config travels in the file
    crops = torch.from_numpy(forward_case["img"])
    for b in (1, 4):
        a, o = ref.predict_crops(crops[:b]), ort.predict_crops(crops[:b])
        assert o.vertices.shape == (b, 10475, 3)
        assert (a.vertices - o.vertices).norm(dim=-1).max() <= 1e-4  # metres
        assert (a.joints_2d - o.joints_2d).abs().max() <= 1e-2  # crop pixels
        np.testing.assert_allclose(o.betas.numpy(), a.betas.numpy(), atol=1e-4)
    # And the reference's own numbers, through ONNX Runtime.
    o = ort.predict_crops(crops)
    np.testing.assert_allclose(o.vertices.numpy(), forward_case["smplx_mesh_cam"], atol=1e-4)


@pytest.mark.slow
def test_infer_with_onnxruntime_backend(onnx_file, tiny_ckpt, tiny_config, parity_body, tmp_path):
    from smplestx import load_results
    from smplestx.io.video import write_image

    image = (np.random.default_rng(0).random((240, 180, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "in.png", image)
    common = ["infer", str(tmp_path / "in.png"), "--body-models", str(parity_body), "--detector", "full", "-q",
              "--no-render"]
    # torch in fp32 explicitly (the default, auto, is bf16 on a bf16 CPU); the ONNX run keeps the default: float32.
    assert main([*common, "--checkpoint", str(tiny_ckpt), "--config", str(tiny_config), "--output", str(tmp_path / "t"),
                 "--dtype", "fp32"]) == 0
    assert main([*common, "--checkpoint", str(onnx_file), "--backend", "onnxruntime", "--output", str(tmp_path / "o")]) == 0
    a, b = load_results(tmp_path / "t" / "in.npz"), load_results(tmp_path / "o" / "in.npz")
    assert a.num_people == b.num_people == 1
    assert (a.meta["run"]["backend"], b.meta["run"]["backend"]) == ("torch", "onnxruntime")
    assert b.meta["run"]["dtype"] == "fp32"
    assert a.meta["run"]["attention"] == "sdpa" and b.meta["run"]["attention"] is None  # ONNX Runtime picks its own
    np.testing.assert_allclose(b.arrays["joints_3d"], a.arrays["joints_3d"], atol=1e-4)
    np.testing.assert_allclose(b.arrays["joints_2d"], a.arrays["joints_2d"], atol=1e-2)
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["failures"] == 0


def test_backend_errors_are_one_line(tiny_ckpt, parity_body, tmp_path, capsys):
    with pytest.raises(ValueError, match="export-onnx"):
        load_model(tiny_ckpt, body_models=parity_body, backend="onnxruntime")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph")
    from smplestx.models.onnx_export import OnnxError

    with pytest.raises(OnnxError, match="bad.onnx: not a loadable ONNX model"):
        load_model(bad, body_models=parity_body)
    with pytest.raises(ValueError, match="float32"):
        load_model(bad, body_models=parity_body, dtype=torch.bfloat16)
    assert main(["export-onnx", str(tmp_path / "missing.pth.tar"), str(tmp_path / "o.onnx")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "o.onnx").exists()


def test_auto_dtype_runs_onnx_in_float32(onnx_file, parity_body, monkeypatch):
    """`--dtype auto` on a bf16/VNNI CPU still loads an exported graph (float32 here); explicit bf16 is refused."""
    import smplestx.models.loading as model_mod
    from smplestx.errors import UsageError

    monkeypatch.setattr(model_mod, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(model_mod, "cpu_has_vnni", lambda: True)
    ort = load_model(onnx_file, body_models=parity_body, dtype="auto")
    assert next(ort.net.parameters()).dtype == torch.float32
    assert model_mod.network_precision(ort.net) == "fp32"
    for explicit in ("bf16", "fp16"):
        with pytest.raises(UsageError, match="exported ONNX networks run in float32 or int8"):
            load_model(onnx_file, body_models=parity_body, dtype=explicit)


@pytest.mark.parametrize("vnni", [False, True])
def test_int8_runs_onnx_runtimes_quantised_graph(onnx_file, parity_body, monkeypatch, tmp_path, vnni):
    """`--dtype int8` on an .onnx network: ONNX Runtime's dynamic int8 (cached by content), close to its fp32."""
    import smplestx.models.loading as model_mod
    import smplestx.models.precision_tuning as pt

    pytest.importorskip("onnxruntime.quantization")
    monkeypatch.setenv("SMPLESTX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(model_mod, "cpu_has_vnni", lambda: vnni)  # uint8 weights without VNNI, int8 with
    fp32 = load_model(onnx_file, body_models=parity_body, dtype="fp32")
    int8 = load_model(onnx_file, body_models=parity_body, dtype="int8")
    assert model_mod.network_precision(int8.net) == "int8" and model_mod.network_precision(fp32.net) == "fp32"
    cached = list((tmp_path / "cache" / "onnx_int8").glob("*.onnx"))
    assert len(cached) == 1 and cached[0].name.endswith("-int8.onnx" if vnni else "-uint8.onnx")
    if vnni:
        return  # int8 weights are exact only with VNNI: on an AVX2-only test machine they would saturate
    crops = torch.rand(2, 3, *fp32.config.input_img_shape, generator=torch.Generator().manual_seed(4))
    a, b = fp32.predict_crops(crops), int8.predict_crops(crops)
    rel = lambda p: (p.vertices - p.joints_cam[:, :1]).double().numpy()  # noqa: E731
    err = np.linalg.norm(rel(a) - rel(b), axis=-1)
    assert 0 < err.mean() < 0.015 and err.max() < 0.060, (err.mean(), err.max())
    # --dtype auto calibrates ONNX Runtime's fp32 against its int8 (timings faked: int8 2x faster).
    monkeypatch.setattr(pt, "candidates", lambda device, backend="torch": ["fp32", "int8"])
    monkeypatch.setattr(pt, "time_call", lambda label, fn, reps, **kw: 0.5 if label.startswith("int8") else 1.0)
    monkeypatch.setattr(pt, "calibration_crops", lambda body, config, num: crops)
    auto = load_model(onnx_file, body_models=parity_body, dtype="auto", batch_size=2)
    tuning = pt.load_cached(pt.tuning_key(fp32.config, 2, "onnxruntime"))
    row = tuning.trials[1]
    assert row.precision == "int8" and row.backend == "onnxruntime" and row.mean_mm > 0
    within = row.mean_mm <= 5 and row.worst_mm <= 20
    # Timed only within the bound (random tiny weights may exaggerate the error past it).
    assert (row.speedup == pytest.approx(2.0)) if within else (row.speedup is None and "bound" in row.note)
    assert tuning.picked == ("int8" if within else "fp32") == model_mod.network_precision(auto.net)


@pytest.mark.slow
def test_smpler_x_export_loads_back_and_matches_torch(tmp_path, parity_dir, parity_body):
    """An SMPLer-X network exported by `smplestx export-onnx` loads with load_model(x.onnx): same predictions, boxes too."""
    from smplestx.models.smpler_x import SMPLerXConfig
    from smplestx.models.smpler_x import SMPLerX

    sx = parity_dir / "smpler_x_tiny"
    ckpt, cfg = sx / "smpler_x_tiny.pth.tar", sx / "config_smpler_x_tiny.py"
    out = tmp_path / "sx.onnx"
    assert main(["export-onnx", str(ckpt), str(out), "--config", str(cfg), "--body-models", str(parity_body)]) == 0
    ref = load_model(ckpt, body_models=parity_body, config=cfg, dtype="fp32")
    ort = load_model(out, body_models=parity_body)
    assert isinstance(ort, SMPLerX) and isinstance(ort.config, SMPLerXConfig) and ort.config == ref.config
    crops = torch.from_numpy(np.load(sx / "cases" / "model_forward.npz")["img"])
    for b in (1, 4):
        a, o = ref.predict_crops(crops[:b]), ort.predict_crops(crops[:b])
        assert (a.vertices - o.vertices).norm(dim=-1).max() <= 1e-4  # metres, as for SMPLest-X above
        assert (a.joints_2d - o.joints_2d).abs().max() <= 1e-2  # crop pixels
        np.testing.assert_allclose(o.betas.numpy(), a.betas.numpy(), atol=1e-4)
        for box in ("lhand_box", "rhand_box", "face_box"):  # crop pixels
            np.testing.assert_allclose(getattr(o, box).numpy(), getattr(a, box).numpy(), atol=1e-2)
