"""Synthetic multi-person walks with ground truth, for tracking and smoothing checks.

People walk sideways across the view on crossing paths at different depths, so the nearer one
hides the farther one for a while; in the ``hard`` scenario a third person leaves the frame and
comes back, and one is fully hidden for about a second. :func:`walk_truth` gives, per frame and
person, the true SMPL-X parameters (camera frame, OpenCV axes: x right, y down, z forward, metres),
the true box, how much of the person is visible, and which foot points rest on the floor; no
rendering is needed for that. The legs follow :mod:`.gait`: a planted heel or toe stays put while
the body passes over it, on a level floor 0.8 m below the camera (:data:`FLOOR`).
:func:`write_walk_media` also renders the video and writes the truth sidecar
(``VIDEO.truth.npz``, :mod:`.truth`; its keys in ``docs/output-format.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..body import BodyModel
from ..motion.tracks import Track, TrackSet
from ..geometry.rotations import axis_angle_to_rotmat, rotmat_to_axis_angle
from .gait import plan_gait
from .scene import FACING_CAMERA
from .truth import DETECTABLE, TruthBuilder, detectable_boxes, truth_path, write_truth

SCENARIOS = ("crossing", "hard")
#: The floor's height in the camera frame (y down): the camera is 0.8 m above it, level.
FLOOR_Y = 0.8
#: The floor plane (n, d) with n . x + d = 0, n pointing up (camera frame), as track files store it.
FLOOR = np.array([0.0, -1.0, 0.0, FLOOR_Y])


@dataclass
class Walker:
    """One person's path: x(t) = x0 + vx t at depth z, turned to face the walking direction."""

    person_id: int
    x0: float
    vx: float
    z: float
    betas: np.ndarray
    phase: float = 0.0
    turn_at: float | None = None  # seconds: walks back (vx -> -vx) from then on (an instant pivot)

    @property
    def stride(self) -> float:
        """Stride length (metres per gait cycle): longer strides at higher speed, as people walk."""
        return 0.55 + 0.45 * abs(self.vx)

    def x(self, t: float) -> float:
        """Horizontal position (metres) at time t."""
        if self.turn_at is None or t <= self.turn_at:
            return self.x0 + self.vx * t
        return self.x0 + self.vx * self.turn_at - self.vx * (t - self.turn_at)

    def heading(self, t: float) -> float:
        """+1 walking to +x, -1 to -x."""
        return float(np.sign(self.vx)) * (1.0 if self.turn_at is None or t <= self.turn_at else -1.0)


def walkers(scenario: str, seed: int = 0) -> list[Walker]:
    """The people of a scenario (``crossing``: two people; ``hard``: three, one leaving and coming back)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown walk scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    rng = np.random.default_rng(seed)

    def shape() -> np.ndarray:
        return rng.normal(0.0, 1.0, 10).astype(np.float64)

    people = [
        Walker(0, -1.6, 0.8, 5.0, shape(), phase=0.0),
        Walker(1, 1.6, -0.8, 6.2, shape(), phase=1.3),
    ]
    if scenario == "hard":
        # Walks right out of view (x > ~2.6 m at 5.6 m depth), turns and comes back in.
        people.append(Walker(2, 0.8, 1.1, 5.6, shape(), phase=2.1, turn_at=2.0))
    return people


def _upper_body(cycle: np.ndarray) -> np.ndarray:
    """Body pose (F, 21, 3) above the hips: arms down and swinging against the legs, a slight head turn."""
    pose = np.zeros((len(cycle), 21, 3))
    s = np.sin(2 * np.pi * cycle)
    pose[:, 15, 2], pose[:, 16, 2] = -1.1, 1.1  # arms down
    pose[:, 15, 1], pose[:, 16, 1] = 0.35 * s, 0.35 * s  # arm swing
    pose[:, 11, 1] = 0.1 * s  # head turn
    return pose


def _rest_joints(body: BodyModel, people: list[Walker]) -> np.ndarray:
    """Each walker's output joints (P, J, 3) in the rest pose (no rotation, no translation)."""
    with torch.no_grad():
        out = body(betas=torch.as_tensor(np.stack([p.betas for p in people]), dtype=body.dtype))
    return out.joints.double().cpu().numpy()


def walk_sequence(people: list[Walker], times: np.ndarray, body: BodyModel) -> dict[str, np.ndarray]:
    """True SMPL-X parameters and foot contacts of every walker at ``times`` (F,): arrays (F, P, ...).

    The legs follow :func:`.gait.plan_gait` (planted feet stay put); ``contacts`` (F, P, 4) are the true
    contacts of the left heel, left toes, right heel and right toes with the floor (:data:`FLOOR`).
    """
    times = np.asarray(times, np.float64).reshape(-1)
    rest = _rest_joints(body, people)
    facing = axis_angle_to_rotmat(torch.tensor(FACING_CAMERA, dtype=torch.float64))
    out: dict[str, list] = {k: [] for k in ("global_orient", "body_pose", "betas", "transl", "contacts")}
    legs = np.zeros(21, bool)
    legs[[0, 1, 3, 4, 6, 7]] = True  # hips, knees, ankles
    for p, joints in zip(people, rest):
        walked = abs(p.vx) * times  # distance walked drives the gait (a turn keeps the stride going)
        plan = plan_gait(joints, walked, p.stride, p.phase / (2 * np.pi))
        heading = np.array([p.heading(t) for t in times])
        yaws = torch.tensor(np.stack([np.zeros_like(heading), -np.pi / 2 * heading, np.zeros_like(heading)], -1))
        out["global_orient"].append(rotmat_to_axis_angle(axis_angle_to_rotmat(yaws) @ facing).numpy())
        pose = _upper_body(walked / p.stride + p.phase / (2 * np.pi))
        pose[:, legs] = plan["leg_pose"][:, legs]
        out["body_pose"].append(pose)
        out["betas"].append(np.repeat(p.betas[None], len(times), 0))
        # The pelvis joint sits at (rest pelvis + transl): place it above the floor (camera y is down).
        pelvis = np.stack([[p.x(t) for t in times], FLOOR_Y - plan["pelvis_height"], np.full(len(times), p.z)], -1)
        out["transl"].append(pelvis - joints[0])
        out["contacts"].append(plan["contacts"])
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def walk_parameters(people: list[Walker], t: float, body: BodyModel) -> dict[str, np.ndarray]:
    """True SMPL-X parameters (and ``contacts``) of every walker at time t (arrays over people, float64)."""
    return {k: v[0] for k, v in walk_sequence(people, np.array([t]), body).items()}


def walk_truth(
    body: BodyModel,
    scenario: str = "crossing",
    frames: int = 120,
    fps: float = 30.0,
    width: int = 640,
    height: int = 480,
    seed: int = 0,
    with_vertices: bool = False,
    camera: str = "static",
) -> dict[str, np.ndarray]:
    """Ground truth of a walk scenario, one row per (frame, person) in view, filmed by a ``camera`` path.

    Keys: ``frame`` (R,), ``person_id`` (R,), ``box_xyxy`` (R, 4) clipped to the image,
    ``visible`` (R,) in [0, 1], ``global_orient`` (R, 3), ``body_pose`` (R, 21, 3), ``betas`` (R, 10),
    ``transl`` (R, 3), ``contacts`` (R, 4) bool (left heel, left toes, right heel, right toes on the floor),
    the camera ``focal`` (2,), ``princpt`` (2,), ``image_size`` (2,), ``fps`` and the ``floor`` plane (4,)
    (in the first frame's camera); in the world frame (y up, floor at y = 0, see :mod:`..motion.world_frame`)
    ``global_orient_world`` (R, 3) and ``transl_world`` (R, 3) per row and the camera path ``camera_rotation``
    (F, 3, 3) and ``camera_translation`` (F, 3) (world from camera, :func:`.world.camera_path`);
    with ``with_vertices`` also ``vertices`` (R, V, 3) for rendering.
    """
    from ..motion.world_frame import floor_in_camera, invert_pose, move_root
    from .world import camera_path

    people = walkers(scenario, seed)
    truth = TruthBuilder(width, height, fps, with_vertices=with_vertices)
    times = np.arange(frames) / fps
    seq = walk_sequence(people, times, body)
    # The walks are laid out in the static camera's frame; that camera stands at the world's home pose.
    home_r, home_t = camera_path("static", times[:1])
    lead = people[0]
    cam_r, cam_t = camera_path(camera, times, seed, subject=(lead.x0, lead.vx, -lead.z))
    pelvis = _rest_joints(body, people)[:, 0]  # (P, 3)
    seq["global_orient_world"], seq["transl_world"] = move_root(seq["global_orient"], seq["transl"], pelvis,
                                                                home_r[0], home_t[0])
    to_cam_r, to_cam_t = invert_pose(cam_r, cam_t)  # (F, 3, 3), (F, 3)
    if camera != "static":  # the static camera keeps today's camera-frame numbers exactly
        seq["global_orient"], seq["transl"] = move_root(seq["global_orient_world"], seq["transl_world"], pelvis,
                                                        to_cam_r[:, None], to_cam_t[:, None])
    params_only = ("global_orient", "body_pose", "betas", "transl")
    stacked = {k: seq[k].reshape(-1, *seq[k].shape[2:]) for k in params_only}
    chunks = []
    # One batched body pass over all frames (chunked to bound memory): the body model dominates the cost.
    for s in range(0, frames * len(people), 256):
        with torch.no_grad():
            out = body(**{k: torch.as_tensor(v[s:s + 256], dtype=body.dtype) for k, v in stacked.items()})
        chunks.append(out.vertices.numpy().astype(np.float32))
    all_verts = np.concatenate(chunks).reshape(frames, len(people), -1, 3) if frames else None
    ids = [p.person_id for p in people]
    for f in range(frames):
        truth.add_frame(f, ids, all_verts[f], {k: v[f] for k, v in seq.items()})
    floor = FLOOR.astype(np.float64) if camera == "static" else floor_in_camera(cam_r[0], cam_t[0])
    return truth.arrays(floor=floor, camera_rotation=cam_r, camera_translation=cam_t)


def truth_trackset(truth: dict[str, np.ndarray]) -> TrackSet:
    """The truth of synthetic media as a track set: one track per person (its rows in view), zero hand pose and face.

    A walk's truth gives the tracks their ``contacts`` and the set its ``floor``; a mannequin scene's has neither.
    """
    tracks = []
    fps = float(truth["fps"])
    contacts = truth.get("contacts")
    for pid in np.unique(truth["person_id"]):
        r = np.flatnonzero(truth["person_id"] == pid)
        n = len(r)
        zeros = np.zeros((n, 15, 3), np.float32)
        tracks.append(Track(int(pid), truth["frame"][r].astype(np.int64), truth["global_orient"][r],
                            truth["body_pose"][r], zeros, zeros.copy(), np.zeros((n, 3), np.float32),
                            truth["betas"][r[0]], np.zeros((n, 10), np.float32), truth["transl"][r],
                            contacts=contacts[r] if contacts is not None else None))
    floor = truth.get("floor")
    return TrackSet(tracks, fps, "none", truth["focal"], truth["princpt"], truth["image_size"], "walk",
                    floor=np.asarray(floor, np.float64) if floor is not None else None)


def noisy_tracks(trackset: TrackSet, seed: int = 0, degrees: float = 3.0, position: float = 0.02,
                 depth: float = 0.06) -> TrackSet:
    """A per-frame estimator's kind of noise on a track set: every joint rotation off by ``degrees`` RMS,
    the root by ``position`` metres (``depth`` along z, the least certain coordinate); contacts dropped."""
    rng = np.random.default_rng(seed)

    def rotate(aa: np.ndarray) -> np.ndarray:
        noise = rng.normal(0, np.deg2rad(degrees) / np.sqrt(3), aa.shape)
        r = axis_angle_to_rotmat(torch.from_numpy(noise)) @ axis_angle_to_rotmat(torch.from_numpy(aa.astype(np.float64)))
        return rotmat_to_axis_angle(r).numpy().astype(np.float32)

    tracks = [replace(t, global_orient=rotate(t.global_orient), body_pose=rotate(t.body_pose), contacts=None,
                      transl=(t.transl + rng.normal(0, 1, t.transl.shape) * [position, position, depth]).astype(np.float32))
              for t in trackset.tracks]
    return replace(trackset, tracks=tracks, floor=None, feet="none")


def noisy_detections(
    truth: dict[str, np.ndarray],
    seed: int = 0,
    box_noise: float = 0.03,
    miss_rate: float = 0.08,
    false_positives: float = 0.3,
    hidden_below: float = DETECTABLE,
    betas_noise: float = 0.15,
    position_noise: float = 0.05,
) -> list[dict[str, np.ndarray]]:
    """Detector-like boxes per frame from the truth: jitter, misses, false positives, plus noisy body cues.

    A person less than ``hidden_below`` visible is not detected; boxes jitter by ``box_noise`` of
    the box height; ``false_positives`` per frame on average, scored low. Each frame's dict has
    ``boxes`` (N, 4), ``scores`` (N,), ``betas`` (N, 10), ``positions`` (N, 3) and ``truth_id``
    (N,), -1 for false positives (for scoring only, never shown to a tracker).
    """
    rng = np.random.default_rng(seed)
    w, h = (float(v) for v in truth["image_size"])
    n_frames = int(truth["frame"].max()) + 1 if len(truth["frame"]) else 0
    out = []
    for f in range(n_frames):
        rows = np.flatnonzero(truth["frame"] == f)
        boxes, scores, betas, pos, tid = [], [], [], [], []
        for r in rows:
            vis = float(truth["visible"][r])
            if vis < hidden_below or rng.random() < miss_rate:
                continue
            b = truth["box_xyxy"][r].astype(np.float64)
            bh = b[3] - b[1]
            b = b + rng.normal(0, box_noise * bh, 4)
            boxes.append(b)
            scores.append(rng.uniform(0.7, 1.0) if vis > 0.6 else rng.uniform(0.3, 0.7))
            betas.append(truth["betas"][r] + rng.normal(0, betas_noise, 10))
            # Monocular depth is the least certain coordinate: 3x the noise along z.
            pos.append(truth["transl"][r] + rng.normal(0, position_noise, 3) * [1, 1, 3])
            tid.append(int(truth["person_id"][r]))
        for _ in range(rng.poisson(false_positives)):
            bw, bh = rng.uniform(40, 120), rng.uniform(80, 240)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            boxes.append(np.array([x, y, x + bw, y + bh]))
            scores.append(rng.uniform(0.2, 0.65))
            betas.append(rng.normal(0, 1.0, 10))
            pos.append(np.array([rng.uniform(-2, 2), 0.3, rng.uniform(3, 9)]))
            tid.append(-1)
        out.append({
            "boxes": np.asarray(boxes, np.float64).reshape(-1, 4),
            "scores": np.asarray(scores, np.float64),
            "betas": np.asarray(betas, np.float64).reshape(-1, 10),
            "positions": np.asarray(pos, np.float64).reshape(-1, 3),
            "truth_id": np.asarray(tid, np.int64),
        })
    return out


def write_walk_media(
    path: str | Path,
    body_models: str | Path,
    *,
    scenario: str = "crossing",
    frames: int = 90,
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    seed: int = 0,
    camera: str | None = None,
) -> tuple[Path, Path, Path]:
    """Render a walk scenario to a video; write its true boxes (``.boxes.json``) and truth (``.truth.npz``).

    ``camera`` (a :data:`.world.CAMERA_PATHS` name) films the textured world of :mod:`.world` along that path;
    None keeps the plain backdrop and the static camera.
    """
    import json

    from ..io.atomic import atomic_path
    from ..io.video import VideoWriter
    from ..render import Renderer
    from .look import face_regions, scene_face_colors
    from .scene import background

    path = Path(path)
    body = BodyModel.from_dir(body_models, dtype=torch.float32)
    truth = walk_truth(body, scenario, frames, fps, width, height, seed, with_vertices=True, camera=camera or "static")
    world = None
    if camera is not None:
        from .world import World

        world = World.make(width, height, float(truth["focal"][0]), tuple(truth["princpt"].tolist()), seed)
        noise = np.random.default_rng(seed + 15485863)
    renderer = Renderer(body.faces_np)
    regions = face_regions(body)
    ids = np.unique(truth["person_id"])
    looks = dict(zip(ids.tolist(), scene_face_colors(regions, ids.tolist(), seed)))
    focal, princpt = truth["focal"], truth["princpt"]
    boxes: dict[str, list] = {}
    with VideoWriter(path, fps, width, height) as video:
        for f in range(frames):
            rows = np.flatnonzero(truth["frame"] == f)
            if world is None:
                img = background(width, height, seed=f)
            else:
                img = world.render(truth["camera_rotation"][f], truth["camera_translation"][f], rng=noise)
            if len(rows):
                img = renderer.render(img, list(truth["vertices"][rows]), [focal] * len(rows), [princpt] * len(rows),
                                      face_colors=[looks[int(k)] for k in truth["person_id"][rows]], alpha=1.0)
            video.write(img)
            boxes[str(f)] = detectable_boxes(truth, f)
    truth_file = write_truth(truth_path(path), truth, scenario, camera=camera or "none")
    boxes_path = path.with_name(path.name + ".boxes.json")
    with atomic_path(boxes_path) as tmp:
        tmp.write_text(json.dumps({"frames": boxes}))
    return path, boxes_path, truth_file
