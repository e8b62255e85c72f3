"""The scene camera: its choice and checks, and people re-expressed in it (issue 16)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.optimize import least_squares

from smplestx.synthetic.scene import ScenePerson, crop_camera_oracle, demo_people
from smplestx.geometry.cameras import fit_translation, project_points
from smplestx.io.results import FrameResult
from smplestx.geometry.scene_camera import SceneCamera, express_in_scene, load_intrinsics, scene_camera_from_options

W, H, F = 640, 480, 800.0  # the synthetic scenes' true camera (princpt at the centre)
TRUE = SceneCamera(intrinsics=(F, F, W / 2, H / 2))


def standing(x: float, z: float) -> ScenePerson:
    arms = np.zeros((21, 3))
    arms[15], arms[16] = [0, 0, -1.1], [0, 0, 1.1]
    return ScenePerson((x, 0.25, z), body_pose=arms)


# ---------------------------------------------------------------------------------------- choice


def test_default_is_the_image_diagonal_at_the_centre():
    f, c = SceneCamera().resolve(640, 480)
    np.testing.assert_allclose(f, [800.0, 800.0])
    np.testing.assert_allclose(c, [320.0, 240.0])
    assert SceneCamera().describe()["kind"] == "default"


def test_focal_fov_and_intrinsics():
    np.testing.assert_allclose(SceneCamera(focal=1234.5).resolve(100, 50)[0], [1234.5, 1234.5])
    f, c = SceneCamera(fov_deg=90.0).resolve(640, 480)
    np.testing.assert_allclose(f, [320.0, 320.0], rtol=1e-12)  # 90 deg across the width: f = W / 2
    np.testing.assert_allclose(c, [320.0, 240.0])
    f, c = SceneCamera(intrinsics=(700.0, 710.0, 300.0, 250.0)).resolve(640, 480)
    np.testing.assert_allclose(f, [700.0, 710.0])
    np.testing.assert_allclose(c, [300.0, 250.0])


def test_intrinsics_file(tmp_path):
    path = tmp_path / "cam.json"
    path.write_text(json.dumps({"fx": 900, "fy": 901, "cx": 330.5, "cy": 239}))
    cam = load_intrinsics(path)
    assert cam.intrinsics == (900.0, 901.0, 330.5, 239.0)
    assert cam.describe() == {"kind": "intrinsics", "intrinsics": {"fx": 900.0, "fy": 901.0, "cx": 330.5, "cy": 239.0},
                              "file": str(path)}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"focal": float("nan")}, "--focal must be finite and positive"),
        ({"focal": -3.0}, "--focal must be finite and positive"),
        ({"fov": 0.0}, "--fov must be finite and positive"),
        ({"fov": 180.0}, "--fov must be below 180"),
        ({"focal": 800.0, "fov": 60.0}, "at most one of --focal, --fov, --intrinsics"),
    ],
)
def test_bad_options_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scene_camera_from_options(**kwargs)


def test_bad_intrinsics_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_intrinsics(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    for text, message in [("{", "not valid JSON"), ('{"fx": 1, "fy": 1, "cx": 1}', "missing cy"),
                          ('{"fx": NaN, "fy": 1, "cx": 1, "cy": 1}', "fx must be finite and positive"),
                          ('{"fx": "a", "fy": 1, "cx": 1, "cy": 1}', "fx must be a number")]:
        bad.write_text(text)
        with pytest.raises(ValueError, match=message) as err:
            load_intrinsics(bad)
        assert "bad.json" in str(err.value)
    bad.write_text('{"fx": 800, "fy": 800, "cx": 480, "cy": 640}')  # cx, cy swapped for a 640x480 image
    with pytest.raises(ValueError, match="outside the 640x480 image"):
        load_intrinsics(bad).resolve(640, 480)


# ---------------------------------------------------------------------------------------- solve


def _cost(points, targets, t, focal, princpt) -> float:
    return 0.5 * float(((project_points(points + t, focal, princpt) - targets) ** 2).sum())


@pytest.mark.parametrize("scene_focal", [500.0, 5000.0])
def test_solve_reaches_the_reprojection_optimum(body, scene_focal):
    """Per person, in multi-person frames: the scene fit is the least-squares optimum (scipy as the oracle)."""
    frames = []
    for i, people in enumerate([demo_people(3, frame=2), [standing(-0.8, 3.0), standing(0.9, 7.0)]]):
        frames.append(FrameResult(i, 0.0, W, H, crop_camera_oracle(body, people, W, H, (F, F), (W / 2, H / 2))))
    rng = np.random.default_rng(3)
    for fr in frames:
        for p in fr.people:
            # Keypoint noise as a network gives: no translation reproduces these exactly.
            p.joints_2d = (p.joints_2d + rng.normal(scale=1.5, size=p.joints_2d.shape)).astype(np.float32)
    camera = SceneCamera(focal=scene_focal)
    express_in_scene(frames, camera)
    f, c = camera.resolve(W, H)
    for fr in frames:
        np.testing.assert_array_equal(fr.scene_focal, f.astype(np.float32))
        for p in fr.people:
            body_j = p.joints_3d.astype(np.float64) - p.transl
            u = p.joints_2d.astype(np.float64)
            ours = _cost(body_j, u, p.transl_scene.astype(np.float64), f, c)
            start = p.transl_scene + np.array([0.3, -0.2, 0.25 * p.transl_scene[2]])
            ref = least_squares(lambda t: (project_points(body_j + t, f, c) - u).ravel(), start, xtol=1e-12, ftol=1e-12)
            assert ref.cost > 100.0  # a real optimum to match (137 joints, 1.5 px noise)
            assert ours <= ref.cost * 1.02, (ours, ref.cost)
            np.testing.assert_allclose(p.transl_scene, ref.x, rtol=2e-3, atol=2e-3)
            # joints_3d_scene is the same body, moved to transl_scene.
            np.testing.assert_allclose(p.joints_3d_scene - p.transl_scene, p.joints_3d - p.transl, atol=1e-5)
            np.testing.assert_allclose(p.vertices_scene - p.transl_scene, p.vertices - p.transl, atol=1e-5)


def test_fit_is_exact_for_exact_targets():
    rng = np.random.default_rng(1)
    pts = rng.normal(scale=0.4, size=(5, 137, 3))
    t = np.column_stack([rng.uniform(-2, 2, 5), rng.uniform(-1, 1, 5), rng.uniform(2, 40, 5)])
    focal, princpt = np.array([[600.0, 610.0]] * 5), np.array([[330.0, 250.0]] * 5)
    u = project_points(pts + t[:, None], focal[:, None], princpt[:, None])
    np.testing.assert_allclose(fit_translation(pts, u, focal, princpt), t, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------------------- oracle


def test_true_translations_come_back_under_the_true_intrinsics(body):
    people = demo_people(3) + [standing(-0.5, 3.0), standing(1.5, 9.0)]
    oracle = crop_camera_oracle(body, people, W, H, (F, F), (W / 2, H / 2))
    frame = FrameResult(0, 0.0, W, H, oracle)
    express_in_scene([frame], TRUE)
    truth = np.array([p.transl for p in people])
    got = np.stack([p.transl_scene for p in oracle])
    err = np.linalg.norm(got - truth, axis=1)
    assert err.max() < 0.03, err  # measured: at most 1.6 cm (3 m to 9 m away)
    # The per-person crop cameras put everyone 30-60 m away: not comparable with each other.
    assert min(p.transl[2] for p in oracle) > 20.0


def test_box_jitter_barely_moves_a_standing_person_in_the_scene_camera(body):
    person = [standing(0.3, 4.0)]
    true_box = crop_camera_oracle(body, person, W, H, (F, F), (W / 2, H / 2))[0].box_xyxy
    rng = np.random.default_rng(0)
    crop_z, scene_z = [], []
    for _ in range(20):
        box = true_box + rng.uniform(-5, 5, 4)
        (p,) = crop_camera_oracle(body, person, W, H, (F, F), (W / 2, H / 2), boxes_xyxy=box[None])
        express_in_scene([FrameResult(0, 0.0, W, H, [p])], TRUE)
        crop_z.append(p.transl[2])
        scene_z.append(p.transl_scene[2])
    crop_jitter, scene_jitter = np.std(crop_z) / np.mean(crop_z), np.std(scene_z)
    assert abs(np.mean(scene_z) - 4.0) < 0.03
    assert scene_jitter < 0.001, scene_jitter  # metres; measured 5 um: the box no longer enters the depth
    assert crop_jitter > 0.005  # the per-person camera's depth follows the box (relative)
    assert math.isfinite(crop_jitter)
