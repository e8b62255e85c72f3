"""The ground truth of rendered synthetic media: rows per frame and person, and the sidecar ``MEDIA.truth.npz``.

Both the mannequin scenes (:func:`.scene.write_demo_media`) and the walks (:func:`.walks.write_walk_media`) build
their truth here, so the two sidecars have one layout: per frame and person at least :data:`MIN_INSIDE` inside
the image, the true SMPL-X parameters in the camera frame (OpenCV axes: x right, y down, z forward, metres),
the true box, how visible the person is and its id; plus the camera and the frame rate. The file's keys are
in ``docs/output-format.md``, "Ground truth of synthetic media".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import SmplestxError
from ..io.atomic import atomic_path
from ..io.npz import open_npz

#: The sidecar's ``format`` string (named after the walks, its first writer) and layout version.
TRUTH_FORMAT = "smplestx-walk-truth"
TRUTH_VERSION = 3
#: People less than this fraction inside the image are not in the truth.
MIN_INSIDE = 0.25
#: People at least this visible are in the true boxes file: what a detector stand-in sees.
DETECTABLE = 0.3
#: Parameters every row carries (float32), and their per-row shapes.
PARAMS: dict[str, tuple[int, ...]] = {"global_orient": (3,), "body_pose": (21, 3), "betas": (10,), "transl": (3,)}
#: Parameters in the world frame (y up, floor at y = 0) that scenes filmed in a world carry per row (float32).
WORLD_PARAMS = ("global_orient_world", "transl_world")


class TruthFileError(SmplestxError, ValueError):
    """A truth sidecar that is not one (one line, names the file)."""


def truth_path(media: str | Path) -> Path:
    """Where the truth of ``media`` goes: ``MEDIA.truth.npz`` beside it."""
    media = Path(media)
    return media.with_name(media.name + ".truth.npz")


def scene_focal(width: int, height: int) -> float:
    """The focal length (pixels) synthetic media are rendered with: 1.2 x the longer image side."""
    return 1.2 * max(width, height)


def visibility(boxes: np.ndarray, depth: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Fraction of each box neither outside the image nor covered by the box of a nearer person."""
    vis = inside.copy()
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-9)
    for i in range(len(boxes)):
        covered = 0.0
        for j in np.flatnonzero(depth < depth[i]):
            w = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
            h = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
            covered = max(covered, max(w, 0) * max(h, 0) / area[i])
        vis[i] *= 1.0 - covered
    return vis


class TruthBuilder:
    """Collects the truth of synthetic media frame by frame; :meth:`arrays` gives the sidecar's arrays."""

    def __init__(self, width: int, height: int, fps: float, *, focal: float | None = None,
                 with_vertices: bool = False) -> None:
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.focal = float(focal if focal is not None else scene_focal(width, height))
        self.princpt = np.array([width / 2.0, height / 2.0])
        self.with_vertices = with_vertices
        self.has_contacts = False
        self.has_world = False
        self.rows: dict[str, list] = {k: [] for k in ("frame", "person_id", "box_xyxy", "visible", *PARAMS,
                                                      *WORLD_PARAMS, "contacts", "vertices")}

    def add_frame(self, frame: int, person_ids: Sequence[int], vertices: np.ndarray,
                  params: dict[str, np.ndarray]) -> None:
        """One frame: the people's ids (P,), vertices (P, V, 3) in the camera frame and parameters (arrays over P;
        :data:`PARAMS`, optionally ``contacts`` (P, 4) and :data:`WORLD_PARAMS` (P, 3) each)."""
        uv = vertices[..., :2] / vertices[..., 2:] * self.focal + self.princpt
        raw = np.concatenate([uv.min(axis=1), uv.max(axis=1)], axis=1)
        boxes = raw.copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, self.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, self.height)
        raw_area = (raw[:, 2] - raw[:, 0]) * (raw[:, 3] - raw[:, 1])
        inside = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / raw_area
        vis = visibility(boxes, np.asarray(params["transl"])[:, 2], inside)
        self.has_contacts |= "contacts" in params
        self.has_world |= all(name in params for name in WORLD_PARAMS)
        for k, pid in enumerate(person_ids):
            if inside[k] < MIN_INSIDE:  # mostly out of view: not in the truth
                continue
            self.rows["frame"].append(int(frame))
            self.rows["person_id"].append(int(pid))
            self.rows["box_xyxy"].append(boxes[k])
            self.rows["visible"].append(vis[k])
            for name in (*PARAMS, *WORLD_PARAMS, "contacts"):
                if name in params:
                    self.rows[name].append(params[name][k])
            if self.with_vertices:
                self.rows["vertices"].append(vertices[k])

    def arrays(self, floor: np.ndarray | None = None, camera_rotation: np.ndarray | None = None,
               camera_translation: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The truth: one row per (frame, person) kept, then the camera, ``fps`` and, when given, the ``floor``
        and the camera path (world from camera, (F, 3, 3) and (F, 3))."""
        n = len(self.rows["frame"])
        out = {"frame": np.asarray(self.rows["frame"], np.int64), "person_id": np.asarray(self.rows["person_id"], np.int64),
               "box_xyxy": np.asarray(self.rows["box_xyxy"], np.float32).reshape(n, 4),
               "visible": np.asarray(self.rows["visible"], np.float32).reshape(n)}
        for name, shape in PARAMS.items():
            out[name] = np.asarray(self.rows[name], np.float32).reshape(n, *shape)
        if self.has_world:
            for name in WORLD_PARAMS:
                out[name] = np.asarray(self.rows[name], np.float32).reshape(n, 3)
        if self.has_contacts:
            out["contacts"] = np.asarray(self.rows["contacts"]).astype(bool).reshape(n, 4)
        if self.with_vertices:
            out["vertices"] = np.asarray(self.rows["vertices"], np.float32)
        out.update(focal=np.array([self.focal, self.focal], np.float32), princpt=self.princpt.astype(np.float32),
                   image_size=np.array([self.width, self.height], np.int64), fps=np.array(self.fps, np.float64))
        if floor is not None:
            out["floor"] = np.asarray(floor, np.float64)
        if camera_rotation is not None and camera_translation is not None:
            out["camera_rotation"] = np.asarray(camera_rotation, np.float64)
            out["camera_translation"] = np.asarray(camera_translation, np.float64)
        return out


def detectable_boxes(truth: dict[str, np.ndarray], frame: int) -> list[list[float]]:
    """The true boxes of the people of ``frame`` at least :data:`DETECTABLE` visible (a boxes file's entry)."""
    rows = np.flatnonzero(truth["frame"] == frame)
    return [truth["box_xyxy"][r].tolist() for r in rows if truth["visible"][r] >= DETECTABLE]


def write_truth(path: str | Path, truth: dict[str, np.ndarray], scenario: str, camera: str = "none") -> Path:
    """Write the sidecar (atomic): the truth's arrays (vertices left out) with ``format``, ``version``, ``scenario``
    and ``camera`` (the camera path's name; "none": a static camera over a plain backdrop)."""
    path = Path(path)
    arrays = {k: v for k, v in truth.items() if k != "vertices"}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, format=np.array(TRUTH_FORMAT), version=np.array(TRUTH_VERSION), scenario=np.array(scenario),
                 camera=np.array(camera), **arrays)
    return path


def read_truth(path: str | Path) -> dict[str, np.ndarray]:
    """A truth sidecar's arrays (no pickles); :class:`TruthFileError` when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise TruthFileError(f"no truth file {path}; `smplestx synthetic-media` writes one beside the media")
    with open_npz(path, "truth", TruthFileError) as z:
        arrays = {k: z[k] for k in z.files}
    if str(arrays.get("format", "")) != TRUTH_FORMAT:
        raise TruthFileError(f"{path} is not a truth sidecar (format {TRUTH_FORMAT!r} expected)")
    missing = [k for k in ("frame", "person_id", "box_xyxy", "visible", *PARAMS, "focal", "princpt", "image_size",
                           "fps") if k not in arrays]
    if missing:
        raise TruthFileError(f"{path}: truth sidecar without {', '.join(missing)}; write it again with "
                             "`smplestx synthetic-media`")
    return arrays
