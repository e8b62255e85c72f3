"""Every reduced precision ``--dtype auto`` may pick stays within its accuracy bound on synthetic people.

Measured with the packaged ``synthetic-tiny`` network (trained on these people, so its outputs depend on the
image) over the mesh vertices and every joint; the 17 face-contour joints count only where both runs pick the
same head-angle bin (precision_tuning.errors_m), so the check holds on every CPU class.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from smplestx.models import precision_tuning as pt
from smplestx.body import BodyModel
from smplestx.models.loading import load_model

#: Precisions that can run on this CPU (flags prune; fp32 is the reference).
LOW = [p for p in pt.candidates("cpu") if p != "fp32"]
#: Reduced precision must change the numbers by less than people differ from each other: the crops' own spread.
MIN_SPREAD_RATIO = 5.0


@pytest.fixture(scope="module")
def people(synthetic_body: Path):
    """fp32 model, its body, the fixed calibration people and the fp32 prediction."""
    fp32 = load_model("synthetic-tiny", body_models=synthetic_body, dtype="fp32")
    crops = pt.calibration_crops(fp32.body, fp32.config, 8)
    with torch.inference_mode():
        ref = fp32.predict_crops(crops)
    return fp32, crops, ref


@pytest.mark.parametrize("precision", LOW)
def test_reduced_precision_within_the_bound_or_never_picked(people, synthetic_body: Path, precision: str) -> None:
    """A precision that runs here either stays within the bound on people, or the calibration refuses it: ``auto``
    never picks a precision outside the bound (with the shipped weights int8-fbgemm's per-tensor int8 can exceed the
    20 mm worst case on a crop, while bf16 and per-row int8 stay well within it)."""
    fp32, crops, ref = people
    low_model = load_model("synthetic-tiny", body_models=synthetic_body, dtype=precision)
    with torch.inference_mode():
        low = low_model.predict_crops(crops)
    mean, worst = pt.errors_m(ref, low, fp32.body)
    print(f"{precision}: mean {mean * 1000:.2f} mm, worst {worst * 1000:.2f} mm")
    assert mean > 0  # the reduced-precision path really ran
    if pt.within_bound(mean, worst):
        return
    models = {"fp32": fp32, precision: low_model}
    tuning = pt.calibrate(lambda name, kind: models[name].predict_crops, ["fp32", precision], crops, fp32.body,
                          {"backend": "torch"}, width=fp32.config.encoder.embed_dim, attention="sdpa", budget_s=1.0)
    trial = next(t for t in tuning.trials if t.precision == precision)
    assert not trial.accepted and tuning.picked == "fp32", tuning.trials
    if trial.worst_mm is not None:  # measured (not pruned as slow by the matmul probe first): the bound refused it
        assert "outside the bound" in trial.note and trial.worst_mm == pytest.approx(worst * 1000, rel=1e-6)


def test_the_people_differ_more_than_the_bound(people) -> None:
    """The check can fail: the network's answers for different people differ by far more than the bound allows."""
    fp32, crops, ref = people
    rel = (ref.vertices - ref.joints_cam[:, :1]).double()
    spread = (rel[1:] - rel[:1]).norm(dim=-1).mean()
    assert spread > MIN_SPREAD_RATIO * pt.MEAN_BOUND_M, float(spread)


def test_the_bound_counts_contour_joints_only_where_bins_agree(people) -> None:
    fp32, crops, ref = people
    body: BodyModel = fp32.body
    bins = body.face_contour_bins(ref.global_orient, ref.body_pose)
    assert bins.shape == (crops.shape[0],)
    mask = pt.comparable_joints(bins.numpy(), bins.numpy())
    assert mask.all()  # the same run compares every joint
