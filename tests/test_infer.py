"""End to end: `smplestx infer` and the Estimator on media made here from the synthetic body model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from smplestx.body import BodyModel
from smplestx.cli import main
from smplestx.models.smplest_x import SMPLestXConfig
from smplestx.synthetic.scene import ScenePerson, render_scene
from smplestx.io.results import load_results
from smplestx.geometry.crops import crop_image
from smplestx.models.smplest_x import SMPLestX
from smplestx.nn.network import NetworkOutput
from smplestx.pipeline.detectors import BoxesFileDetector, Detections, FullFrameDetector
from smplestx.pipeline.estimator import Estimator
from smplestx.pipeline.run import InferenceRun, InferOptions
from smplestx.pipeline.sources import VideoSource, read_image
from smplestx.io.video import VideoWriter, write_image

PIL = pytest.importorskip("PIL.Image")

W, H = 320, 240
VIDEO_PEOPLE = [2, 2, 2, 2, 0, 0]  # frames 4 and 5 have nobody


@pytest.fixture(scope="module")
def body_dir(synthetic_body: Path) -> Path:
    return synthetic_body


@pytest.fixture(scope="module")
def body(body_dir) -> BodyModel:
    return BodyModel.from_dir(body_dir, dtype=torch.float64)


@pytest.fixture(scope="module")
def media(tmp_path_factory, body) -> dict:
    """Two mannequins in an image (several encodings) and a 6-frame video, with their true boxes."""
    root = tmp_path_factory.mktemp("media")
    folder = root / "inputs"
    folder.mkdir()
    arms = np.zeros((21, 3))
    arms[15], arms[16] = [0, 0, -1.0], [0, 0, 1.0]
    people = [ScenePerson((-0.6, 0.2, 4.5), body_pose=arms), ScenePerson((0.7, 0.3, 5.0))]
    image, boxes = render_scene(body, people, W, H, focal=400.0)
    write_image(folder / "two_people.png", image)
    rgba = np.concatenate([image, np.full((H, W, 1), 200, np.uint8)], axis=2)
    PIL.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    import cv2

    cv2.imwrite(str(folder / "sixteen_bit.png"), (image[:, :, ::-1].astype(np.uint16) * 257))
    img = PIL.fromarray(image)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(folder / "rotated.jpg", exif=exif.tobytes(), quality=95)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    frames_boxes = {}
    with VideoWriter(folder / "clip.mp4", 10.0, W, H) as vw:
        for i, n in enumerate(VIDEO_PEOPLE):
            ppl = [ScenePerson((p.transl[0] + 0.05 * i, p.transl[1], p.transl[2]), body_pose=p.body_pose) for p in people[:n]]
            frame, fb = render_scene(body, ppl, W, H, focal=400.0, seed=i)
            vw.write(frame)
            frames_boxes[str(i)] = fb.tolist()
    image_boxes = {"0": boxes.tolist()}
    boxes_file = root / "boxes.json"
    boxes_file.write_text(json.dumps({"files": {
        "two_people.png": {"frames": image_boxes}, "rgba.png": {"frames": image_boxes},
        "sixteen_bit.png": {"frames": image_boxes}, "clip.mp4": {"frames": frames_boxes},
        "rotated.jpg": {"frames": {"0": [[0, 0, H, W]]}},
    }}))
    return {"folder": folder, "boxes": boxes_file, "image": image, "true_boxes": boxes}


def run_cli(args: list[str], tiny_ckpt, tiny_config, body_dir) -> int:
    return main(["infer", *args, "--checkpoint", str(tiny_ckpt), "--config", str(tiny_config),
                 "--body-models", str(body_dir), "--quiet", "--dtype", "fp32"])


def test_folder_with_images_video_and_a_corrupt_file(media, tiny_ckpt, tiny_config, body_dir, tmp_path, capsys):
    out = tmp_path / "out"
    rc = run_cli([str(media["folder"]), "--detector", f"boxes:{media['boxes']}", "--output", str(out), "--json",
                  "--save-mesh", "obj", "--batch-size", "3"], tiny_ckpt, tiny_config, body_dir)
    err = capsys.readouterr().err
    assert rc == 1  # the corrupt file failed; everything else was done
    assert "corrupt.jpg" in err and len([line for line in err.splitlines() if "corrupt.jpg" in line]) >= 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failures"] == 1 and len(summary["inputs"]) == 6
    assert summary["frames"] == 4 + len(VIDEO_PEOPLE) and summary["people"] == 3 * 2 + 1 + sum(VIDEO_PEOPLE)

    for name in ("two_people", "rgba", "sixteen_bit"):
        for suffix in (".npz", ".json"):
            res = load_results(out / f"{name}{suffix}")
            assert res.image_size == (W, H) and len(res.frames) == 1 and res.num_people == 2
            p = res.frames[0].people[0]
            assert p.joints_3d.shape == (137, 3) and p.joints_2d.shape == (137, 2) and p.body_pose.shape == (21, 3)
            assert p.vertices is None
            np.testing.assert_allclose(p.box_xyxy, media["true_boxes"][0], atol=1e-3)
        overlay = read_image(out / f"{name}_overlay.png")
        assert overlay.shape == (H, W, 3)
        assert len(list((out / f"{name}_meshes").glob("*.obj"))) == 2
    # Same pixels in three encodings give the same people.
    a, b = load_results(out / "two_people.npz"), load_results(out / "sixteen_bit.npz")
    np.testing.assert_allclose(a.arrays["transl"], b.arrays["transl"], atol=1e-4)

    rotated = load_results(out / "rotated.npz")
    assert rotated.image_size == (H, W)  # EXIF orientation applied: portrait

    video = load_results(out / "clip.npz")
    assert [len(f.people) for f in video.frames] == VIDEO_PEOPLE
    assert [f.index for f in video.frames] == list(range(len(VIDEO_PEOPLE)))
    # Videos are tracked: each person keeps one id over the frames, and the track file holds both.
    ids = [[p.track_id for p in f.people] for f in video.frames if f.people]
    assert all(sorted(i) == sorted(ids[0]) for i in ids) and len(set(ids[0])) == 2 and min(ids[0]) >= 0
    from smplestx import load_tracks

    tracks = load_tracks(out / "clip.tracks.npz")
    assert sorted(t.track_id for t in tracks.tracks) == sorted(ids[0])
    assert all(t.frames.tolist() == [0, 1, 2, 3] for t in tracks.tracks)
    assert tracks.fps == pytest.approx(10.0) and tracks.smoothing == "gaussian(sigma=2)"
    assert tracks.feet == "pin" and tracks.floor.shape == (4,)  # --feet pin by default
    assert all(t.contacts.shape == (4, 4) for t in tracks.tracks)
    np.testing.assert_array_equal(tracks.image_size, [W, H])
    # The track file's camera is the scene camera its translations live in; exporting the results file builds
    # the same tracks (the one builder, with the smoothing the results file records).
    np.testing.assert_array_equal(tracks.focal, video.scene_focal)
    np.testing.assert_array_equal(tracks.princpt, video.scene_princpt)
    from smplestx.export import trackset_from_results

    from smplestx.motion.feet import pin_feet

    # ... and pins its feet as infer did (the estimator's float32 body model), which export does by default.
    again = pin_feet(trackset_from_results(out / "clip.npz"), BodyModel.from_dir(body_dir, dtype=torch.float32))
    assert again.smoothing == tracks.smoothing
    assert [t.track_id for t in again.tracks] == [t.track_id for t in tracks.tracks]
    for a, b in zip(again.tracks, tracks.tracks):
        for name in ("frames", "betas", "global_orient", "body_pose", "left_hand_pose", "jaw_pose", "transl"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-6, err_msg=name)
    assert str(out / "clip.tracks.npz") in summary["inputs"][[i["path"] for i in summary["inputs"]].index(
        str(media["folder"] / "clip.mp4"))]["outputs"]
    np.testing.assert_allclose([f.time_s for f in video.frames], np.arange(len(VIDEO_PEOPLE)) / 10.0, atol=1e-6)
    with VideoSource(out / "clip_overlay.mp4") as src, VideoSource(media["folder"] / "clip.mp4") as orig:
        assert (src.width, src.height) == (W, H) and abs(src.fps - 10.0) < 1e-6
        overlay_frames = [f.image for f in src]
        input_frames = [f.image for f in orig]
    assert len(overlay_frames) == len(VIDEO_PEOPLE)
    # A frame with nobody is the unchanged frame (up to re-encoding).
    assert np.abs(overlay_frames[5].astype(int) - input_frames[5].astype(int)).mean() < 3.0
    assert not list(out.glob(".*"))  # no temporary files left behind


class FixedNet(nn.Module):
    """A stand-in network that puts a mannequin upright in the middle of every crop."""

    def __init__(self, n_betas: int = 10) -> None:
        super().__init__()
        self.config = SMPLestXConfig()
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, crops: torch.Tensor) -> NetworkOutput:
        b = crops.shape[0]
        z = lambda *s: torch.zeros(b, *s)  # noqa: E731
        orient = torch.tensor([[np.pi, 0.0, 0.0]]).repeat(b, 1)
        # SMPL-X rotates about the pelvis (rest y = -0.335); +0.30 puts the body centre on the axis.
        transl = torch.tensor([[0.0, 0.30, 55.0]]).repeat(b, 1)
        return NetworkOutput(orient, z(21, 3), z(15, 3), z(15, 3), z(3), z(10), z(10), transl, z(3), z(3), z(3),
                             z(1, 16, 12), z(80, 1), None)


@pytest.fixture(scope="module")
def oracle_estimator(body_dir):
    model = SMPLestX(FixedNet(), BodyModel.from_dir(body_dir)).eval()
    return Estimator(model=model, detector=FullFrameDetector(), device="cpu")


def test_joints_land_inside_their_crop_boxes(oracle_estimator, media):
    """The full-image camera maps the crop prediction onto the person it came from."""
    est = oracle_estimator
    boxes = media["true_boxes"]
    det = Detections(boxes, np.ones(2, np.float32), np.array([3, 7]))
    est.detector = type("Fixed", (), {"name": "fixed", "detect": lambda self, *a: det})()
    people = est.predict(media["image"])
    assert [p.track_id for p in people] == [3, 7]
    for p in people:
        x, y, w, h = p.crop_box_xywh
        j = p.joints_2d
        inside = (j[:, 0] > x) & (j[:, 0] < x + w) & (j[:, 1] > y) & (j[:, 1] < y + h)
        assert inside.all(), (np.flatnonzero(~inside), j[~inside], p.crop_box_xywh)
        # Same numbers as running the model on that crop and mapping crop pixels back with the box.
        crop = crop_image(media["image"], p.crop_box_xywh).patch
        pred = est.model.predict_crops(torch.from_numpy(crop).permute(2, 0, 1)[None] / 255.0)
        back = pred.joints_2d[0].numpy() * np.array([w / 384, h / 512]) + np.array([x, y])
        np.testing.assert_allclose(j, back, atol=0.05)


def test_oracle_overlay_covers_the_person(oracle_estimator, media, tmp_path):
    est = oracle_estimator
    est.detector = FullFrameDetector()
    run = InferenceRun(est, InferOptions(output=tmp_path))
    image = media["image"]
    result = next(est.predict_frames([_frame(image)]))
    overlay = run.draw(image, result)
    changed = np.abs(overlay.astype(int) - image.astype(int)).sum(axis=2) > 10
    assert changed.mean() > 0.02  # the mesh is drawn
    x, y, w, h = result.people[0].crop_box_xywh
    ys, xs = np.nonzero(changed)
    assert xs.min() >= x - 1 and xs.max() <= x + w + 1 and ys.min() >= y - 1 and ys.max() <= y + h + 1


def _frame(image):
    from smplestx.pipeline.sources import Frame

    return Frame(image=image, index=0, time_s=0.0, source=None)


def test_batching_across_frames_gives_the_same_numbers(tiny_ckpt, tiny_config, body_dir, media):
    def run(batch_size):
        est = Estimator(tiny_ckpt, body_dir, config=tiny_config, detector=BoxesFileDetector(media["boxes"]),
                        device="cpu", batch_size=batch_size, keep_vertices=False)
        frames = list(est.predict_video(media["folder"] / "clip.mp4"))
        return np.concatenate([np.stack([p.transl for p in f.people]) for f in frames if f.people])

    np.testing.assert_allclose(run(1), run(8), atol=1e-5)


def test_predict_accepts_arrays_and_paths(tiny_ckpt, tiny_config, body_dir, media):
    est = Estimator(tiny_ckpt, body_dir, config=tiny_config, detector="full", device="cpu")
    a = est.predict(media["image"])
    b = est.predict(media["folder"] / "two_people.png")
    c = est.predict(media["image"].astype(np.uint16) * 257)
    assert len(a) == len(b) == len(c) == 1
    np.testing.assert_allclose(a[0].transl, b[0].transl, atol=1e-5)
    np.testing.assert_allclose(a[0].transl, c[0].transl, atol=1e-5)
    np.testing.assert_allclose(a[0].box_xyxy, [0, 0, W, H])
    assert a[0].vertices.shape == (10475, 3)
    with pytest.raises(ValueError):
        est.predict(np.zeros((10, 10, 2), np.uint8))


def test_setup_errors_are_reported_before_any_work(media, tiny_ckpt, tiny_config, body_dir, tmp_path, capsys):
    img = str(media["folder"] / "two_people.png")
    cases = [
        (["--checkpoint", str(tmp_path / "missing.pth.tar"), "--body-models", str(body_dir)], "not found"),
        (["--checkpoint", str(tiny_ckpt), "--config", str(tiny_config), "--body-models", str(tmp_path / "nobody")], "SMPLX_NEUTRAL"),
        (["--checkpoint", str(tiny_ckpt), "--body-models", str(body_dir)], "--config"),
        (["--checkpoint", str(tiny_ckpt), "--config", str(tiny_config), "--body-models", str(body_dir),
          "--detector", "nonsense"], "unknown detector"),
    ]
    for i, (extra, needle) in enumerate(cases):
        out = tmp_path / f"out{i}"
        assert main(["infer", img, "--output", str(out), "--quiet", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err
        assert not list(out.glob("*.npz"))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["infer", img, "--output", str(blocker / "sub"), "--quiet", "--checkpoint", str(tiny_ckpt),
                 "--config", str(tiny_config), "--body-models", str(body_dir), "--dtype", "fp32"]) == 2
    assert "not writable" in capsys.readouterr().err


def test_interrupt_leaves_only_complete_files(media, tiny_ckpt, tiny_config, body_dir, tmp_path):
    class Interrupting(FullFrameDetector):
        def detect(self, image, frame_index, source):
            if frame_index == 3:
                raise KeyboardInterrupt
            return super().detect(image, frame_index, source)

    est = Estimator(tiny_ckpt, body_dir, config=tiny_config, detector=Interrupting(), device="cpu", batch_size=2)
    run = InferenceRun(est, InferOptions(output=tmp_path))
    with pytest.raises(KeyboardInterrupt):
        run.run([media["folder"] / "two_people.png", media["folder"] / "clip.mp4"])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["summary.json", "two_people.npz", "two_people_overlay.png"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["interrupted"] is True
    # What was done is reported: the image complete, the video cut short after frames 0 and 1 (batches of 2;
    # frame 3's detection raised while frame 2 waited), its results not kept; a partial input is not a failure.
    image, video = summary["inputs"]
    assert (image["ok"], image["partial"], image["frames"]) == (True, False, 1)
    assert sorted(image["outputs"]) == [str(tmp_path / "two_people.npz"), str(tmp_path / "two_people_overlay.png")]
    assert (video["kind"], video["ok"], video["partial"], video["frames"], video["outputs"]) == ("video", False, True, 2, [])
    assert "interrupted after 2 frame(s)" in video["error"]
    assert (summary["frames"], summary["failures"]) == (3, 0)


def test_glb_scene_per_frame_and_vertices_in_results(media, tiny_ckpt, tiny_config, body_dir, tmp_path):
    out = tmp_path / "o"
    rc = run_cli([str(media["folder"] / "clip.mp4"), "--detector", f"boxes:{media['boxes']}", "--output", str(out),
                  "--save-mesh", "glb", "--save-vertices", "--no-render", "--stride", "2"], tiny_ckpt, tiny_config, body_dir)
    assert rc == 0
    res = load_results(out / "clip.npz")
    assert [f.index for f in res.frames] == [0, 2, 4]
    assert res.arrays["vertices"].shape == (4, 10475, 3)
    assert sorted(p.name for p in (out / "clip_meshes").iterdir()) == ["frame_000000.glb", "frame_000002.glb"]
    assert not (out / "clip_overlay.mp4").exists()


@pytest.mark.parametrize("flag", ["--focal", "--fov", "--intrinsics"])
def test_scene_camera_flags_write_the_scene_fields(flag, media, tiny_ckpt, tiny_config, body_dir, tmp_path):
    """The media's true camera (f 400, centre) given three ways comes back in npz and json, constant over the video."""
    value = {"--focal": "400", "--fov": str(2 * np.degrees(np.arctan(W / 2 / 400.0)))}.get(flag)
    if flag == "--intrinsics":
        value = str(tmp_path / "cam.json")
        Path(value).write_text(json.dumps({"fx": 400.0, "fy": 400.0, "cx": W / 2, "cy": H / 2}))
    out = tmp_path / "o"
    rc = run_cli([str(media["folder"] / "clip.mp4"), "--detector", f"boxes:{media['boxes']}", "--output", str(out),
                  "--json", "--save-vertices", "--no-render", flag, value], tiny_ckpt, tiny_config, body_dir)
    assert rc == 0
    for suffix in (".npz", ".json"):
        res = load_results(out / f"clip{suffix}")
        np.testing.assert_allclose(res.scene_focal, [400.0, 400.0], rtol=1e-6)
        np.testing.assert_allclose(res.scene_princpt, [W / 2, H / 2])
        assert res.meta["scene_camera"]["kind"] == flag[2:]
        n = sum(VIDEO_PEOPLE)
        assert res.arrays["transl_scene"].shape == (n, 3) and res.arrays["joints_3d_scene"].shape == (n, 137, 3)
        assert res.arrays["vertices_scene"].shape == (n, 10475, 3)
        for f in res.frames:
            np.testing.assert_array_equal(f.scene_focal, res.scene_focal)
            for p in f.people:
                # Same body (pose and shape), another translation.
                np.testing.assert_allclose(p.joints_3d_scene - p.transl_scene, p.joints_3d - p.transl, atol=1e-4)
                np.testing.assert_allclose(p.vertices_scene - p.transl_scene, p.vertices - p.transl, atol=1e-4)
                # The crop cameras sit 10x farther than the true camera; the scene camera brings people to metres.
                assert 0.5 < p.transl_scene[2] < 0.2 * p.transl[2]


def test_default_scene_camera_is_recorded(media, tiny_ckpt, tiny_config, body_dir, tmp_path):
    out = tmp_path / "o"
    rc = run_cli([str(media["folder"] / "two_people.png"), "--detector", f"boxes:{media['boxes']}", "--output",
                  str(out), "--no-render"], tiny_ckpt, tiny_config, body_dir)
    assert rc == 0
    res = load_results(out / "two_people.npz")
    np.testing.assert_allclose(res.scene_focal, [np.hypot(W, H)] * 2)  # the image diagonal
    assert res.meta["scene_camera"]["kind"] == "default" and "diagonal" in res.meta["scene_camera"]["convention"]
    assert res.arrays["transl_scene"].shape == (2, 3) and "vertices_scene" not in res.arrays


def test_scene_camera_flag_errors(media, tiny_ckpt, tiny_config, body_dir, tmp_path, capsys):
    img = str(media["folder"] / "two_people.png")
    full_size = tmp_path / "full_size.json"
    full_size.write_text(json.dumps({"fx": 400, "fy": 400, "cx": 1600, "cy": 1200}))  # the full-size camera
    cases = [
        (["--focal", "400", "--fov", "60"], "at most one of --focal, --fov, --intrinsics", 2),
        (["--focal", "nan"], "--focal must be finite and positive", 2),
        (["--fov", "-5"], "--fov must be finite and positive", 2),
        (["--intrinsics", str(tmp_path / "missing.json")], "missing.json", 2),
        (["--intrinsics", str(full_size)], "full_size.json: principal point", 1),  # per input: that input fails
    ]
    for i, (extra, needle, code) in enumerate(cases):
        out = tmp_path / f"out{i}"
        assert run_cli([img, "--output", str(out), "--no-render", "--detector", "full", *extra], tiny_ckpt, tiny_config, body_dir) == code
        err = capsys.readouterr().err.strip()
        assert needle in err, err
        if code == 2:
            assert len(err.splitlines()) == 1, err
        assert not list(out.glob("*.npz"))


def test_overlay_draws_everyone_in_the_scene_camera(oracle_estimator, media, tmp_path):
    """One camera per frame: the renderer gets the scene meshes and the scene intrinsics for every person."""
    est = oracle_estimator
    det = Detections(media["true_boxes"], np.ones(2, np.float32), np.array([-1, -1]))
    est.detector = type("Fixed", (), {"name": "fixed", "detect": lambda self, *a: det})()
    result = next(est.predict_frames([_frame(media["image"])]))
    calls = []

    class Recorder:
        def render(self, image, meshes, focals, princpts, colors=None):
            calls.append((meshes, focals, princpts))
            return image

    run = InferenceRun(est, InferOptions(output=tmp_path))
    run.renderer = Recorder()
    run.draw(media["image"], result)
    (meshes, focals, princpts), = calls
    assert len(meshes) == 2
    for mesh, f, c, p in zip(meshes, focals, princpts, result.people):
        assert mesh is p.vertices_scene
        np.testing.assert_allclose(f, [np.hypot(W, H)] * 2)
        np.testing.assert_allclose(c, [W / 2, H / 2])


def test_python_api_resume_redoes_inputs_after_the_smoothing_or_the_model_changed(media, tiny_ckpt, tiny_config,
                                                                                   body_dir, tmp_path):
    """InferenceRun builds its own run identity: same settings skip, other smoothing or other weights redo."""
    import copy

    from smplestx.motion.tracks import load_tracks

    inputs = [media["folder"] / "clip.mp4", media["folder"] / "two_people.png"]
    est = Estimator(tiny_ckpt, body_dir, config=tiny_config, detector=FullFrameDetector(), device="cpu", dtype="fp32",
                    batch_size=4)

    def run(estimator: Estimator, smooth: str):
        return InferenceRun(estimator, InferOptions(output=tmp_path, render=False, smooth=smooth)).run(inputs)

    first = run(est, "gaussian")
    assert first.skipped == 0 and first.failures == 0 and first.frames == 7
    assert run(est, "gaussian").skipped == 2  # same settings: both complete
    again = run(est, "none")  # another smoothing: the video's track file must be rewritten
    assert again.skipped == 0 and again.frames == 7
    assert load_tracks(tmp_path / "clip.tracks.npz").smoothing == "none"
    assert run(est, "none").skipped == 2
    # Another model (one weight moved), same file names and options: everything is redone.
    other = copy.deepcopy(est.model)
    with torch.no_grad():
        next(other.net.parameters()).add_(1e-3)
    changed = Estimator(model=other, detector=FullFrameDetector(), device="cpu", batch_size=4)
    assert run(changed, "none").skipped == 0
