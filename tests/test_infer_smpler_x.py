"""SMPLer-X through `smplestx infer`: part boxes reach the results in image pixels and the overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import PARITY

SX = PARITY / "smpler_x_tiny"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"SMPLer-X parity fixtures not available ({path} missing; they live in ../shared/parity)")
    return path


def test_infer_carries_part_boxes_in_image_pixels(tmp_path, synthetic_body, capsys):
    from smplestx import load_model, load_results
    from smplestx.cli import main
    from smplestx.geometry.crops import crop_image, process_box
    from smplestx.io.video import write_image

    ckpt, cfg = _need(SX / "smpler_x_tiny.pth.tar"), SX / "config_smpler_x_tiny.py"
    img = (np.load(_need(SX / "cases" / "model_forward.npz"))["img"][0].transpose(1, 2, 0) * 255).round().astype(np.uint8)
    # A 300x200 image: the full-frame box is padded to 3:4 and scaled, so crop and image pixels differ.
    image = np.ascontiguousarray(img[::2, ::2][:300, :200])
    write_image(tmp_path / "person.png", image)
    out = tmp_path / "out"
    rc = main(["infer", str(tmp_path / "person.png"), "--checkpoint", str(ckpt), "--config", str(cfg),
               "--body-models", str(synthetic_body), "--detector", "full", "--output", str(out), "--json",
               "--draw-boxes", "--quiet", "--dtype", "fp32"])
    assert rc == 0, capsys.readouterr().err
    results = load_results(out / "person.npz")
    person = results.frames[0].people[0]
    from_json = load_results(out / "person.json").frames[0].people[0]

    model = load_model(ckpt, body_models=synthetic_body, config=cfg)
    h, w = image.shape[:2]
    box = process_box(np.array([0, 0, w, h], np.float64), w, h, model.config.bbox_ratio, model.config.input_img_shape)
    crop = crop_image(image, box, model.config.input_img_shape)  # from the uint8 image, as the pipeline does
    pred = model.predict_crops(torch.from_numpy(crop.patch / 255.0).permute(2, 0, 1)[None].float())
    for name in ("lhand_box", "rhand_box", "face_box"):
        corners = pred.__getattribute__(name)[0].numpy().reshape(2, 2).astype(np.float64)
        expected = (corners @ crop.inv_trans[:, :2].T + crop.inv_trans[:, 2]).reshape(4)
        np.testing.assert_allclose(getattr(person, name), expected, atol=0.05, err_msg=name)
        np.testing.assert_allclose(getattr(from_json, name), getattr(person, name), atol=1e-4, err_msg=name)
    assert (out / "person_overlay.png").is_file()


@pytest.mark.parametrize("ext", ["npz", "json"])
def test_results_round_trip_part_boxes(tmp_path, ext):
    """Part boxes are optional result fields: written when people have them, read back exactly, all or none."""
    from test_export import make_frames, write

    from smplestx import load_results

    frames = make_frames([2, 0, 1])
    rng = np.random.default_rng(1)
    for frame in frames:
        for p in frame.people:
            p.lhand_box, p.rhand_box, p.face_box = (rng.normal(size=4).astype(np.float32) * 100 for _ in range(3))
    write(tmp_path / "r.npz", frames, write_json=True)
    res = load_results(tmp_path / f"r.{ext}")
    got = [p for f in res.frames for p in f.people]
    want = [p for f in frames for p in f.people]
    for g, w in zip(got, want, strict=True):
        for name in ("lhand_box", "rhand_box", "face_box"):
            np.testing.assert_array_equal(getattr(g, name), getattr(w, name))
    assert res.arrays["face_box"].shape == (3, 4)
    frames[2].people[0].face_box = None
    with pytest.raises(ValueError, match="all of lhand_box"):
        write(tmp_path / "bad.npz", frames)
    assert not (tmp_path / "bad.npz").exists()
