"""Images and videos of posed SMPL-X mannequins at known parameters, with their true person boxes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..body import BodyModel
from ..nn.rotations import axis_angle_to_rotmat, rotmat_to_axis_angle
from ..render import Renderer
from .files import write_bytes

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
    n = len(people)
    # Facing the camera, then turned by `yaw` about the camera's vertical (y) axis.
    facing = axis_angle_to_rotmat(torch.tensor(FACING_CAMERA, dtype=torch.float64))
    yaw = axis_angle_to_rotmat(torch.tensor([[0.0, p.yaw, 0.0] for p in people], dtype=torch.float64))
    orient = rotmat_to_axis_angle(yaw @ facing).numpy()
    body_pose = np.stack([p.body_pose if p.body_pose is not None else np.zeros((21, 3)) for p in people])
    betas = np.stack([p.betas if p.betas is not None else np.zeros(10) for p in people])
    with torch.no_grad():
        out = body(
            global_orient=torch.tensor(orient),
            body_pose=torch.tensor(body_pose),
            betas=torch.tensor(betas),
            transl=torch.tensor(np.array([p.transl for p in people], dtype=np.float64)),
        )
    return out.vertices.numpy().reshape(n, -1, 3)


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
    verts = pose_people(body, people)
    princpt = (width / 2.0, height / 2.0)
    renderer = renderer or Renderer(body.faces_np)
    img = renderer.render(img, list(verts), [(focal, focal)] * len(people), [princpt] * len(people), alpha=1.0)
    uv = verts[..., :2] / verts[..., 2:] * focal + np.array(princpt)
    boxes = np.concatenate([uv.min(axis=1), uv.max(axis=1)], axis=1)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return img, boxes.astype(np.float32)


def demo_people(count: int, frame: int = 0, fps: float = 10.0) -> list[ScenePerson]:
    """``count`` mannequins in a row, walking slowly sideways and swinging their arms."""
    people = []
    t = frame / fps
    for k in range(count):
        pose = np.zeros((21, 3))
        swing = 0.5 * np.sin(2 * np.pi * 0.5 * t + k)
        pose[15], pose[16] = [0, 0, -1.1], [0, 0, 1.1]  # arms down (shoulders)
        pose[0], pose[1] = [swing, 0, 0], [-swing, 0, 0]  # hips
        x = (k - (count - 1) / 2) * 1.1 + 0.1 * t
        people.append(ScenePerson((x, 0.25, 5.0 + 0.4 * (k % 2)), yaw=0.2 * (k - count / 2), body_pose=pose))
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
) -> tuple[Path, Path]:
    """Write an image (.png/.jpg) or a video (.mp4, ...) of mannequins and a boxes file beside it."""
    import json

    from ..io.video import VIDEO_EXTENSIONS, VideoWriter, write_image

    path = Path(path)
    body = BodyModel.from_dir(body_models, dtype=torch.float64)
    renderer = Renderer(body.faces_np)
    focal = 1.2 * max(width, height)
    boxes: dict[str, list] = {}
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        with VideoWriter(path, fps, width, height) as video:
            for i in range(frames):
                img, b = render_scene(body, demo_people(people, i, fps), width, height, focal, seed=i, renderer=renderer)
                video.write(img)
                boxes[str(i)] = b.tolist()
    else:
        img, b = render_scene(body, demo_people(people), width, height, focal, renderer=renderer)
        write_image(path, img)
        boxes["0"] = b.tolist()
    boxes_path = path.with_name(path.name + ".boxes.json")
    write_bytes(boxes_path, json.dumps({"frames": boxes}).encode())
    return path, boxes_path
