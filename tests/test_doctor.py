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
