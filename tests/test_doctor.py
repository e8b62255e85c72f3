"""`smplestx doctor`: one screen; exit 1 naming what is missing."""

from __future__ import annotations

from smplestx.cli import main


def test_doctor_reports_missing_body_models_then_ok(tmp_path, monkeypatch, capsys, synthetic_body):
    monkeypatch.delenv("SMPLESTX_BODY_MODELS", raising=False)
    monkeypatch.delenv("SMPLESTX_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert main(["doctor"]) == 1
    out, err = capsys.readouterr()
    assert "NO  body models" in out and "https://smpl-x.is.tue.mpg.de" in out
    assert "missing body models" in err
    for name in ("torch", "device", "bf16", "model cache", "detectors", "versions"):
        assert f"ok  {name} " in out, name
    monkeypatch.setenv("SMPLESTX_BODY_MODELS", str(synthetic_body))
    assert main(["doctor"]) == 0
    out, _ = capsys.readouterr()
    assert f"ok  body models     {synthetic_body} (from $SMPLESTX_BODY_MODELS)" in out
    # The flag is looked up first, as in every command (it used to count only for --tune).
    monkeypatch.delenv("SMPLESTX_BODY_MODELS")
    assert main(["doctor", "--body-models", str(synthetic_body)]) == 0
    out, _ = capsys.readouterr()
    assert f"ok  body models     {synthetic_body} (from --body-models)" in out


def test_doctor_says_what_auto_picks_on_this_cpu(monkeypatch, capsys):
    import torch

    import smplestx.models.loading as model_mod

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(model_mod, "cpu_has_bf16", lambda: True)
    # AMX: bf16 on the tiles outruns int8 (torch._int_mm has no tile path); VNNI without AMX: int8.
    for vnni, amx, expected in ((True, True, "bf16"), (True, False, "int8"), (False, False, None)):
        monkeypatch.setattr(model_mod, "cpu_has_vnni", lambda: vnni)
        monkeypatch.setattr(model_mod, "cpu_has_amx", lambda: amx)
        main(["doctor"])
        out = capsys.readouterr().out
        assert ("yes, in hardware (VNNI)" in out) == vnni, out
        picked = expected or model_mod.auto_precision("cpu")
        assert f"{picked} on this CPU (--dtype fp32 to opt out)" in out, out
        assert "measured per model on first use (`smplestx doctor --tune` shows it)" in out, out


def test_doctor_warns_about_a_cuda_build_without_a_gpu(monkeypatch, capsys):
    """A CUDA build of torch on a CPU-only machine: a warning naming the disk it costs, not a failure."""
    import torch

    import smplestx.cli.doctor as doctor

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(doctor, "cuda_wheels", lambda: {"nvidia-cublas-cu13": 2**30, "triton": 2**29})
    main(["doctor"])
    out = capsys.readouterr().out
    assert "!!  torch build" in out and "a CUDA 13.0 build, but no usable GPU here: 1.50 GiB" in out, out
    assert "https://download.pytorch.org/whl/cpu" in out and "pip uninstall -y nvidia-cublas-cu13 triton" in out
    checks = doctor.run_checks()
    assert [c for c in checks if c.name == "torch build"][0].ok  # a warning does not fail doctor
    monkeypatch.setattr(torch.version, "cuda", None)  # the CPU build: nothing to say
    assert "torch build" not in doctor.format_report(doctor.run_checks())


def test_cuda_wheel_sizes_come_from_the_installed_files(monkeypatch, tmp_path):
    """RECORD sizes are summed; a row without a size is measured on disk; other distributions are not counted."""
    import importlib.metadata

    import smplestx.cli.doctor as doctor

    unsized = tmp_path / "libcudnn.so"
    unsized.write_bytes(b"x" * 1000)

    class File:
        def __init__(self, size, path=None):
            self.size, self.path = size, path

        def locate(self):
            return self.path

    class Dist:
        def __init__(self, name, files):
            self.metadata, self.files = {"Name": name}, files

    dists = [Dist("nvidia-cudnn-cu12", [File(5000), File(None, unsized), File(None, tmp_path / "gone")]),
             Dist("nvidia_nccl_cu12", [File(7)]), Dist("triton", [File(3)]), Dist("cuda-bindings", [File(11)]),
             Dist("numpy", [File(10**6)]), Dist("nvidia-cudnn-cu12", [File(10**9)])]
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: iter(dists))
    assert doctor.cuda_wheels() == {"nvidia-cudnn-cu12": 6000, "nvidia_nccl_cu12": 7, "triton": 3, "cuda-bindings": 11}
