"""Mesh overlays without OpenGL: a vectorised z-buffer rasterizer in torch, plus OpenCV keypoint / box drawing.

Meshes live in the OpenCV camera frame (x right, y down, z forward, metres) and are projected with a pinhole
camera per mesh.  Rasterization lists, for every visible face, the pixel centres of its screen bounding box in one
flat tensor, tests them against the face's barycentric planes, and resolves visibility across all faces of all
meshes at once with ``scatter_reduce(amax)`` over a packed ``(1/z, face)`` key, so people occlude each other
correctly whatever their order.  Shading is Lambert (flat or with interpolated vertex normals) plus ambient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

__all__ = [
    "DEFAULT_COLORS",
    "DEFAULT_LIGHT_DIR",
    "MANNEQUIN_GREY",
    "Fragments",
    "Renderer",
    "draw_boxes",
    "draw_keypoints",
    "draw_segments",
    "render_meshes",
    "overlay_colors",
    "track_color",
]

#: Distinct, soft per-person colours (RGB); cycled when there are more meshes.
DEFAULT_COLORS: tuple[tuple[int, int, int], ...] = (
    (140, 180, 235),  # soft blue
    (240, 150, 120),  # salmon
    (130, 205, 150),  # mint
    (235, 200, 110),  # gold
    (185, 150, 225),  # lavender
    (105, 200, 205),  # teal
    (235, 140, 185),  # pink
    (190, 190, 190),  # grey
)

#: A plain mannequin's neutral grey, never a track colour (synthetic scenes dress theirs: synthetic/look.py).
MANNEQUIN_GREY: tuple[int, int, int] = (180, 180, 180)

#: Direction towards the light in the camera frame: from the camera, a little up and to the left (a headlight
#: slightly off-axis, so that surfaces facing the camera are not all equally bright).
DEFAULT_LIGHT_DIR: tuple[float, float, float] = (-0.3, -0.5, -1.0)

_EMPTY = -1  # z-buffer value of a pixel that no face covers
_FACE_BITS = 32  # low bits of the packed key hold the visible-face index, high bits the float32 bits of 1/z
_FACE_MASK = (1 << _FACE_BITS) - 1
_TILE_MAX = 1 << 16  # bounding boxes with more pixels than this are cut into row bands...
_CHUNK = 1 << 19  # ...and candidate pixels are processed this many at a time (bounded memory, cache-friendly)
_INSIDE_EPS = 1e-5  # barycentric slack: a pixel centre exactly on a shared edge must not fall through both faces


@dataclass
class Fragments:
    """Per-pixel visibility: the nearest face (and its mesh) at each pixel centre, and its depth."""

    face_ids: torch.Tensor  # (H, W) int64 index into the faces of all meshes, mesh after mesh; -1 where empty
    mesh_ids: torch.Tensor  # (H, W) int64 index of the mesh; -1 where empty
    depth: torch.Tensor  # (H, W) float32 camera z in metres; +inf where empty

    @property
    def mask(self) -> torch.Tensor:
        """(H, W) bool, True where some mesh covers the pixel centre."""
        return self.face_ids >= 0


@dataclass
class _Layout:
    """Faces of several meshes indexing their concatenated vertices, as contiguous columns."""

    f: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (NF,) int64 each: first, second, third vertex
    mesh: torch.Tensor  # (NF,) int64 mesh of each face


@dataclass
class _Scene:
    """One frame's geometry: all meshes concatenated, as float64 columns on the renderer's device."""

    x: torch.Tensor  # (NV,) camera-frame coordinates
    y: torch.Tensor
    z: torch.Tensor
    u: torch.Tensor  # (NV,) pixel coordinates
    v: torch.Tensor
    layout: _Layout


@dataclass
class _Visible:
    """Faces that survived culling, with their screen-space planes (float64, bbox-local coordinates)."""

    face: torch.Tensor  # (K,) int64 global face index
    vid: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (K,) vertex ids
    bx0: torch.Tensor  # (K,) int64 first bbox pixel column / row; plane coordinates count pixels from there
    by0: torch.Tensor
    bw: torch.Tensor  # (K,) int64 bbox width and height in pixels (>= 1)
    bh: torch.Tensor
    lam0: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # lambda_0 = a * dx + b * dy + c
    lam1: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    inv_z: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # 1/z at the three vertices
    front: torch.Tensor  # (K,) bool, the face's front side is towards the camera


def track_color(track_id: int) -> tuple[int, int, int]:
    """The overlay colour of a track (RGB), the same in every frame; grey for untracked people (-1)."""
    if track_id < 0:
        return (110, 110, 110)
    return DEFAULT_COLORS[track_id % len(DEFAULT_COLORS)]


def overlay_colors(track_ids: Sequence[int]) -> list[tuple[int, int, int]]:
    """The overlay colour (RGB) of each person of a frame: by track when the frame is tracked, else by position."""
    if any(t >= 0 for t in track_ids):
        return [track_color(int(t)) for t in track_ids]
    return [DEFAULT_COLORS[k % len(DEFAULT_COLORS)] for k in range(len(track_ids))]


def _per_mesh(value: object, n: int, name: str, positive: bool = False) -> np.ndarray:
    """Broadcast a scalar, one (2,) pair, or one pair per mesh to a fresh (n, 2) float64 array."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full((n, 2), float(arr))
    elif arr.shape == (2,):
        arr = np.tile(arr, (n, 1))
    elif arr.shape != (n, 2):
        raise ValueError(f"{name} must be a scalar, a pair, or one pair per mesh ({n}, 2); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or (positive and not np.all(arr > 0)):
        raise ValueError(f"{name} must be finite{' and positive' if positive else ''}; got {arr.tolist()}")
    return np.array(arr)  # writable copy: torch refuses to wrap read-only arrays quietly


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = getattr(image, "shape", type(image).__name__), getattr(image, "dtype", None)
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array; got {got}")


def _color_array(colors: Sequence[Sequence[float]] | None, n: int) -> np.ndarray:
    """(n, 3) float64 RGB in 0..255, cycling the given (or default) palette."""
    palette = DEFAULT_COLORS if colors is None or len(colors) == 0 else colors
    out = np.array([palette[i % len(palette)] for i in range(n)], dtype=np.float64).reshape(n, 3)
    if out.size and (out.min() < 0 or out.max() > 255):
        raise ValueError("colors must be RGB triples in 0..255")
    return out


def _cross(
    a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Column-wise cross product: reductions / cross over a trailing dim of size 3 are slow on CPU in torch.
    return a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]


class Renderer:
    """Reusable mesh renderer: keeps the faces and their multi-mesh layouts on its device for video frames."""

    def __init__(
        self,
        faces: np.ndarray | torch.Tensor,
        *,
        device: str | torch.device = "cpu",
        colors: Sequence[Sequence[float]] | None = None,
        alpha: float = 0.85,
        light_dir: Sequence[float] = DEFAULT_LIGHT_DIR,
        ambient: float = 0.35,
        smooth: bool = True,
        cull_backfaces: bool = True,
        near: float = 0.01,
    ) -> None:
        """Faces (F, 3) shared by every mesh (counter-clockwise seen from outside); defaults for ``render``."""
        f = faces if isinstance(faces, torch.Tensor) else torch.from_numpy(np.array(faces))
        if f.ndim != 2 or f.shape[1] != 3 or f.is_floating_point() or f.numel() == 0:
            raise ValueError(f"faces must be a non-empty (F, 3) integer array; got {tuple(f.shape)} {f.dtype}")
        if int(f.min()) < 0:
            raise ValueError("faces must not contain negative indices")
        light = np.asarray(light_dir, dtype=np.float64)
        if light.shape != (3,) or not np.isfinite(light).all() or not np.linalg.norm(light) > 0:
            raise ValueError(f"light_dir must be a non-zero 3-vector; got {light_dir}")
        if not 0.0 <= alpha <= 1.0 or not 0.0 <= ambient <= 1.0:
            raise ValueError(f"alpha and ambient must be in [0, 1]; got {alpha}, {ambient}")
        if not near > 0:
            raise ValueError(f"near must be positive; got {near}")
        self.device = torch.device(device)
        self.faces = f.to(self.device, torch.int64).contiguous()
        self.num_verts_needed = int(f.max()) + 1
        self.colors = colors
        self.alpha = float(alpha)
        self.light_dir = tuple(float(c) for c in light / np.linalg.norm(light))
        self.ambient = float(ambient)
        self.smooth = bool(smooth)
        self.cull_backfaces = bool(cull_backfaces)
        self.near = float(near)
        self._layouts: dict[tuple[int, ...], _Layout] = {}

    # ----------------------------------------------------------------------------------------------------------
    # geometry
    # ----------------------------------------------------------------------------------------------------------

    def _layout(self, counts: tuple[int, ...]) -> _Layout:
        """Faces of meshes with these vertex counts, offset into the concatenated vertices (cached)."""
        hit = self._layouts.get(counts)
        if hit is None:
            n, nf = len(counts), self.faces.shape[0]
            offsets = torch.tensor([0, *np.cumsum(counts)[:-1].tolist()], dtype=torch.int64, device=self.device)
            tiled = (self.faces.unsqueeze(0) + offsets.view(n, 1, 1)).reshape(n * nf, 3)
            mesh = torch.arange(n, device=self.device).repeat_interleave(nf)
            hit = _Layout(f=tuple(tiled[:, i].contiguous() for i in range(3)), mesh=mesh)
            if len(self._layouts) >= 8:  # people come and go in a video; keep only a few recent layouts
                self._layouts.pop(next(iter(self._layouts)))
            self._layouts[counts] = hit
        return hit

    def _scene(self, meshes: Sequence[np.ndarray | torch.Tensor], focal: object, princpt: object) -> _Scene:
        """Project every mesh with its own intrinsics and concatenate."""
        n = len(meshes)
        fxy = torch.from_numpy(_per_mesh(focal, n, "focal", positive=True)).to(self.device)
        cxy = torch.from_numpy(_per_mesh(princpt, n, "princpt")).to(self.device)
        vs = []
        for i, m in enumerate(meshes):
            v = m if isinstance(m, torch.Tensor) else torch.from_numpy(np.array(m, dtype=np.float64))
            v = v.to(self.device, torch.float64)
            if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < self.num_verts_needed:
                raise ValueError(f"mesh {i} must be (V, 3) with V >= {self.num_verts_needed}; got {tuple(v.shape)}")
            vs.append(v)
        counts = tuple(v.shape[0] for v in vs)
        verts = torch.cat(vs)
        per_vert = torch.tensor(counts, device=self.device)
        f_v = fxy.repeat_interleave(per_vert, dim=0)
        c_v = cxy.repeat_interleave(per_vert, dim=0)
        x, y, z = (verts[:, i].contiguous() for i in range(3))
        # Points at or behind the near plane get a harmless z here; every face using them is dropped later.
        zc = z.clamp_min(self.near)
        u = x / zc * f_v[:, 0] + c_v[:, 0]
        v = y / zc * f_v[:, 1] + c_v[:, 1]
        return _Scene(x=x, y=y, z=z, u=u, v=v, layout=self._layout(counts))

    # ----------------------------------------------------------------------------------------------------------
    # rasterization
    # ----------------------------------------------------------------------------------------------------------

    def _visible(self, scene: _Scene, height: int, width: int) -> _Visible | None:
        """Cull faces (near plane, back side, degenerate, off-screen) and set up the survivors' planes."""
        f = scene.layout.f
        z = [scene.z.index_select(0, i) for i in f]
        u = [scene.u.index_select(0, i) for i in f]
        v = [scene.v.index_select(0, i) for i in f]
        # Twice the signed screen area; with y down and positive focals a face whose front is towards the camera
        # is clockwise on screen, i.e. negative (the same sign as the normal's dot with the view ray).
        area2 = (u[1] - u[0]) * (v[2] - v[0]) - (v[1] - v[0]) * (u[2] - u[0])
        keep = (z[0] > self.near) & (z[1] > self.near) & (z[2] > self.near) & torch.isfinite(area2) & (area2 != 0)
        if self.cull_backfaces:
            keep &= area2 < 0
        # Pixel (i, j) has its centre at (i + 0.5, j + 0.5); the bbox lists pixels whose centre may be inside.
        bx0 = torch.ceil(torch.minimum(torch.minimum(u[0], u[1]), u[2]) - 0.5).clamp(0, width)
        bx1 = torch.floor(torch.maximum(torch.maximum(u[0], u[1]), u[2]) - 0.5).clamp(-1, width - 1)
        by0 = torch.ceil(torch.minimum(torch.minimum(v[0], v[1]), v[2]) - 0.5).clamp(0, height)
        by1 = torch.floor(torch.maximum(torch.maximum(v[0], v[1]), v[2]) - 0.5).clamp(-1, height - 1)
        keep &= (bx1 >= bx0) & (by1 >= by0)
        face = keep.nonzero().squeeze(1)
        if face.numel() == 0:
            return None

        def pick(t: torch.Tensor) -> torch.Tensor:
            return t.index_select(0, face)

        area2, bx0, by0 = pick(area2), pick(bx0), pick(by0)
        # Barycentric planes in coordinates counted from the first bbox pixel centre, in float64, so that the
        # float32 copies used per pixel stay accurate even for huge close-up faces.
        lx = [pick(t) - (bx0 + 0.5) for t in u]
        ly = [pick(t) - (by0 + 0.5) for t in v]
        a0, b0 = (ly[1] - ly[2]) / area2, (lx[2] - lx[1]) / area2  # lambda_0: 0 on edge v1-v2, 1 at v0
        c0 = -(a0 * lx[1] + b0 * ly[1])
        a1, b1 = (ly[2] - ly[0]) / area2, (lx[0] - lx[2]) / area2  # lambda_1: 0 on edge v2-v0, 1 at v1
        c1 = -(a1 * lx[2] + b1 * ly[2])
        return _Visible(
            face=face,
            vid=tuple(pick(i) for i in f),
            bx0=bx0.long(),
            by0=by0.long(),
            bw=(pick(bx1) - bx0 + 1).long(),
            bh=(pick(by1) - by0 + 1).long(),
            lam0=(a0, b0, c0),
            lam1=(a1, b1, c1),
            inv_z=tuple(1.0 / pick(t) for t in z),
            front=area2 < 0,
        )

    def _zbuffer(self, vis: _Visible | None, height: int, width: int) -> torch.Tensor:
        """(H*W,) int64 packed keys ``(bits(1/z) << 32) | visible face``, -1 where no face covers the pixel."""
        dev = self.device
        buf = torch.full((height * width,), _EMPTY, dtype=torch.int64, device=dev)
        if vis is None:
            return buf
        (a0, b0, c0), (a1, b1, c1) = vis.lam0, vis.lam1
        w0, w1, w2 = vis.inv_z
        # 1/z is affine in screen space: w = w2 + (w0 - w2) * lambda_0 + (w1 - w2) * lambda_1.
        wa = (w0 - w2) * a0 + (w1 - w2) * a1
        wb = (w0 - w2) * b0 + (w1 - w2) * b1
        wc = w2 + (w0 - w2) * c0 + (w1 - w2) * c1
        planes = [a0, b0, c0, a1, b1, c1, wa, wb, wc]
        bw, bh = vis.bw, vis.bh
        if bool((bw * bh > _TILE_MAX).any()):
            # Cut big bboxes into bands of rows so that every tile fits comfortably in a chunk.
            rows = (_TILE_MAX // bw).clamp_min(1)
            nband = (bh + rows - 1) // rows
            tile_face = torch.arange(bw.numel(), device=dev).repeat_interleave(nband)
            band = torch.arange(tile_face.numel(), device=dev) - (torch.cumsum(nband, 0) - nband)[tile_face]
            dy0 = band * rows[tile_face]
            t_w, t_h = bw[tile_face], torch.minimum(rows[tile_face], bh[tile_face] - dy0)
            planes = [p[tile_face] for p in planes]
            for i in (2, 5, 8):  # move each plane's origin down to the band's first row
                planes[i] = planes[i] + planes[i - 1] * dy0.to(planes[i].dtype)
            t_pix = (vis.by0[tile_face] + dy0) * width + vis.bx0[tile_face]
        else:
            tile_face, t_w, t_h = torch.arange(bw.numel(), device=dev), bw, bh
            t_pix = vis.by0 * width + vis.bx0
        planes32 = [p.to(torch.float32) for p in planes]
        t_count = t_w * t_h
        # Group consecutive tiles into chunks of about _CHUNK candidate pixels.
        ends = torch.cumsum(t_count, 0)
        total = int(ends[-1])
        marks = torch.arange(_CHUNK, max(total, _CHUNK), _CHUNK, device=dev)
        bounds = [0, *sorted(set(torch.searchsorted(ends, marks, right=True).tolist())), tile_face.numel()]
        for s, e in zip(bounds[:-1], bounds[1:]):
            if e > s:
                self._raster_chunk(
                    buf, width, [p[s:e] for p in planes32], t_pix[s:e], tile_face[s:e], t_w[s:e], t_count[s:e]
                )
        return buf

    @staticmethod
    def _raster_chunk(
        buf: torch.Tensor,
        width: int,
        planes: list[torch.Tensor],
        pix0: torch.Tensor,
        face: torch.Tensor,
        tw: torch.Tensor,
        count: torch.Tensor,
    ) -> None:
        """Test every pixel centre of these tiles against their face and fold the hits into the z-buffer."""
        dev = buf.device
        n = int(count.sum())
        tile = torch.arange(count.numel(), device=dev).repeat_interleave(count, output_size=n)
        # Pixel offsets inside the tile; float32 is exact here (n < 2**24) and much faster than integer division.
        start = (torch.cumsum(count, 0) - count).to(torch.float32)
        local = torch.arange(n, device=dev, dtype=torch.float32) - start.index_select(0, tile)
        w = tw.to(torch.float32).index_select(0, tile)
        dy = torch.floor((local + 0.5) / w)
        dx = local - dy * w

        def plane(i: int) -> torch.Tensor:
            a, b, c = (p.index_select(0, tile) for p in planes[i : i + 3])
            return torch.addcmul(torch.addcmul(c, a, dx), b, dy)

        l0, l1, inv_z = plane(0), plane(3), plane(6)
        inside = (l0 >= -_INSIDE_EPS) & (l1 >= -_INSIDE_EPS) & (l0 + l1 <= 1.0 + _INSIDE_EPS)
        # 1/z >= 0 keeps the float32 bit patterns in the same order as the values.
        key = (inv_z.clamp_min(0.0).view(torch.int32).to(torch.int64) << _FACE_BITS) | face.index_select(0, tile)
        key = torch.where(inside, key, _EMPTY)
        if buf.numel() < 1 << 24:  # the in-tile offset is exact in float32
            pix = pix0.index_select(0, tile) + (dy * width + dx).to(torch.int64)
        else:
            pix = pix0.index_select(0, tile) + dy.to(torch.int64) * width + dx.to(torch.int64)
        buf.scatter_reduce_(0, pix, key, reduce="amax")

    @torch.no_grad()
    def rasterize(
        self,
        meshes: Sequence[np.ndarray | torch.Tensor],
        focal: object,
        princpt: object,
        height: int,
        width: int,
    ) -> Fragments:
        """Nearest face, mesh and depth at every pixel centre of a (height, width) image."""
        if len(meshes) == 0:
            empty = torch.full((height, width), _EMPTY, dtype=torch.int64, device=self.device)
            depth = torch.full((height, width), math.inf, dtype=torch.float32, device=self.device)
            return Fragments(face_ids=empty, mesh_ids=empty.clone(), depth=depth)
        scene = self._scene(meshes, focal, princpt)
        vis = self._visible(scene, height, width)
        buf = self._zbuffer(vis, height, width)
        covered = buf >= 0
        face = torch.full_like(buf, _EMPTY)
        mesh = torch.full_like(buf, _EMPTY)
        depth = torch.full(buf.shape, math.inf, dtype=torch.float32, device=self.device)
        if vis is not None:
            pix = covered.nonzero().squeeze(1)
            hit = buf.index_select(0, pix)
            gface = vis.face.index_select(0, hit & _FACE_MASK)
            face[pix] = gface
            mesh[pix] = scene.layout.mesh.index_select(0, gface)
            depth[pix] = 1.0 / (hit >> _FACE_BITS).to(torch.int32).view(torch.float32)
        return Fragments(face.view(height, width), mesh.view(height, width), depth.view(height, width))

    # ----------------------------------------------------------------------------------------------------------
    # shading
    # ----------------------------------------------------------------------------------------------------------

    def _shade(self, scene: _Scene, vis: _Visible, pix: torch.Tensor, key: torch.Tensor, width: int) -> torch.Tensor:
        """(P,) Lambert-plus-ambient intensity in [0, 1] at covered pixels ``pix`` with z-buffer keys ``key``."""
        k = key & _FACE_MASK
        pos = [scene.x, scene.y, scene.z]
        if self.smooth:
            # Area-weighted vertex normals over all faces (the cross product's length is twice the face area).
            f = scene.layout.f
            p = [[c.index_select(0, i) for c in pos] for i in f]
            e1 = [p[1][c] - p[0][c] for c in range(3)]
            e2 = [p[2][c] - p[0][c] for c in range(3)]
            fn = torch.stack(_cross(e1, e2), dim=1)
            vn = torch.zeros(scene.x.numel(), 3, dtype=fn.dtype, device=fn.device)
            for i in f:
                vn.index_add_(0, i, fn)
            vn = vn / vn.norm(dim=1, keepdim=True).clamp_min(1e-300)
            # What a pixel needs from its face, as contiguous float32 columns (one gather each is much faster
            # than gathering rows): bbox origin, the two barycentric planes, 1/z and the normal at each vertex.
            vn32 = vn.to(torch.float32)
            columns = [vis.bx0, vis.by0, *vis.lam0, *vis.lam1, *vis.inv_z]
            columns += [vn32[:, c].index_select(0, i) for i in vis.vid for c in range(3)]
            g = [col.to(torch.float32).index_select(0, k) for col in columns]
            dx = (pix % width).to(torch.float32) - g[0]
            dy = torch.div(pix, width, rounding_mode="floor").to(torch.float32) - g[1]
            lam0 = torch.addcmul(torch.addcmul(g[4], g[2], dx), g[3], dy)
            lam1 = torch.addcmul(torch.addcmul(g[7], g[5], dx), g[6], dy)
            # Perspective-correct barycentrics at the pixel centre: the screen ones weighted by 1/z at each vertex
            # (the common factor z is dropped: the normal is normalised anyway).
            w0 = lam0.clamp_min(0.0) * g[8]
            w1 = lam1.clamp_min(0.0) * g[9]
            w2 = (1.0 - lam0 - lam1).clamp_min(0.0) * g[10]
            nx, ny, nz = (w0 * g[11 + c] + w1 * g[14 + c] + w2 * g[17 + c] for c in range(3))
        else:
            p = [[c.index_select(0, vis.vid[i]) for c in pos] for i in range(3)]
            e1 = [p[1][c] - p[0][c] for c in range(3)]
            e2 = [p[2][c] - p[0][c] for c in range(3)]
            nx, ny, nz = (t.to(torch.float32).index_select(0, k) for t in _cross(e1, e2))
        # A face seen from its back (only when culling is off) is lit as if its normal faced the camera.
        sign = torch.where(vis.front.index_select(0, k), 1.0, -1.0)
        lx, ly, lz = self.light_dir
        norm = torch.sqrt(nx * nx + ny * ny + nz * nz).clamp_min(1e-30)
        diffuse = (sign * (nx * lx + ny * ly + nz * lz) / norm).clamp_min(0.0)
        return self.ambient + (1.0 - self.ambient) * diffuse

    def _face_table(self, face_colors: Sequence[np.ndarray], n: int) -> torch.Tensor:
        """(n * F, 3) float32 colour of every face of every mesh, mesh after mesh (the layout's face order)."""
        nf = self.faces.shape[0]
        if len(face_colors) != n:
            raise ValueError(f"got {len(face_colors)} face_colors arrays for {n} meshes")
        arrays = [np.asarray(c, dtype=np.float32) for c in face_colors]
        for i, c in enumerate(arrays):
            if c.shape != (nf, 3) or not np.isfinite(c).all() or c.min(initial=0) < 0 or c.max(initial=0) > 255:
                raise ValueError(f"face_colors[{i}] must be ({nf}, 3) RGB in 0..255; got shape {c.shape}")
        return torch.from_numpy(np.concatenate(arrays)).to(self.device)

    @torch.no_grad()
    def render(
        self,
        image: np.ndarray,
        meshes: Sequence[np.ndarray | torch.Tensor],
        focal: object,
        princpt: object,
        *,
        colors: Sequence[Sequence[float]] | None = None,
        alpha: float | None = None,
        face_colors: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
        """Overlay the shaded meshes on a copy of an (H, W, 3) uint8 RGB image with one shared z-buffer.

        ``face_colors`` (one (F, 3) RGB array in 0..255 per mesh) colours each triangle, in place of ``colors``.
        """
        _check_image(image)
        table = None if face_colors is None else self._face_table(face_colors, len(meshes))
        out = image.copy()
        if len(meshes) == 0:
            return out
        a = self.alpha if alpha is None else float(alpha)
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"alpha must be in [0, 1]; got {a}")
        height, width = image.shape[:2]
        scene = self._scene(meshes, focal, princpt)
        vis = self._visible(scene, height, width)
        if vis is None:
            return out
        buf = self._zbuffer(vis, height, width)
        pix = (buf >= 0).nonzero().squeeze(1)
        if pix.numel() == 0:
            return out
        key = buf.index_select(0, pix)
        shade = self._shade(scene, vis, pix, key, width)
        gface = vis.face.index_select(0, key & _FACE_MASK)
        if table is not None:
            rgb = table.index_select(0, gface) * shade.unsqueeze(1)
        else:
            palette = torch.from_numpy(_color_array(colors if colors is not None else self.colors, len(meshes)))
            palette = palette.to(self.device, torch.float32)
            rgb = palette.index_select(0, scene.layout.mesh.index_select(0, gface)) * shade.unsqueeze(1)
        # Blend only the covered pixels, in torch on the CPU (faster than NumPy fancy indexing); ``flat`` views ``out``.
        flat = torch.from_numpy(out).view(-1, 3)
        pix, rgb = pix.cpu(), rgb.cpu()
        under = flat.index_select(0, pix).to(torch.float32)
        blended = torch.addcmul(rgb * a, under, torch.tensor(1.0 - a)).round_().clamp_(0, 255).to(torch.uint8)
        flat.index_copy_(0, pix, blended)
        return out


def render_meshes(
    image: np.ndarray,
    meshes: Sequence[np.ndarray | torch.Tensor],
    faces: np.ndarray,
    focal: object,
    princpt: object,
    *,
    colors: Sequence[Sequence[float]] | None = None,
    alpha: float = 0.85,
    light_dir: Sequence[float] = DEFAULT_LIGHT_DIR,
    smooth: bool = True,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Overlay camera-frame meshes (each with its own focal / principal point) on a copy of an RGB image."""
    if len(meshes) == 0:
        _check_image(image)
        return image.copy()
    renderer = Renderer(faces, device=device, colors=colors, alpha=alpha, light_dir=light_dir, smooth=smooth)
    return renderer.render(image, meshes, focal, princpt)


# --------------------------------------------------------------------------------------------------------------
# 2D annotations
# --------------------------------------------------------------------------------------------------------------

_SHIFT = 4  # OpenCV fixed-point bits: coordinates are drawn with 1/16 pixel precision


def _fixed(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]) * (1 << _SHIFT))), int(round(float(p[1]) * (1 << _SHIFT)))


def _finite_point(p: np.ndarray) -> bool:
    # Far-off points would overflow OpenCV's fixed-point coordinates; they are not visible anyway.
    return bool(np.all(np.isfinite(p)) and np.all(np.abs(p) < 1e6))


def draw_keypoints(
    image: np.ndarray,
    points_2d: np.ndarray,
    *,
    radius: int = 3,
    color: Sequence[int] = (255, 64, 64),
    skeleton: Sequence[tuple[int, int]] | None = None,
    line_color: Sequence[int] | None = None,
    thickness: int = 2,
) -> np.ndarray:
    """Draw (J, 2) pixel keypoints (non-finite ones skipped) and optional skeleton bones on a copy of the image."""
    _check_image(image)
    pts = np.asarray(points_2d, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 2:
        raise ValueError(f"points_2d must be (J, 2); got {pts.shape}")
    pts = pts[:, :2]
    out = image.copy()
    col = tuple(int(c) for c in color)
    lcol = col if line_color is None else tuple(int(c) for c in line_color)
    for i, j in skeleton or ():
        if not (0 <= i < len(pts) and 0 <= j < len(pts)):
            raise ValueError(f"skeleton pair ({i}, {j}) out of range for {len(pts)} points")
        if _finite_point(pts[i]) and _finite_point(pts[j]):
            cv2.line(out, _fixed(pts[i]), _fixed(pts[j]), lcol, thickness, cv2.LINE_AA, _SHIFT)
    r = int(round(radius * (1 << _SHIFT)))
    for p in pts:  # points after bones so joints stay visible on top of the lines
        if _finite_point(p):
            cv2.circle(out, _fixed(p), r, col, -1, cv2.LINE_AA, _SHIFT)
    return out


def draw_segments(image: np.ndarray, segments: np.ndarray, *, color: Sequence[int] = (255, 255, 255),
                  thickness: int = 1) -> np.ndarray:
    """Draw (L, 2, 2) pixel line segments (those with a non-finite end skipped) on a copy of the image."""
    _check_image(image)
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2, 2)
    out = image.copy()
    col = tuple(int(c) for c in color)
    for a, b in seg:
        if _finite_point(a) and _finite_point(b):
            cv2.line(out, _fixed(a), _fixed(b), col, thickness, cv2.LINE_AA, _SHIFT)
    return out


def draw_boxes(
    image: np.ndarray,
    boxes_xyxy: np.ndarray,
    labels: Sequence[str] | None = None,
    *,
    color: Sequence[int] = (64, 220, 64),
    thickness: int = 2,
    font_scale: float = 0.5,
    colors: Sequence[Sequence[int]] | None = None,
    labels_only: bool = False,
) -> np.ndarray:
    """Draw (N, 4) pixel boxes (x1, y1, x2, y2) with optional text labels on a copy of the image.

    ``colors`` gives one RGB colour per box (else ``color`` for all); ``labels_only`` draws the
    labels without the rectangles.
    """
    _check_image(image)
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    if labels is not None and len(labels) != len(boxes):
        raise ValueError(f"got {len(labels)} labels for {len(boxes)} boxes")
    if colors is not None and len(colors) != len(boxes):
        raise ValueError(f"got {len(colors)} colors for {len(boxes)} boxes")
    out = image.copy()
    for n, box in enumerate(boxes):
        col = tuple(int(c) for c in (color if colors is None else colors[n]))
        # Black or white text, whichever reads better on the label background.
        text_col = (0, 0, 0) if 0.299 * col[0] + 0.587 * col[1] + 0.114 * col[2] > 128 else (255, 255, 255)
        if not _finite_point(box[:2]) or not _finite_point(box[2:]):
            continue
        if not labels_only:
            cv2.rectangle(out, _fixed(box[:2]), _fixed(box[2:]), col, thickness, cv2.LINE_AA, _SHIFT)
        if labels is None or not labels[n]:
            continue
        (tw, th), base = cv2.getTextSize(str(labels[n]), cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        x = int(round(min(box[0], box[2])))
        top = int(round(min(box[1], box[3])))
        # Label above the box, or inside it when the box touches the top of the image.
        y = top - th - base - 2 if top - th - base - 2 >= 0 else top
        cv2.rectangle(out, (x, y), (x + tw + 4, y + th + base + 2), col, -1)
        cv2.putText(out, str(labels[n]), (x + 2, y + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, text_col, 1,
                    cv2.LINE_AA)
    return out
