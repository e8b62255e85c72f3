"""A textured 3D world seen through a moving camera: camera paths and the ground and backdrop they film.

The world is y up with the floor at y = 0 (metres); the camera starts where the walks' static camera stands,
0.8 m above the floor, level, looking along -z (:data:`~smplestx.motion.world_frame.LEVEL_CAMERA`). The floor is
an endless tiled slab texture and a backdrop wall stands :data:`WALL_DISTANCE` metres away; above the wall, sky.
Each pixel's ray is cut with the floor and the wall and the texture is sampled from a mip pyramid picked by the
pixel's footprint on the surface, so grazing floor far away does not shimmer (a tracker would follow the shimmer).
Camera poses are "world from camera" (``X_world = R X_cam + t``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..motion.world_frame import LEVEL_CAMERA
from .backgrounds import periodic_texture

CAMERA_PATHS = ("static", "pan", "follow", "orbit", "handheld")
#: The static camera of the walks: 0.8 m above the floor at the world origin.
CAMERA_HEIGHT = 0.8
WALL_DISTANCE = 12.0  # metres from the first camera along -z
WALL_HEIGHT = 6.0
FLOOR_TEXELS_PER_M = 128.0  # a 1024-texel tile covers 8 m of floor
WALL_TEXELS_PER_M = 64.0  # a 1024 x 512 tile covers 16 m x 8 m of wall
_LEVELS = 6
_SKY = np.array([185.0, 205.0, 230.0])
_HAZE = np.array([190.0, 195.0, 205.0])
_HAZE_DISTANCE = 80.0  # metres over which the scene fades into haze by a factor e


def _rot_y(a: np.ndarray) -> np.ndarray:
    """Rotations (..., 3, 3) about the world's vertical axis by angles a (radians)."""
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def camera_path(kind: str, times: np.ndarray, seed: int = 0, subject: tuple[float, float, float] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """World-from-camera rotations (F, 3, 3) and positions (F, 3) of a camera path at ``times`` (seconds).

    ``pan``: turns on the spot, up to 15 degrees; ``follow``: a dolly along x at 0.7 m/s turning to keep
    ``subject`` (x0, vx, z: a walker's start, speed and world z) in the middle; ``orbit``: circles the middle of the
    walks (5.6 m away) at 10 degrees per second, looking at it; ``handheld``: stands still but shakes (about a
    degree, a centimetre, a few hertz).
    """
    if kind not in CAMERA_PATHS:
        raise ValueError(f"unknown camera path {kind!r}; choose one of {', '.join(CAMERA_PATHS)}")
    t = np.asarray(times, np.float64).reshape(-1)
    n = len(t)
    home = np.array([0.0, CAMERA_HEIGHT, 0.0])
    rot = np.repeat(LEVEL_CAMERA[None], n, 0)
    pos = np.repeat(home[None], n, 0)
    if kind == "pan":
        rot = _rot_y(np.deg2rad(15.0) * np.sin(2 * np.pi * t / 6.0)) @ LEVEL_CAMERA
    elif kind == "follow":
        x0, vx, z = subject if subject is not None else (-1.6, 0.8, -5.0)
        cam_x = -1.0 + 0.7 * t
        pos = np.stack([cam_x, np.full(n, CAMERA_HEIGHT), np.zeros(n)], -1)
        # Forward (-sin a, 0, -cos a) points at the subject.
        rot = _rot_y(-np.arctan2(x0 + vx * t - cam_x, -z)) @ LEVEL_CAMERA
    elif kind == "orbit":
        radius, theta = 5.6, np.deg2rad(10.0) * t
        pos = np.stack([radius * np.sin(theta), np.full(n, CAMERA_HEIGHT), -radius + radius * np.cos(theta)], -1)
        rot = _rot_y(theta) @ LEVEL_CAMERA
    elif kind == "handheld":
        rng = np.random.default_rng(seed + 7919)

        def shake(amplitude: float) -> np.ndarray:
            freqs, phases = rng.uniform(0.4, 3.0, 3), rng.uniform(0, 2 * np.pi, 3)
            return amplitude * sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, phases)) / 3.0

        yaw, pitch, roll = shake(np.deg2rad(2.0)), shake(np.deg2rad(1.5)), shake(np.deg2rad(1.0))
        rot = _rot_y(yaw) @ LEVEL_CAMERA @ _rot_x(pitch) @ _rot_z(roll)
        pos = home + np.stack([shake(0.01), shake(0.01), shake(0.01)], -1)
    return rot, pos


@dataclass
class World:
    """The textures of the world (mip pyramids, float32 RGB) and the camera intrinsics the rays are cast with."""

    floor: list[np.ndarray]
    wall: list[np.ndarray]
    rays: np.ndarray  # (H, W, 3) camera-frame ray of each pixel centre (z = 1)
    focal: float

    @classmethod
    def make(cls, width: int, height: int, focal: float, princpt: tuple[float, float], seed: int = 0) -> World:
        """The world of scene ``seed`` for a ``width`` x ``height`` pinhole camera."""
        rng = np.random.default_rng(seed + 104729)
        floor = periodic_texture(1024, 1024, rng, cells=8).astype(np.float32)
        wall = periodic_texture(1024, 512, rng, cells=12).astype(np.float32)
        v, u = np.mgrid[0:height, 0:width].astype(np.float64)
        rays = np.stack([(u - princpt[0]) / focal, (v - princpt[1]) / focal, np.ones_like(u)], -1)
        return cls(_pyramid(floor), _pyramid(wall), rays, float(focal))

    def render(self, rotation: np.ndarray, position: np.ndarray, noise: float = 2.0,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """The world seen by the camera at pose (``rotation``, ``position``), uint8 RGB, with sensor noise."""
        d = self.rays @ np.asarray(rotation, np.float64).T  # world directions, |d| >= 1
        c = np.asarray(position, np.float64)
        h, w = d.shape[:2]
        with np.errstate(divide="ignore", invalid="ignore"):
            s_floor = np.where(d[..., 1] < -1e-9, -c[1] / d[..., 1], np.inf)
            s_wall = np.where(d[..., 2] < -1e-9, (-WALL_DISTANCE - c[2]) / d[..., 2], np.inf)
        s_wall = np.where(s_wall > 0, s_wall, np.inf)
        wall_y = c[1] + s_wall * d[..., 1]
        s_wall = np.where((wall_y >= 0) & (wall_y <= WALL_HEIGHT), s_wall, np.inf)
        on_floor = s_floor < s_wall
        s = np.where(on_floor, s_floor, s_wall)
        hit = c + np.where(np.isfinite(s), s, 0.0)[..., None] * d
        norm = np.linalg.norm(d, axis=-1)
        dist = s * norm
        # Footprint of a pixel on the surface: distance / focal across, divided by the cosine of incidence along.
        cos_in = np.abs(np.where(on_floor, d[..., 1], d[..., 2])) / norm
        footprint = dist / self.focal / np.sqrt(np.maximum(cos_in, 1e-3))
        out = np.empty((h, w, 3), np.float32)
        out[:] = _SKY
        for mask, tex, tu, tv, ppm in ((on_floor & np.isfinite(s), self.floor, hit[..., 0], hit[..., 2], FLOOR_TEXELS_PER_M),
                                       (~on_floor & np.isfinite(s), self.wall, hit[..., 0], WALL_HEIGHT - hit[..., 1],
                                        WALL_TEXELS_PER_M)):
            if not mask.any():
                continue
            level = np.clip(np.log2(np.maximum(footprint * ppm, 1.0)), 0, _LEVELS - 1)
            low = np.floor(level).astype(int)
            frac = (level - low)[..., None].astype(np.float32)
            colour = np.zeros((h, w, 3), np.float32)
            for lv in np.unique(np.concatenate([low[mask], np.minimum(low[mask] + 1, _LEVELS - 1)])):
                scale = ppm / 2.0**lv
                mx = (tu * scale).astype(np.float32)
                my = (tv * scale).astype(np.float32)
                sample = cv2.remap(tex[lv], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
                weight = np.where((low == lv)[..., None], 1.0 - frac, 0.0) + np.where(
                    (np.minimum(low + 1, _LEVELS - 1) == lv)[..., None] & (low != lv)[..., None], frac, 0.0)
                colour += weight.astype(np.float32) * sample
            shade = 0.85 if tex is self.floor else 1.0
            haze = np.exp(-np.where(np.isfinite(dist), dist, 0.0) / _HAZE_DISTANCE)[..., None]
            lit = colour * shade * haze + _HAZE * (1.0 - haze)
            out[mask] = lit[mask]
        if noise > 0:
            out += (rng or np.random.default_rng(0)).normal(0.0, noise, out.shape).astype(np.float32)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _pyramid(texture: np.ndarray) -> list[np.ndarray]:
    """Mip levels of a tiling texture, each half the size of the last (wrapping borders keep it tiling)."""
    levels = [texture]
    for _ in range(_LEVELS - 1):
        prev = levels[-1]
        # Linear filters refuse BORDER_WRAP: pad by wrapping, blur, cut the pad off.
        blurred = cv2.GaussianBlur(np.pad(prev, ((4, 4), (4, 4), (0, 0)), mode="wrap"), (5, 5), 1.0)[4:-4, 4:-4]
        levels.append(np.ascontiguousarray(blurred[::2, ::2]))
    return levels


__all__ = ["CAMERA_HEIGHT", "CAMERA_PATHS", "World", "camera_path"]
