"""One pinhole camera per input (the scene camera), and every person re-expressed in it.

The network predicts each person in a virtual camera derived from its crop (focal length
proportional to the box), so two people, or one person in two frames, live in different cameras.
The scene camera is one camera for a whole input (constant over a video): each person keeps its
pose and shape and gets the translation whose joints, projected by the scene camera, best match
the 2D joints the crop camera gave (:func:`smplestx.geometry.cameras.fit_translation`).

Choice of the camera (see ``docs/output-format.md``, "Scene camera"):

- default: focal length = the image diagonal in pixels (a diagonal field of view of 53.13°, a
  typical phone / consumer camera), principal point at the image centre;
- ``focal``: fx = fy = focal, principal point at the image centre;
- ``fov_deg``: the horizontal field of view across the image width;
- ``intrinsics``: fx, fy, cx, cy, e.g. read from a JSON file by :func:`load_intrinsics`.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError
from .cameras import fit_translation

if TYPE_CHECKING:  # records sit above this module; only their type is needed
    from ..io.results import FrameResult

log = logging.getLogger(__name__)

#: Diagonal field of view of the default camera: focal = image diagonal, i.e. 2 atan(1/2).
DEFAULT_DIAGONAL_FOV_DEG = math.degrees(2.0 * math.atan(0.5))

_INTRINSICS_KEYS = ("fx", "fy", "cx", "cy")


def _positive_finite(value: float, what: str) -> float:
    """``value`` as a float, or a ValueError naming ``what``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise UsageError(f"{what} must be finite and positive, got {value!r}")
    return v


@dataclass(frozen=True)
class SceneCamera:
    """How an input's scene camera is chosen: the default, a focal length, a field of view or intrinsics."""

    focal: float | None = None  # pixels; principal point at the image centre
    fov_deg: float | None = None  # horizontal, across the image width
    intrinsics: tuple[float, float, float, float] | None = None  # fx, fy, cx, cy in pixels
    origin: str | None = None  # where the values came from (a flag or a file), for messages

    def __post_init__(self) -> None:
        given = [n for n in ("focal", "fov_deg", "intrinsics") if getattr(self, n) is not None]
        if len(given) > 1:
            raise UsageError(f"give at most one of --focal, --fov, --intrinsics (got {', '.join(given)})")
        where = self.origin
        if self.focal is not None:
            object.__setattr__(self, "focal", _positive_finite(self.focal, where or "--focal"))
        if self.fov_deg is not None:
            fov = _positive_finite(self.fov_deg, where or "--fov")
            if fov >= 180.0:
                raise UsageError(f"{where or '--fov'} must be below 180 degrees (a pinhole camera), got {fov:g}")
            object.__setattr__(self, "fov_deg", fov)
        if self.intrinsics is not None:
            vals = tuple(self.intrinsics)
            if len(vals) != 4:
                raise UsageError(f"{where or 'intrinsics'}: expected fx, fy, cx, cy, got {len(vals)} values")
            fx, fy = (_positive_finite(v, f"{where or 'intrinsics'}: {k}") for k, v in zip(("fx", "fy"), vals[:2]))
            cx, cy = (float(v) for v in vals[2:])
            for k, v in (("cx", cx), ("cy", cy)):
                if not math.isfinite(v):
                    raise UsageError(f"{where or 'intrinsics'}: {k} must be finite, got {v!r}")
            object.__setattr__(self, "intrinsics", (fx, fy, cx, cy))

    @property
    def kind(self) -> str:
        """``default``, ``focal``, ``fov`` or ``intrinsics``."""
        if self.focal is not None:
            return "focal"
        if self.fov_deg is not None:
            return "fov"
        return "default" if self.intrinsics is None else "intrinsics"

    def resolve(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Focal length (2,) and principal point (2,) in pixels for an image of ``width`` x ``height``."""
        if width <= 0 or height <= 0:
            raise UsageError(f"image size must be positive, got {width}x{height}")
        centre = np.array([width / 2.0, height / 2.0])
        if self.focal is not None:
            return np.array([self.focal, self.focal]), centre
        if self.fov_deg is not None:
            f = (width / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)
            return np.array([f, f]), centre
        if self.intrinsics is None:
            f = math.hypot(width, height)
            return np.array([f, f]), centre
        fx, fy, cx, cy = self.intrinsics
        # A principal point outside the image is almost always a swapped or wrong-unit value.
        if not (0.0 <= cx <= width and 0.0 <= cy <= height):
            raise UsageError(
                f"{self.origin or 'intrinsics'}: principal point ({cx:g}, {cy:g}) lies outside the "
                f"{width}x{height} image; give cx, cy in pixels of this image"
            )
        return np.array([fx, fy]), np.array([cx, cy])

    def describe(self) -> dict[str, Any]:
        """Plain data recording the choice (stored in the results' meta)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "default":
            out["convention"] = (
                f"focal = image diagonal in pixels (diagonal FOV {DEFAULT_DIAGONAL_FOV_DEG:.2f} deg), "
                "principal point at the image centre"
            )
        elif self.kind == "focal":
            out["focal"] = self.focal
        elif self.kind == "fov":
            out["fov_deg"] = self.fov_deg
            out["convention"] = "horizontal field of view across the image width; principal point at the image centre"
        else:
            out["intrinsics"] = dict(zip(_INTRINSICS_KEYS, self.intrinsics or ()))
            if self.origin is not None:
                out["file"] = self.origin
        return out


def load_intrinsics(path: str | os.PathLike[str]) -> SceneCamera:
    """Read a camera from JSON: ``{"fx": .., "fy": .., "cx": .., "cy": ..}`` (pixels)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such intrinsics file: {path} (expected JSON with fx, fy, cx, cy in pixels)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not valid JSON ({e}); expected {{\"fx\": .., \"fy\": .., \"cx\": .., \"cy\": ..}}") from None
    if not isinstance(doc, dict) or any(k not in doc for k in _INTRINSICS_KEYS):
        missing = [k for k in _INTRINSICS_KEYS if not isinstance(doc, dict) or k not in doc]
        raise UsageError(f"{path}: missing {', '.join(missing)}; expected {{\"fx\": .., \"fy\": .., \"cx\": .., \"cy\": ..}} in pixels")
    return SceneCamera(intrinsics=tuple(doc[k] for k in _INTRINSICS_KEYS), origin=str(path))  # type: ignore[arg-type]


def scene_camera_from_options(
    focal: float | None = None, fov: float | None = None, intrinsics: str | os.PathLike[str] | None = None
) -> SceneCamera:
    """The camera asked for by ``--focal`` / ``--fov`` / ``--intrinsics`` (at most one)."""
    given = [n for n, v in (("--focal", focal), ("--fov", fov), ("--intrinsics", intrinsics)) if v is not None]
    if len(given) > 1:
        raise UsageError(f"give at most one of --focal, --fov, --intrinsics (got {' and '.join(given)})")
    if intrinsics is not None:
        return load_intrinsics(intrinsics)
    return SceneCamera(focal=focal, fov_deg=fov)


def express_in_scene(frames: list[FrameResult], camera: SceneCamera) -> None:
    """Fill every frame's scene camera and every person's ``*_scene`` fields (one batched solve)."""
    people, focals, princpts = [], [], []
    for fr in frames:
        f, c = camera.resolve(fr.width, fr.height)
        fr.scene_focal, fr.scene_princpt = f.astype(np.float32), c.astype(np.float32)
        for p in fr.people:
            people.append(p)
            focals.append(f)
            princpts.append(c)
    if not people:
        return
    transl = np.stack([np.asarray(p.transl, np.float64) for p in people])
    joints = np.stack([np.asarray(p.joints_3d, np.float64) for p in people])
    targets = np.stack([np.asarray(p.joints_2d, np.float64) for p in people])
    # Pose and shape stay: only the translation changes, so the body is joints - transl.
    body = joints - transl[:, None, :]
    t_scene = fit_translation(body, targets, np.stack(focals), np.stack(princpts))
    shift = t_scene - transl
    for k, p in enumerate(people):
        p.transl_scene = t_scene[k].astype(np.float32)
        p.joints_3d_scene = (joints[k] + shift[k]).astype(np.float32)
        if p.vertices is not None:
            p.vertices_scene = (np.asarray(p.vertices, np.float64) + shift[k]).astype(np.float32)
