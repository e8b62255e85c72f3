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


def test_doctor_says_what_auto_picks_on_this_cpu(monkeypatch, capsys):
    import torch

    import smplestx.model as model_mod

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for vnni, expected in ((True, "int8"), (False, None)):
        monkeypatch.setattr(model_mod, "cpu_has_vnni", lambda: vnni)
        main(["doctor"])
        out = capsys.readouterr().out
        assert ("yes, in hardware (VNNI)" in out) == vnni, out
        picked = expected or model_mod.auto_precision("cpu")
        assert f"{picked} on this CPU (--dtype fp32 to opt out)" in out, out
        assert "measured per model on first use (`smplestx doctor --tune` shows it)" in out, out
