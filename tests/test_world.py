"""Motion in the world: moving-camera synthetic scenes, camera motion from pixels, world metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.body import BodyModel
from smplestx.motion.world_frame import LEVEL_CAMERA, apply_pose, floor_in_camera, invert_pose, move_root
from smplestx.synthetic.walks import walk_truth
from smplestx.synthetic.world import CAMERA_PATHS, camera_path


@pytest.fixture(scope="module")
def body(synthetic_body: Path) -> BodyModel:
    return BodyModel.from_dir(synthetic_body, dtype=torch.float64)


def _world_vertices(truth: dict[str, np.ndarray]) -> np.ndarray:
    f = truth["frame"]
    return apply_pose(truth["camera_rotation"][f], truth["camera_translation"][f], truth["vertices"])


def test_move_root_matches_moving_the_mesh(body: BodyModel) -> None:
    rng = np.random.default_rng(0)
    go, transl, betas = rng.normal(0, 0.5, 3), rng.normal(0, 1, 3), rng.normal(0, 1, 10)
    r = camera_path("handheld", np.array([0.7]))[0][0] @ LEVEL_CAMERA
    t = rng.normal(0, 2, 3)
    pelvis = body(betas=torch.tensor(betas[None])).joints[0, 0].numpy()

    def verts(g: np.ndarray, tr: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return body(global_orient=torch.tensor(g[None]), transl=torch.tensor(tr[None]),
                        betas=torch.tensor(betas[None])).vertices[0].numpy()

    go2, tr2 = move_root(go, transl, pelvis, r, t)
    np.testing.assert_allclose(verts(go2, tr2), apply_pose(r, t, verts(go, transl)), atol=1e-9)
    ri, ti = invert_pose(r, t)
    np.testing.assert_allclose(apply_pose(ri, ti, apply_pose(r, t, np.eye(3))), np.eye(3), atol=1e-12)


def test_camera_paths_are_rotations_starting_level() -> None:
    times = np.arange(60) / 30.0
    for kind in CAMERA_PATHS:
        r, t = camera_path(kind, times)
        assert r.shape == (60, 3, 3) and t.shape == (60, 3)
        np.testing.assert_allclose(r @ np.swapaxes(r, 1, 2), np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
        np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)
        if kind in ("static", "pan", "orbit"):  # these start at home; a shake or a dolly starts where it is
            np.testing.assert_allclose(r[0], LEVEL_CAMERA, atol=1e-12)
            np.testing.assert_allclose(t[0], [0.0, 0.8, 0.0], atol=1e-12)
        turned = np.rad2deg(np.arccos(np.clip((np.trace(r[0].T @ r[-1]) - 1) / 2, -1, 1)))
        moved = np.linalg.norm(t[-1] - t[0])
        if kind == "static":
            assert turned == 0.0 and moved == 0.0
        else:
            assert turned > 0.5 or moved > 0.005, kind
    with pytest.raises(ValueError, match="unknown camera path"):
        camera_path("dolly", times)


def test_moving_camera_truth_is_one_world(body: BodyModel) -> None:
    plain = walk_truth(body, "crossing", frames=12, fps=10.0, width=160, height=120, with_vertices=True)
    static = walk_truth(body, "crossing", frames=12, fps=10.0, width=160, height=120, with_vertices=True,
                        camera="static")
    for k in ("global_orient", "transl", "box_xyxy", "vertices"):
        np.testing.assert_array_equal(plain[k], static[k])  # the static camera is today's camera, number for number
    np.testing.assert_allclose(static["floor"], [0, -1, 0, 0.8])
    world = _world_vertices(static)
    assert abs(world[..., 1].min()) < 0.05  # the feet reach the floor at y = 0 (y up)
    for kind in ("pan", "orbit", "handheld"):
        moving = walk_truth(body, "crossing", frames=12, fps=10.0, width=160, height=120, with_vertices=True,
                            camera=kind)
        assert moving["camera_rotation"].shape == (12, 3, 3) and moving["camera_translation"].shape == (12, 3)
        assert not np.allclose(moving["transl"][:len(static["transl"])], static["transl"][:len(moving["transl"])])
        both = [(i, j) for i in range(len(moving["frame"])) for j in range(len(static["frame"]))
                if moving["frame"][i] == static["frame"][j] and moving["person_id"][i] == static["person_id"][j]]
        i, j = np.array(both).T
        np.testing.assert_allclose(_world_vertices(moving)[i], world[j], atol=1e-5)  # same people in the world
        np.testing.assert_allclose(moving["transl_world"][i], static["transl_world"][j], atol=1e-6)
        np.testing.assert_allclose(moving["global_orient_world"][i], static["global_orient_world"][j], atol=1e-6)
        np.testing.assert_allclose(moving["floor"], floor_in_camera(moving["camera_rotation"][0],
                                                                    moving["camera_translation"][0]))


def test_synthetic_media_moving_camera_cli(synthetic_body: Path, tmp_path: Path, capsys) -> None:
    from smplestx.cli import main
    from smplestx.pipeline.sources import VideoSource

    video = tmp_path / "pan.mp4"
    assert main(["synthetic-media", str(video), "--body-models", str(synthetic_body), "--walk", "crossing",
                 "--camera", "pan", "--frames", "3", "--width", "160", "--height", "120", "--fps", "10"]) == 0
    with np.load(tmp_path / "pan.mp4.truth.npz", allow_pickle=False) as z:
        assert str(z["camera"]) == "pan" and z["camera_rotation"].shape == (3, 3, 3)
        assert z["transl_world"].shape == (len(z["frame"]), 3) and z["global_orient_world"].shape == (len(z["frame"]), 3)
    with VideoSource(video) as src:
        frames = list(src)
    img = frames[0].image
    # The textured world, not a smooth gradient: strong local detail over the whole image.
    assert np.abs(np.diff(img.astype(np.float32), axis=1)).mean() > 4.0
    assert main(["synthetic-media", str(tmp_path / "x.mp4"), "--body-models", str(synthetic_body),
                 "--camera", "pan"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--walk" in err and len(err.splitlines()) == 1
