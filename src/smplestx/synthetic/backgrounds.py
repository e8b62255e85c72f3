"""Procedural backgrounds and photometric changes for synthetic images (no photos: nothing to license)."""

from __future__ import annotations

import cv2
import numpy as np


def _gradient(x: np.ndarray, y: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * x / width + np.sin(angle) * y / height + 1.0) / 2.0
    c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    return c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]


def _blobs(img: np.ndarray, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = x.shape
    for _ in range(int(rng.integers(2, 6))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.25) * max(width, height)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None]
        img = img * (1 - 0.6 * blob) + 0.6 * blob * rng.uniform(0, 255, 3)[None, None]
    return img


def _stripes(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 60)
    phase = (np.cos(angle) * x + np.sin(angle) * y) / period
    t = (np.sin(2 * np.pi * phase) > rng.uniform(-0.6, 0.6)).astype(np.float32) if rng.random() < 0.5 \
        else (np.sin(2 * np.pi * phase) + 1) / 2
    return _mix(t, rng)


def _checker(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cell = rng.uniform(8, 48)
    t = ((np.floor(x / cell) + np.floor(y / cell)) % 2).astype(np.float32)
    return _mix(t, rng)


def _noise(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth value noise: a few octaves of random grids, upsampled."""
    t = np.zeros((height, width), np.float32)
    for octave in range(int(rng.integers(1, 4))):
        cells = int(rng.integers(3, 10)) * 2**octave
        grid = rng.random((cells, max(2, cells * width // max(height, 1)))).astype(np.float32)
        t += cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC) / 2**octave
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return np.stack([_mix(t, rng)[..., c] for c in range(3)], axis=-1)


def _mix(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    c0, c1 = rng.uniform(10, 245, 3), rng.uniform(10, 245, 3)
    return c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]


def _floor(img: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A wall / floor split: a horizon line below which the colour changes."""
    horizon = rng.uniform(0.3, 0.8) * y.shape[0]
    below = (y > horizon)[..., None]
    return np.where(below, img * rng.uniform(0.5, 1.2) + rng.uniform(-40, 40, 3), img)


def random_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A random procedural background (uint8 RGB): gradients, stripes, checkers, value noise, blobs, floors."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = int(rng.integers(5))
    if kind == 0:
        img = _blobs(_gradient(x, y, width, height, rng), x, y, rng)
    elif kind == 1:
        img = _stripes(x, y, rng)
    elif kind == 2:
        img = _checker(x, y, rng)
    else:
        img = _noise(width, height, rng)
    if rng.random() < 0.5:  # a second texture laid over part of the first
        other = _noise(width, height, rng) if rng.random() < 0.5 else _stripes(x, y, rng)
        a = rng.uniform(0.2, 0.6)
        img = (1 - a) * img + a * other
    if rng.random() < 0.4:
        img = _floor(img, y, rng)
    img += rng.normal(0.0, rng.uniform(1.0, 8.0), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera-like changes of a rendered uint8 RGB image: exposure, contrast, white balance, gamma, blur, noise."""
    f = img.astype(np.float32) / 255.0
    f = f * rng.uniform(0.7, 1.3) * rng.uniform(0.85, 1.15, 3)[None, None]
    f = (f - 0.5) * rng.uniform(0.75, 1.25) + 0.5
    f = np.clip(f, 0.0, 1.0) ** rng.uniform(0.75, 1.35)
    if rng.random() < 0.3:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.4, 1.2))
    f = f + rng.normal(0.0, rng.uniform(0.0, 0.03), f.shape).astype(np.float32)
    return np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)


def periodic_texture(width: int, height: int, rng: np.random.Generator, cells: int = 8) -> np.ndarray:
    """A seamlessly tiling texture (uint8 RGB) with detail at every scale: 1/f noise plus slabs with dark joints.

    The noise is shaped in the Fourier domain, so it wraps around exactly; the ``cells`` x ``cells`` slabs (each its
    own tone, a few with a painted mark) give the corners a feature tracker locks onto.
    """
    fy, fx = np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij")
    radius = np.hypot(fx, fy)
    radius[0, 0] = 1.0
    channels = []
    for _ in range(3):
        spectrum = np.fft.fft2(rng.normal(0.0, 1.0, (height, width))) / radius**0.9
        spectrum[0, 0] = 0.0
        channels.append(np.real(np.fft.ifft2(spectrum)))
    noise = np.stack(channels, -1)
    noise = (noise - noise.mean()) / max(float(noise.std()), 1e-9)
    base = rng.uniform(70, 190, 3)
    img = base[None, None] + 28.0 * noise[..., :1] + 10.0 * noise
    ch, cw = height / cells, width / cells
    for i in range(cells):
        for j in range(cells):
            y0, x0 = int(round(i * ch)), int(round(j * cw))
            y1, x1 = int(round((i + 1) * ch)), int(round((j + 1) * cw))
            img[y0:y1, x0:x1] += rng.uniform(-35, 35, 3)
            if rng.random() < 0.35:  # a painted mark: a rectangle of its own colour inside the slab
                my0, mx0 = y0 + int(rng.uniform(0.15, 0.5) * ch), x0 + int(rng.uniform(0.15, 0.5) * cw)
                my1, mx1 = my0 + int(rng.uniform(0.15, 0.35) * ch), mx0 + int(rng.uniform(0.15, 0.35) * cw)
                img[my0:my1, mx0:mx1] = rng.uniform(20, 235, 3)
            joint = max(1, int(0.04 * min(ch, cw)))
            img[y0:y0 + joint, x0:x1] *= 0.45
            img[y0:y1, x0:x0 + joint] *= 0.45
    return np.clip(img, 0, 255).astype(np.uint8)


__all__ = ["periodic_texture", "photometric", "random_background"]
