"""What the trainer tests of both families share: a tiny synthetic training set, its config and a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smplestx.train.config import TrainConfig, load_train_config

PARITY_BODY = Path(__file__).resolve().parents[2] / "shared" / "parity" / "smplx"


def make_synth(root: Path) -> dict[str, Path]:
    """Six rendered mannequins (one per image) as a HumanData training set; the parity body model when present."""
    from smplestx.synthetic.dataset import write_synthetic_dataset

    body = PARITY_BODY.parent if PARITY_BODY.is_dir() else None
    npz = write_synthetic_dataset(root, 6, seed=3, body_models=body, people_per_image=1)
    return {"root": root, "npz": npz, "images": root / "images", "body": body or root / "body_models"}


def make_dataset(synth: dict[str, Path], augment: bool = True):
    """The synthetic set as the trainer reads it (fixed seed)."""
    from smplestx.train.samples import HumanDataTrainSet

    return HumanDataTrainSet(synth["npz"], synth["images"], seed=5, augment=augment, body_models=synth["body"])


def make_config(synth: dict[str, Path], out: Path, model: list[str], *extra: str) -> TrainConfig:
    """A CPU config of the model overrides ``model`` writing to ``out``, batch 2, logging every step."""
    base = [*model, f'model.body_models="{synth["body"]}"', f'train.output_dir="{out}"', "train.batch_size=2",
            "train.num_workers=0", "train.log_every=1", 'train.device="cpu"', "train.progress=false"]
    return load_train_config(None, [*base, *extra])


def run(cfg: TrainConfig, dataset, **kw: Any) -> tuple[Any, list]:
    """Train and return the result and every step's record."""
    from smplestx.train.trainer import run_training

    records: list = []
    result = run_training(cfg, dataset=dataset, on_step=records.append, **kw)
    return result, records
