"""Images and videos of posed SMPL-X mannequins at known parameters, with their true person boxes and truth sidecar."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..body import BodyModel, BodyOutput
from ..geometry.rotations import axis_angle_to_rotmat, rotmat_to_axis_angle
from ..render import Renderer
from .files import write_bytes
from .look import face_regions, scene_face_colors
from .truth import TruthBuilder, scene_focal, truth_path, write_truth

if TYPE_CHECKING:  # configs live in models/, above synthetic/; only the type is needed
    from ..models.config import CropCamera

if TYPE_CHECKING:  # records sit above this module; only their type is needed here
    from ..io.results import Person

#: The ``scenario`` of a mannequin scene's truth sidecar (the walks name theirs ``crossing`` / ``hard``).
DEMO_SCENARIO = "demo"
#: Rotates the model's y-up, +z-facing rest pose into the OpenCV camera frame, facing the camera.
FACING_CAMERA = (np.pi, 0.0, 0.0)


@dataclass
class ScenePerson:
    """One mannequin: where it stands (camera frame, metres) and how it is posed."""

    transl: tuple[float, float, float]
    yaw: float = 0.0  # turn about the vertical axis, radians
    body_pose: np.ndarray | None = None  # (21, 3) axis-angle
    betas: np.ndarray | None = None  # (10,)


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with mild noise (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([80 + 100 * x / width, 90 + 80 * y / height, 160 - 60 * x / width], axis=-1)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def pose_people(body: BodyModel, people: list[ScenePerson]) -> np.ndarray:
    """Vertices (N, V, 3) of the people in the camera frame."""
    return _posed(body, people)[0].vertices.numpy().reshape(len(people), -1, 3)


def scene_parameters(people: list[ScenePerson]) -> dict[str, np.ndarray]:
    """The people's SMPL-X ``global_orient``, ``body_pose``, ``betas`` and ``transl`` in the camera frame (float64)."""
    # Facing the camera, then turned by `yaw` about the camera's vertical (y) axis.
    facing = axis_angle_to_rotmat(torch.tensor(FACING_CAMERA, dtype=torch.float64))
    yaw = axis_angle_to_rotmat(torch.tensor([[0.0, p.yaw, 0.0] for p in people], dtype=torch.float64))
    return {
        "global_orient": rotmat_to_axis_angle(yaw @ facing).numpy(),
        "body_pose": np.stack([p.body_pose if p.body_pose is not None else np.zeros((21, 3)) for p in people]),
        "betas": np.stack([p.betas if p.betas is not None else np.zeros(10) for p in people]),
        "transl": np.array([p.transl for p in people], dtype=np.float64),
    }


def _posed(body: BodyModel, people: list[ScenePerson]) -> tuple[BodyOutput, dict[str, np.ndarray]]:
    """The body model's output for the people (float64, camera frame) and their parameters."""
    params = scene_parameters(people)
    with torch.no_grad():
        out = body(**{k: torch.tensor(v) for k, v in params.items()})
    return out, params


def _draw_people(img: np.ndarray, verts: np.ndarray, focal: float, renderer: Renderer,
                 tints: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The people's meshes (N, V, 3) drawn over ``img`` in their looks (:mod:`.look`); returns the image and their
    true boxes (N, 4) xyxy."""
    height, width = img.shape[:2]
    princpt = (width / 2.0, height / 2.0)
    img = renderer.render(img, list(verts), [(focal, focal)] * len(verts), [princpt] * len(verts),
                          face_colors=tints, alpha=1.0)
    uv = verts[..., :2] / verts[..., 2:] * focal + np.array(princpt)
    boxes = np.concatenate([uv.min(axis=1), uv.max(axis=1)], axis=1)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return img, boxes.astype(np.float32)


def render_scene(
    body: BodyModel,
    people: list[ScenePerson],
    width: int = 640,
    height: int = 480,
    focal: float = 800.0,
    seed: int = 0,
    renderer: Renderer | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render the people over a background; returns the image and their true boxes (N, 4) xyxy."""
    img = background(width, height, seed)
    if not people:
        return img, np.zeros((0, 4), np.float32)
    tints = scene_face_colors(face_regions(body), range(len(people)), seed)
    return _draw_people(img, pose_people(body, people), focal, renderer or Renderer(body.faces_np), tints)


def demo_people(count: int, frame: int = 0, fps: float = 10.0, seed: int = 0) -> list[ScenePerson]:
    """``count`` mannequins in a row, walking slowly sideways and swinging their arms.

    Seed 0 is the fixed scene of the demo; another seed draws other shapes, headings, depths and rhythms.
    """
    people = []
    t = frame / fps
    rng = np.random.default_rng(seed) if seed else None
    for k in range(count):
        pose = np.zeros((21, 3))
        phase, amp, yaw, depth, betas = k, 0.5, 0.2 * (k - count / 2), 5.0 + 0.4 * (k % 2), None
        if rng is not None:
            phase, amp, yaw = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 0.6), rng.uniform(-0.8, 0.8)
            depth, betas = rng.uniform(4.0, 6.5), np.clip(rng.normal(0.0, 1.0, 10), -2.0, 2.0)
        swing = amp * np.sin(2 * np.pi * 0.5 * t + phase)
        pose[15], pose[16] = [0, 0, -1.1], [0, 0, 1.1]  # arms down (shoulders)
        pose[0], pose[1] = [swing, 0, 0], [-swing, 0, 0]  # hips
        x = (k - (count - 1) / 2) * 1.1 + 0.1 * t
        people.append(ScenePerson((x, 0.25, depth), yaw=yaw, body_pose=pose, betas=betas))
    return people


def write_demo_media(
    path: str | Path,
    body_models: str | Path,
    *,
    people: int = 2,
    frames: int = 1,
    width: int = 640,
    height: int = 480,
    fps: float = 10.0,
    seed: int = 0,
) -> tuple[Path, Path, Path]:
    """Write an image (.png/.jpg) or a video (.mp4, ...) of mannequins (``seed``: the scene), a boxes file and the
    truth sidecar beside it (``.boxes.json``, ``.truth.npz``; an image is frame 0)."""
    import json

    from ..io.video import VIDEO_EXTENSIONS, VideoWriter, write_image

    path = Path(path)
    body = BodyModel.from_dir(body_models, dtype=torch.float64)
    renderer = Renderer(body.faces_np)
    regions = face_regions(body)
    focal = scene_focal(width, height)
    truth = TruthBuilder(width, height, fps, focal=focal)
    boxes: dict[str, list] = {}

    def draw(i: int, scene: list[ScenePerson], background_seed: int) -> np.ndarray:
        img = background(width, height, background_seed)
        if not scene:
            boxes[str(i)] = []
            return img
        out, params = _posed(body, scene)
        verts = out.vertices.numpy().reshape(len(scene), -1, 3)
        img, b = _draw_people(img, verts, focal, renderer, scene_face_colors(regions, range(len(scene)), seed))
        boxes[str(i)] = b.tolist()
        truth.add_frame(i, range(len(scene)), verts, params)
        return img

    if path.suffix.lower() in VIDEO_EXTENSIONS:
        with VideoWriter(path, fps, width, height) as video:
            for i in range(frames):
                video.write(draw(i, demo_people(people, i, fps, seed), seed * 100_003 + i))
    else:
        write_image(path, draw(0, demo_people(people, seed=seed), seed))
    boxes_path = path.with_name(path.name + ".boxes.json")
    write_bytes(boxes_path, json.dumps({"frames": boxes}).encode())
    return path, boxes_path, write_truth(truth_path(path), truth.arrays(), DEMO_SCENARIO)


def crop_camera_oracle(
    body: BodyModel,
    people: list[ScenePerson],
    width: int,
    height: int,
    focal: tuple[float, float],
    princpt: tuple[float, float],
    *,
    boxes_xyxy: np.ndarray | None = None,
    config: CropCamera | None = None,
) -> list[Person]:
    """What a perfect network would report for the people: true pose and shape, in each crop's camera.

    The scene is seen by a pinhole (``focal``, ``princpt``). Each person's box (default: its true
    box; pass jittered ones to mimic a detector) gives the crop camera exactly as the estimator
    derives it, and the translation is the one that best projects the true body onto its true 2D
    joints under that crop camera, as a network trained with the crop camera would predict.
    """
    from ..body.joint_sets import SMPLX_137
    from ..geometry.crops import BBOX_RATIO, FOCAL, INPUT_BODY_SHAPE, INPUT_IMG_SHAPE, PRINCPT, process_box
    from ..geometry.cameras import crop_camera, fit_translation, project_points
    from ..io.results import Person  # noqa: F811 (runtime import)

    # Without a model config: the released crop geometry (geometry/crops.py), which every config defaults to.
    cfg = config or SimpleNamespace(bbox_ratio=BBOX_RATIO, input_img_shape=INPUT_IMG_SHAPE, focal=FOCAL, princpt=PRINCPT,
                                    input_body_shape=INPUT_BODY_SHAPE)
    out, params = _posed(body, people)
    orient = params["global_orient"]
    n = len(people)
    t_true = np.array([p.transl for p in people], dtype=np.float64)
    joints = out.joints.numpy()[:, list(SMPLX_137.index_in_144)]
    verts = out.vertices.numpy().reshape(n, -1, 3)
    uv_true = project_points(joints, focal, princpt)
    if boxes_xyxy is None:
        uv = verts[..., :2] / verts[..., 2:] * np.asarray(focal) + np.asarray(princpt)
        boxes_xyxy = np.concatenate([uv.min(axis=1), uv.max(axis=1)], axis=1)
    result = []
    for k in range(n):
        x1, y1, x2, y2 = (float(v) for v in boxes_xyxy[k])
        box = process_box(np.array([x1, y1, x2 - x1, y2 - y1]), width, height, cfg.bbox_ratio, cfg.input_img_shape)
        if box is None:
            raise ValueError(f"person {k}: box {boxes_xyxy[k]} has no area inside the {width}x{height} image")
        f_c, c_c = crop_camera(box, cfg.focal, cfg.princpt, cfg.input_body_shape)
        rel = joints[k] - t_true[k]
        t_c = fit_translation(rel[None], uv_true[k][None], f_c, c_c)[0]
        j3 = rel + t_c
        result.append(Person(
            box_xyxy=np.array([x1, y1, x2, y2], np.float32),
            score=1.0,
            track_id=-1,
            crop_box_xywh=box.astype(np.float32),
            global_orient=orient[k].astype(np.float32),
            body_pose=np.asarray(people[k].body_pose if people[k].body_pose is not None else np.zeros((21, 3)), np.float32),
            left_hand_pose=np.zeros((15, 3), np.float32),
            right_hand_pose=np.zeros((15, 3), np.float32),
            jaw_pose=np.zeros(3, np.float32),
            betas=np.asarray(people[k].betas if people[k].betas is not None else np.zeros(10), np.float32),
            expression=np.zeros(10, np.float32),
            transl=t_c.astype(np.float32),
            focal=f_c.astype(np.float32),
            princpt=c_c.astype(np.float32),
            joints_3d=j3.astype(np.float32),
            joints_2d=project_points(j3, f_c, c_c).astype(np.float32),
            vertices=(verts[k] - t_true[k] + t_c).astype(np.float32),
        ))
    return result
