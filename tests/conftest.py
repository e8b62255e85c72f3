"""Shared fixtures: the parity folder (../shared/parity) and the tiny official-format model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

PARITY = Path(__file__).resolve().parents[1].parent / "shared" / "parity"
TINY_CKPT = PARITY / "smplest_x_tiny" / "smplest_x_tiny.pth.tar"
TINY_CONFIG = PARITY / "smplest_x_tiny" / "config_base.py"
PARITY_BODY = PARITY / "smplx"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"parity fixtures not available ({path} missing; they live in ../shared/parity)")
    return path


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    """The shared parity folder, or skip."""
    return _need(PARITY)


@pytest.fixture(scope="session")
def tiny_ckpt() -> Path:
    """The tiny official-format checkpoint."""
    return _need(TINY_CKPT)


@pytest.fixture(scope="session")
def tiny_config() -> Path:
    """Its official config_base.py."""
    return _need(TINY_CONFIG)


@pytest.fixture(scope="session")
def parity_body() -> Path:
    """The synthetic SMPL-X folder the golden numbers were made with."""
    return _need(PARITY_BODY)


@pytest.fixture(scope="session")
def forward_case() -> dict[str, np.ndarray]:
    """cases/model_forward.npz."""
    return dict(np.load(_need(PARITY / "cases" / "model_forward.npz")))


@pytest.fixture(scope="session")
def tiny_net(tiny_ckpt: Path, tiny_config: Path):
    """The tiny network, loaded strictly, eval mode, float32."""
    from smplestx.models.checkpoint import load_network

    return load_network(tiny_ckpt, tiny_config)


@pytest.fixture(scope="session")
def synthetic_smpl_models(tmp_path_factory) -> Path:
    """A synthetic SMPL-X + SMPL folder (with smplx2smpl.pkl), built once per session."""
    from smplestx.synthetic.smplx_model import write_synthetic_body
    from smplestx.synthetic.smpl_model import write_synthetic_smpl

    root = tmp_path_factory.getbasetemp() / "synthetic_smpl_models"
    write_synthetic_body(root, seed=0)
    # float32 map: half the disk / time of the float64 default, and reference mode's all-float32 path.
    write_synthetic_smpl(root, formats=("npz", "pkl"), matrix_dtype=np.float32)
    return root


@pytest.fixture(scope="session")
def synthetic_body(tmp_path_factory) -> Path:
    """One synthetic SMPL-X model folder per test session (writing it takes a few seconds)."""
    from smplestx.synthetic.smplx_model import write_synthetic_body

    root = tmp_path_factory.getbasetemp() / "shared_synthetic_body"
    write_synthetic_body(root, seed=0)
    return root


@pytest.fixture(scope="session")
def body(synthetic_body: Path):
    """The synthetic body model in float64, loaded once per session (read only; a module may define its own)."""
    import torch

    from smplestx.body import BodyModel

    return BodyModel.from_dir(synthetic_body, dtype=torch.float64)


@pytest.fixture(autouse=True)
def _auto_precision_is_fp32_in_tests(monkeypatch):
    """``--dtype auto`` offers only fp32 in tests: the calibration would time real forwards and depend on the CPU.

    Tests of the calibration (test_precision_tuning.py) put their own candidates, timings and predictions in.
    """
    from smplestx.models import precision_tuning

    monkeypatch.setattr(precision_tuning, "candidates", lambda device, backend="torch": ["fp32"])
