"""`smplestx overlay`: world bodies reprojected through the camera path land on the people of a panning video, a wrong
camera path visibly misses, and a video that does not go with the track file is refused in one line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.body import BodyModel
from smplestx.cli import main
from smplestx.geometry.cameras import project_points
from smplestx.io.video import VideoSource, VideoWriter
from smplestx.motion.reprojection import reprojection_consistency, track_joints_2d
from smplestx.motion.tracks import TrackSet, save_tracks
from smplestx.motion.world_frame import place_tracks
from smplestx.render import Renderer
from smplestx.synthetic.truth import read_truth
from smplestx.synthetic.walks import truth_trackset

FRAMES, WIDTH, HEIGHT = 20, 320, 240
#: A changed pixel: the mesh (alpha 0.85, a track colour) over the grey mannequin changes some channel by 40-60;
#: re-encoding the textured world changes none by more than a few.
CHANGED = 25


@pytest.fixture(scope="module")
def pan(synthetic_body: Path, body: BodyModel, tmp_path_factory) -> dict:
    """A crossing walk filmed by a panning camera, its truth, and track files: the true world, the world with the
    camera held at its first pose (a pan not followed), and the camera frame only."""
    folder = tmp_path_factory.mktemp("overlay")
    video = folder / "pan.mp4"
    assert main(["synthetic-media", str(video), "--walk", "crossing", "--camera", "pan", "--frames", str(FRAMES),
                 "--width", str(WIDTH), "--height", str(HEIGHT), "--body-models", str(synthetic_body)]) == 0
    truth = read_truth(folder / "pan.mp4.truth.npz")
    world = place_tracks(truth_trackset(truth), body, np.arange(FRAMES), truth["camera_rotation"],
                         truth["camera_translation"], moving=True)
    held = replace(world, camera_rotation=np.repeat(world.camera_rotation[:1], FRAMES, 0),
                   camera_translation=np.repeat(world.camera_translation[:1], FRAMES, 0))
    return {"folder": folder, "video": video, "truth": truth, "world": world, "held": held,
            "files": {name: save_tracks(folder / f"{name}.tracks.npz", ts)
                      for name, ts in (("world", world), ("held", held), ("camera", truth_trackset(truth)))}}


def _true_joints_2d(body: BodyModel, truth: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """The truth's own camera-frame bodies' first 66 joints in pixels (not through any track file)."""
    with torch.no_grad():
        out = body(**{k: torch.as_tensor(truth[k][rows], dtype=torch.float64)
                      for k in ("global_orient", "body_pose", "betas", "transl")})
    return project_points(out.joints[:, :66].numpy(), truth["focal"].astype(np.float64),
                          truth["princpt"].astype(np.float64))


def _miss_px(body: BodyModel, truth: dict[str, np.ndarray], ts: TrackSet) -> np.ndarray:
    """Per truth row, the mean pixel distance of the track set's world-reprojected joints from the true 2D joints."""
    joints = track_joints_2d(ts, body, "world")
    out = np.zeros(len(truth["frame"]))
    for t in ts.tracks:
        rows = np.flatnonzero(truth["person_id"] == t.track_id)
        np.testing.assert_array_equal(truth["frame"][rows], t.frames)
        out[rows] = np.linalg.norm(joints[t.track_id] - _true_joints_2d(body, truth, rows), axis=-1).mean(-1)
    return out


def test_world_joints_land_on_the_true_joints(pan, body: BodyModel) -> None:
    truth = pan["truth"]
    miss = _miss_px(body, truth, pan["world"])
    assert miss.max() < 1.0, miss.max()  # float32 world fields in the file: measured ~1e-3 px
    frames, px = reprojection_consistency(pan["world"], body)
    np.testing.assert_array_equal(frames, np.arange(FRAMES))
    assert px.max() < 0.1
    # The camera turned: without the camera path the camera-frame bodies would not be the world ones.
    r = truth["camera_rotation"]
    assert np.degrees(np.arccos((np.trace(r[0].T @ r[-1]) - 1) / 2)) > 3.0


def test_a_wrong_camera_path_misses(pan, body: BodyModel) -> None:
    truth = pan["truth"]
    miss = _miss_px(body, truth, pan["held"])
    first = truth["frame"] == 0
    assert miss[first].max() < 1.0  # the held camera is right on its first frame...
    late = truth["frame"] >= FRAMES // 2
    assert miss[late].min() > 30.0, miss[late].min()  # ...and tens of pixels off once the pan has turned (~100 px)
    _, px = reprojection_consistency(pan["held"], body)
    assert px[FRAMES // 2:].min() > 30.0
    identity = replace(pan["world"], camera_rotation=np.broadcast_to(np.eye(3), (FRAMES, 3, 3)).copy())
    _, px = reprojection_consistency(identity, body)  # no camera turn at all: the world's y up is the camera's y down
    assert px.min() > 50.0  # (measured 90-220 px)


def _frames(path: Path) -> list[np.ndarray]:
    with VideoSource(path) as src:
        return [f.image.astype(np.int16) for f in src]


def _mesh_iou(pan, body: BodyModel, output: Path) -> np.ndarray:
    """Per frame, IoU of the overlay's changed pixels (near the true boxes) with the true people's silhouettes."""
    truth, video = pan["truth"], pan["video"]
    with torch.no_grad():
        verts = body(**{k: torch.as_tensor(truth[k], dtype=torch.float64)
                        for k in ("global_orient", "body_pose", "betas", "transl")}).vertices.numpy()
    renderer = Renderer(body.faces_np)
    ious = []
    for f, (before, after) in enumerate(zip(_frames(video), _frames(output), strict=True)):
        rows = np.flatnonzero(truth["frame"] == f)
        silhouette = renderer.rasterize(list(verts[rows]), truth["focal"], truth["princpt"], HEIGHT, WIDTH).mask.numpy()
        near = np.zeros((HEIGHT, WIDTH), bool)  # the '#id' labels sit above the boxes: leave them out
        for x0, y0, x1, y1 in truth["box_xyxy"][rows]:
            near[max(int(y0) - 2, 0):int(np.ceil(y1)) + 3, max(int(x0) - 2, 0):int(np.ceil(x1)) + 3] = True
        mesh = (np.abs(after - before).max(-1) > CHANGED) & near
        ious.append((mesh & silhouette).sum() / (mesh | silhouette).sum())
    return np.array(ious)


def test_overlay_video_draws_the_world_bodies_on_the_people(pan, body: BodyModel, synthetic_body: Path,
                                                            capsys) -> None:
    folder = pan["folder"]
    out = {}
    for name, frame in (("world", "world"), ("held", "world"), ("camera", "camera")):
        out[name] = folder / f"{name}_{frame}.mp4"
        assert main(["overlay", str(pan["files"][name]), "--video", str(pan["video"]), "--output", str(out[name]),
                     "--frame", frame, "--body-models", str(synthetic_body)]) == 0
    printed = capsys.readouterr().out
    assert "world vs camera-frame joints: mean 0.00 px" in printed
    with VideoSource(out["world"]) as src:
        assert (src.width, src.height) == (WIDTH, HEIGHT)
        assert sum(1 for _ in src) == FRAMES
    world, camera, held = (_mesh_iou(pan, body, out[k]) for k in ("world", "camera", "held"))
    assert world.min() > 0.6, world  # measured 0.73-0.83: silhouette edges blend, the mannequin is shaded alike
    assert camera.min() > 0.6, camera  # the camera-frame bodies of the same truth: the same picture
    assert held[0] > 0.6 and held[FRAMES // 2:].max() < 0.3, held  # a pan not followed drifts off the people


def test_overlay_one_line_errors(pan, synthetic_body: Path, capsys) -> None:
    folder, video, files = pan["folder"], pan["video"], pan["files"]

    def run(*args: str) -> str:
        assert main(["overlay", *args, "--body-models", str(synthetic_body)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        return err

    def blank_video(name: str, frames: int, width: int = WIDTH, height: int = HEIGHT) -> Path:
        with VideoWriter(folder / name, 30, width, height) as w:
            for _ in range(frames):
                w.write(np.zeros((height, width, 3), np.uint8))
        return folder / name

    out = folder / "refused.mp4"
    assert "no world frame" in run(str(files["camera"]), "--video", str(video), "--output", str(out))
    assert "no such video" in run(str(files["world"]), "--video", str(folder / "nope.mp4"), "--output", str(out))
    assert "nope.tracks.npz" in run(str(folder / "nope.tracks.npz"), "--video", str(video), "--output", str(out))
    small = blank_video("small.mp4", FRAMES, 160, 120)
    assert "160x120" in run(str(files["world"]), "--video", str(small), "--output", str(out))
    short = blank_video("short.mp4", FRAMES - 5)
    assert f"has frame {FRAMES - 1}" in run(str(files["world"]), "--video", str(short), "--output", str(out))
    long = blank_video("long.mp4", FRAMES + 5)
    assert "camera path ends" in run(str(files["world"]), "--video", str(long), "--output", str(out))
    assert "replace the input" in run(str(files["world"]), "--video", str(video), "--output", str(video))
    assert not out.exists() and not list(folder.glob("*partial*"))  # nothing half-written left behind


def test_floor_grid_lies_on_the_floor_and_shows_a_wrong_camera_path(pan, synthetic_body: Path, capsys) -> None:
    folder, truth = pan["folder"], pan["truth"]
    masks = {}
    for name in ("world", "held"):
        out = folder / f"{name}_grid.mp4"
        assert main(["overlay", str(pan["files"][name]), "--video", str(pan["video"]), "--output", str(out),
                     "--floor-grid", "--body-models", str(synthetic_body)]) == 0
        # The grid's pixels: near-white where the frame was not, away from the people (their meshes and labels).
        masks[name] = []
        for f, (before, after) in enumerate(zip(_frames(pan["video"]), _frames(out), strict=True)):
            white = (after.min(-1) > 200) & (before.min(-1) < 170)
            for x0, y0, x1, y1 in truth["box_xyxy"][truth["frame"] == f]:
                white[max(int(y0) - 20, 0):int(y1) + 3, max(int(x0) - 3, 0):int(x1) + 3] = False
            masks[name].append(white)
    focal, princpt = truth["focal"].astype(np.float64), truth["princpt"].astype(np.float64)
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH]
    rays = np.stack([(u + 0.5 - princpt[0]) / focal[0], (v + 0.5 - princpt[1]) / focal[1], np.ones(u.shape)], -1)
    for f, white in enumerate(masks["world"]):
        assert white.sum() > 300, f  # there is a grid...
        up = rays[white] @ truth["camera_rotation"][f][1]  # ...and every pixel of it looks down at the floor (y up)
        assert up.max() < 0.02, (f, up.max())
    iou = [(a & b).sum() / (a | b).sum() for a, b in zip(masks["world"], masks["held"])]
    assert iou[0] > 0.85 and max(iou[FRAMES // 2:]) < 0.5, iou  # measured 0.96, then 0.39 .. 0.1: the held grid stays put
    capsys.readouterr()
    no_floor = save_tracks(folder / "nofloor.tracks.npz", replace(pan["world"], floor=None))
    assert main(["overlay", str(no_floor), "--video", str(pan["video"]), "--output", str(folder / "x.mp4"),
                 "--floor-grid", "--body-models", str(synthetic_body)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no floor" in err and "nofloor.tracks.npz" in err and len(err.splitlines()) == 1


def test_floor_grid_is_bounded_on_a_long_walk(pan) -> None:
    from smplestx.motion.reprojection import floor_grid

    world = pan["world"]
    grid = floor_grid(world)
    np.testing.assert_array_equal(grid[..., 1], 0.0)  # on the floor
    t = world.tracks[0]
    far = replace(world, tracks=[replace(t, transl_world=t.transl_world + np.array([2000.0, 0, 0], np.float32)),
                                 *world.tracks[1:]])
    big = floor_grid(far)
    assert len(big) <= 2 * 81 * 401 and np.ptp(big[..., 0]) > 2000.0  # still around everyone, not millions of pieces


def test_planted_feet_are_marked(pan, body: BodyModel) -> None:
    """The track file's contacts show as dots on the planted foot points; a track without contacts shows none."""
    from smplestx.motion.reprojection import CONTACT_COLOR, frame_bodies, overlay_frames, planted_points

    world = pan["world"]
    planted = replace(world, tracks=[replace(t, contacts=np.ones((len(t.frames), 4), bool)) for t in world.tracks])
    lifted = replace(world, tracks=[replace(t, contacts=np.zeros((len(t.frames), 4), bool)) for t in world.tracks])
    blank = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rows = [(k, 0) for k, t in enumerate(planted.tracks) if t.frames[0] == 0]
    verts = frame_bodies(planted, body, rows, 0)
    points = planted_points(planted, rows, verts)
    assert points.shape == (4 * len(rows), 3) and len(planted_points(lifted, rows, verts)) == 0
    uv = np.round(project_points(points, np.asarray(world.focal, float), np.asarray(world.princpt, float))).astype(int)
    inside = [(x, y) for x, y in uv if 0 <= x < WIDTH and 0 <= y < HEIGHT]
    assert inside, "no planted foot point in view"
    marked = next(overlay_frames(planted, body, iter([(0, blank.copy())])))[0]
    plain = next(overlay_frames(lifted, body, iter([(0, blank.copy())])))[0]
    for x, y in inside:
        assert tuple(marked[y, x]) == CONTACT_COLOR and tuple(plain[y, x]) != CONTACT_COLOR
