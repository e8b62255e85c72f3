"""Models by name: the download path through huggingface_hub against a loopback hub (no internet)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from smplestx.models import zoo
from fake_hub import FakeHub

SRC = str(Path(__file__).resolve().parents[1] / "src")
BODY = os.urandom(12 * 2**20 + 12345)  # over one 10 MiB download chunk, so a cut transfer can resume mid-file
DIGEST = hashlib.sha256(BODY).hexdigest()
CONFIG = b"# a tiny config_base.py\n"

_DRIVER = """
import json, sys
from smplestx.models import zoo
zoo.MODELS["tiny-test"] = zoo.ZooModel("tiny-test", "smplest_x", "owner/tiny", "tiny.pth.tar", "config_base.py",
                                       "S", sys.argv[1], 0, "test licence")
try:
    r = zoo.resolve_model("tiny-test")
    print(json.dumps({"checkpoint": str(r.checkpoint), "config": str(r.config)}))
except OSError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
"""


@pytest.fixture
def hub():
    server = FakeHub({"owner/tiny/tiny.pth.tar": BODY, "owner/tiny/config_base.py": CONFIG}).start()
    yield server
    server.stop()


def _resolve(tmp_path: Path, hub: FakeHub, sha256: str = DIGEST, offline: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SMPLESTX_"))}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=hub.endpoint, SMPLESTX_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=SRC, HF_HUB_DISABLE_TELEMETRY="1")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    out = subprocess.run([sys.executable, "-c", _DRIVER, sha256], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_download_then_cache_hit(tmp_path, hub):
    first = _resolve(tmp_path, hub)
    assert Path(first["checkpoint"]).read_bytes() == BODY
    assert Path(first["config"]).read_bytes() == CONFIG
    assert str(tmp_path / "hf") in first["checkpoint"]
    assert (tmp_path / "cache" / "verified" / f"{DIGEST}.json").is_file()
    gets = sum(1 for m, _, _ in hub.requests if m == "GET")
    assert gets == 2
    second = _resolve(tmp_path, hub)
    assert second == first
    # A cache hit asks the hub whether the file changed (HEAD) but transfers nothing.
    assert sum(1 for m, _, _ in hub.requests if m == "GET") == gets


def test_checksum_mismatch_is_an_error_and_the_file_is_not_kept(tmp_path, hub):
    res = _resolve(tmp_path, hub, sha256="0" * 64)
    assert res["error"] == "ChecksumError"
    assert DIGEST in res["message"] and "0" * 64 in res["message"]
    blobs = list((tmp_path / "hf").rglob("blobs/*"))
    assert all(b.stat().st_size != len(BODY) for b in blobs), "the corrupt file must not stay in the cache"
    # The next run downloads it again (and fails again, since the digest on record is still wrong).
    assert _resolve(tmp_path, hub, sha256="0" * 64)["error"] == "ChecksumError"


def test_interrupted_download_resumes(tmp_path, hub):
    hub.truncate_first = 10 * 2**20 + 4096
    res = _resolve(tmp_path, hub)
    assert Path(res["checkpoint"]).read_bytes() == BODY
    ranges = [r for m, p, r in hub.requests if m == "GET" and p.endswith("tiny.pth.tar")]
    assert ranges[0] is None and ranges[1] == f"bytes={10 * 2**20}-", ranges


def test_offline_without_cache_says_so(tmp_path, hub):
    res = _resolve(tmp_path, hub, offline=True)
    assert res["error"] == "ModelDownloadError"
    assert "HF_HUB_OFFLINE" in res["message"] and "owner/tiny/tiny.pth.tar" in res["message"]
    assert hub.requests == []


def test_offline_with_cache_uses_it(tmp_path, hub):
    first = _resolve(tmp_path, hub)
    hub.requests.clear()
    assert _resolve(tmp_path, hub, offline=True) == first
    assert hub.requests == []


def test_local_paths_and_unknown_names(tmp_path):
    ckpt = tmp_path / "my.safetensors"
    ckpt.write_bytes(b"x")
    r = zoo.resolve_model(str(ckpt))
    assert r.checkpoint == ckpt and r.config is None and r.entry is None
    with pytest.raises(ValueError, match="smplest-x-h"):
        zoo.resolve_model("smplest-x-q")


def test_table_rows_are_complete():
    assert zoo.DEFAULT_MODEL in zoo.MODELS
    for name, m in zoo.MODELS.items():
        assert name == m.name == name.lower()
        assert m.family in ("smplest_x", "smpler_x") and m.licence
        if m.packaged:  # ours, inside the package: no hub
            assert m.packaged.endswith(m.filename) and m.filename.endswith(".safetensors") and m.repo == ""
            continue
        assert m.size in ("S", "B", "L", "H")
        assert m.filename.endswith(".pth.tar") and "/" in m.repo
    assert {"smpler-x-s32", "smpler-x-b32", "smpler-x-l32", "smpler-x-h32", "smpler-x-h32-correct"} <= set(zoo.MODELS)


@pytest.mark.parametrize("row", [*zoo.MODELS.values(), *zoo.DETECTORS.values()], ids=lambda m: m.name)
def test_every_row_has_a_sha256_or_says_why_not(row):
    """A download is verified against its recorded digest; a row without one must carry the reason (not pass silently)."""
    if row.sha256:
        assert re.fullmatch(r"[0-9a-f]{64}", row.sha256), row.sha256
        assert row.no_sha256_reason == ""  # a digest and an excuse for not having one contradict each other
    else:
        assert isinstance(row.no_sha256_reason, str) and len(row.no_sha256_reason.strip()) >= 20, row.name


def test_released_smpler_x_digests_are_recorded():
    """The digests established from the public Hugging Face LFS details (zoo.py says where)."""
    assert zoo.MODELS["smpler-x-h32"].sha256 == "0f9bc3bda088758e8e16cdf381b0dffabd5e6bc07326027b88d6f54aa3a215c7"
    assert all(zoo.MODELS[f"smpler-x-{s}32"].sha256 for s in "sbl")


def test_cli_lists_models_and_rejects_unknown_names(capsys):
    from smplestx.cli import main

    assert main(["models", "--licences"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in zoo.MODELS) and "hf://waanqii/SMPLest-X/smplest_x_h.pth.tar" in out
    assert "S-Lab License" in out
    # Ours: in the package, our licence, and it says what it knows.
    assert "package: smplestx/models_data/synthetic_tiny.safetensors" in out
    assert "synthetic-tiny: Apache-2.0" in out and "not real photos" in out
    assert main(["info", "smplest-x-q"]) == 2
    assert "known models: smplest-x-h" in capsys.readouterr().err
