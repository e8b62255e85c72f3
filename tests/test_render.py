"""Rasterizer and overlay correctness on small hand-built meshes (no SMPL-X files needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import smplestx.render as render_mod
from smplestx.render import Renderer, draw_boxes, draw_keypoints, render_meshes

H, W = 120, 160
FOCAL = (150.0, 140.0)
PRINCPT = (81.3, 58.7)


# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------


def icosphere(subdiv: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Unit icosphere, faces counter-clockwise seen from outside."""
    t = (1 + 5**0.5) / 2
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
         (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2), (10, 7, 6),
         (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10),
         (8, 6, 7), (9, 8, 1)]
    verts = [np.array(p, dtype=np.float64) / np.linalg.norm(p) for p in v]
    faces = f
    for _ in range(subdiv):
        cache: dict[tuple[int, int], int] = {}

        def mid(a: int, b: int) -> int:
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = verts[a] + verts[b]
                verts.append(m / np.linalg.norm(m))
                cache[key] = len(verts) - 1
            return cache[key]

        new = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    return np.array(verts), np.array(faces, dtype=np.int64)


def cube() -> tuple[np.ndarray, np.ndarray]:
    """Cube [-1, 1]^3, faces counter-clockwise seen from outside."""
    v = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    f = []
    for a, b, c, d in quads:
        f += [(a, b, c), (a, c, d)]
    return v, np.array(f, dtype=np.int64)


def signed_volume(v: np.ndarray, f: np.ndarray) -> float:
    t = v[f]
    return float(np.einsum("ij,ij->i", np.cross(t[:, 0], t[:, 1]), t[:, 2]).sum() / 6)


def rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def project(v: np.ndarray, focal=FOCAL, princpt=PRINCPT) -> np.ndarray:
    return v[:, :2] / v[:, 2:3] * np.asarray(focal) + np.asarray(princpt)


def pixel_centres(h: int = H, w: int = W) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs + 0.5, ys + 0.5], -1).reshape(-1, 2)


def polygon_inside(poly: np.ndarray, pts: np.ndarray, tol: float = 2e-3) -> tuple[np.ndarray, np.ndarray]:
    """(inside, ambiguous) of points against a convex polygon (any orientation).

    Points closer than ``tol`` pixels to an edge are ambiguous: the rasterizer works in float32 with a slack of
    1e-5 in barycentric units (a few 1e-4 px on the 300 px triangles used here) so shared edges never leak.
    """
    d = []
    for i in range(len(poly)):
        a, b = poly[i], poly[(i + 1) % len(poly)]
        e = b - a
        d.append((e[0] * (pts[:, 1] - a[1]) - e[1] * (pts[:, 0] - a[0])) / np.linalg.norm(e))
    d = np.stack(d, 1)
    area = sum(poly[i, 0] * poly[(i + 1) % len(poly), 1] - poly[(i + 1) % len(poly), 0] * poly[i, 1]
               for i in range(len(poly)))
    d = d * np.sign(area)
    inside = (d >= 0).all(1)
    ambiguous = (np.abs(d) < tol).any(1) & (d > -tol).all(1)
    return inside, ambiguous


def convex_hull(p: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain."""
    pts = sorted(map(tuple, p))

    def half(seq):
        out = []
        for q in seq:
            while len(out) >= 2 and (out[-1][0] - out[-2][0]) * (q[1] - out[-2][1]) - (out[-1][1] - out[-2][1]) * (
                q[0] - out[-2][0]
            ) <= 0:
                out.pop()
            out.append(q)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def mask_of(renderer: Renderer, meshes, focal=FOCAL, princpt=PRINCPT, h: int = H, w: int = W) -> np.ndarray:
    return renderer.rasterize(meshes, focal, princpt, h, w).mask.numpy().reshape(-1)


def gradient_image(h: int = H, w: int = W) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs * 255 // w, ys * 255 // h, np.full_like(xs, 77)], -1).astype(np.uint8)


def face_camera(v: np.ndarray) -> np.ndarray:
    """The triangle wound so that its front side (counter-clockwise seen from it) is towards the camera."""
    n = np.cross(v[1] - v[0], v[2] - v[0])
    return v if n @ v[0] < 0 else v[[0, 2, 1]]


def facing_triangle(rng: np.random.Generator, z: float = 2.0) -> np.ndarray:
    """A random triangle at a depth of about z, facing the camera."""
    return face_camera(np.concatenate([rng.uniform(-0.8, 0.8, (3, 2)), z + rng.uniform(-0.3, 0.3, (3, 1))], 1))


# ----------------------------------------------------------------------------------------------------------------
# coverage
# ----------------------------------------------------------------------------------------------------------------


def test_triangle_covers_exactly_the_pixel_centres_inside() -> None:
    rng = np.random.default_rng(0)
    r = Renderer(np.array([[0, 1, 2]]))
    centres = pixel_centres()
    for _ in range(20):
        v = facing_triangle(rng)
        inside, ambiguous = polygon_inside(project(v), centres)
        got = mask_of(r, [v])
        assert inside.sum() > 0
        assert np.array_equal(got[~ambiguous], inside[~ambiguous])


def test_quad_coverage_and_depth() -> None:
    # A tilted quad (two triangles sharing a diagonal): no pixel lost on the diagonal, depth from the ray-plane hit.
    v = np.array([[-0.7, -0.5, 2.0], [0.6, -0.6, 2.6], [0.7, 0.55, 2.9], [-0.65, 0.6, 2.2]])
    f = np.array([[0, 2, 1], [0, 3, 2]])  # clockwise on screen = front side towards the camera
    r = Renderer(f)
    frags = r.rasterize([v], FOCAL, PRINCPT, H, W)
    centres = pixel_centres()
    inside, ambiguous = polygon_inside(project(v), centres)
    mask = frags.mask.numpy().reshape(-1)
    assert np.array_equal(mask[~ambiguous], inside[~ambiguous])
    # The quad is not planar: each pixel's depth is where its ray meets the plane of the face it shows.
    face = frags.face_ids.numpy().reshape(-1)
    rays = np.concatenate([(centres - PRINCPT) / FOCAL, np.ones((len(centres), 1))], 1)
    depth = frags.depth.numpy().reshape(-1)
    for i, tri in enumerate(v[f]):
        n = np.cross(tri[1] - tri[0], tri[2] - tri[0])
        sel = face == i
        np.testing.assert_allclose(depth[sel], (n @ tri[0]) / (rays[sel] @ n), rtol=1e-5)
    assert np.isinf(depth[~mask]).all()
    assert set(np.unique(frags.face_ids.numpy())) == {-1, 0, 1}
    assert set(np.unique(frags.mesh_ids.numpy())) == {-1, 0}


def test_each_mesh_uses_its_own_intrinsics() -> None:
    rng = np.random.default_rng(1)
    v = facing_triangle(rng)
    r = Renderer(np.array([[0, 1, 2]]))
    focals, pps = [(150.0, 150.0), (90.0, 95.0)], [(80.0, 60.0), (40.5, 70.2)]
    frags = r.rasterize([v, v + [0, 0, 5.0]], focals, pps, H, W)
    mesh = frags.mesh_ids.numpy().reshape(-1)
    centres = pixel_centres()
    in0, amb0 = polygon_inside(project(v, focals[0], pps[0]), centres)
    in1, amb1 = polygon_inside(project(v + [0, 0, 5.0], focals[1], pps[1]), centres)
    ok = ~(amb0 | amb1)
    assert np.array_equal((mesh == 0)[ok], in0[ok])  # the nearer mesh wins wherever it is
    assert np.array_equal((mesh == 1)[ok], (in1 & ~in0)[ok])


def test_back_faces_culled_unless_disabled() -> None:
    rng = np.random.default_rng(2)
    v = facing_triangle(rng)[[0, 2, 1]]  # now its back is towards the camera
    assert not mask_of(Renderer(np.array([[0, 1, 2]])), [v]).any()
    inside, ambiguous = polygon_inside(project(v), pixel_centres())
    got = mask_of(Renderer(np.array([[0, 1, 2]]), cull_backfaces=False), [v])
    assert np.array_equal(got[~ambiguous], inside[~ambiguous])


@pytest.mark.parametrize("shape", ["icosphere", "cube"])
def test_closed_mesh_has_no_holes_from_any_side(shape: str) -> None:
    v0, f = icosphere(2) if shape == "icosphere" else cube()
    assert signed_volume(v0, f) > 0
    rng = np.random.default_rng(3)
    r, r_all = Renderer(f), Renderer(f, cull_backfaces=False)
    centres = pixel_centres()
    rots = [np.eye(3), np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0])] + [rotation(rng) for _ in range(12)]
    for rot in rots:
        v = 0.5 * v0 @ rot.T + [rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), 3.0]
        uv = project(v)
        inside, ambiguous = polygon_inside(convex_hull(uv), centres)
        got = mask_of(r, [v])
        assert np.array_equal(got[~ambiguous], inside[~ambiguous])
        assert abs(int(got.sum()) - int(inside.sum())) <= 3
        assert np.array_equal(got, mask_of(r_all, [v]))  # culling removed only hidden faces


# ----------------------------------------------------------------------------------------------------------------
# depth, clipping, big faces
# ----------------------------------------------------------------------------------------------------------------


def test_nearer_mesh_occludes_farther_in_any_order() -> None:
    v, f = icosphere(2)
    near_s = 0.4 * v + [-0.1, 0.0, 2.5]
    far_s = 0.6 * v + [0.25, 0.05, 3.5]
    r = Renderer(f, alpha=1.0)
    img = gradient_image()
    colors = [(255, 0, 0), (0, 0, 255)]
    m_a = r.rasterize([near_s, far_s], FOCAL, PRINCPT, H, W).mesh_ids.numpy()
    m_b = r.rasterize([far_s, near_s], FOCAL, PRINCPT, H, W).mesh_ids.numpy()
    near_alone = mask_of(r, [near_s]).reshape(H, W)
    far_alone = mask_of(r, [far_s]).reshape(H, W)
    assert (near_alone & far_alone).sum() > 200  # they do overlap on screen
    np.testing.assert_array_equal(m_a == 0, near_alone)
    np.testing.assert_array_equal(m_b == 1, near_alone)
    np.testing.assert_array_equal(m_a == 1, far_alone & ~near_alone)
    out_a = r.render(img, [near_s, far_s], FOCAL, PRINCPT, colors=colors)
    out_b = r.render(img, [far_s, near_s], FOCAL, PRINCPT, colors=colors[::-1])
    np.testing.assert_array_equal(out_a, out_b)
    overlap = near_alone & far_alone
    assert (out_a[overlap][:, 0] > 0).all() and (out_a[overlap][:, 2] == 0).all()


def test_mesh_partly_outside_and_fully_outside() -> None:
    rng = np.random.default_rng(4)
    r = Renderer(np.array([[0, 1, 2]]))
    centres = pixel_centres()
    for _ in range(10):
        v = face_camera(facing_triangle(rng) * [3.0, 3.0, 1.0] + [rng.uniform(-1, 1), rng.uniform(-1, 1), 0.0])
        uv = project(v)
        assert ((uv < 0) | (uv > [W, H])).any()  # reaches outside the image
        inside, ambiguous = polygon_inside(project(v), centres)
        got = mask_of(r, [v])
        assert np.array_equal(got[~ambiguous], inside[~ambiguous])
    img = gradient_image()
    v, f = icosphere(1)
    for shift in ([50.0, 0, 3], [0, -40.0, 3], [0, 0, -3.0]):  # off to the right, above, behind the camera
        np.testing.assert_array_equal(render_meshes(img, [0.5 * v + shift], f, FOCAL, PRINCPT), img)


def test_faces_touching_the_near_plane_are_dropped() -> None:
    v, f = icosphere(2)
    v = 1.0 * v + [0.0, 0.0, 0.6]  # the camera is inside the sphere, part of which is behind it
    assert (v[:, 2] <= 0).any()
    r = Renderer(f, cull_backfaces=False)  # from inside, we see the back sides
    frags = r.rasterize([v], FOCAL, PRINCPT, H, W)
    behind = (v[f][:, :, 2] <= r.near).any(1)
    shown = np.unique(frags.face_ids.numpy())
    shown = shown[shown >= 0]
    assert len(shown) > 0 and not behind[shown].any()
    # Identical to rendering the mesh without those faces.
    assert frags.mask.numpy().mean() > 0.9
    ref = Renderer(f[~behind], cull_backfaces=False).rasterize([v], FOCAL, PRINCPT, H, W)
    np.testing.assert_array_equal(frags.mask.numpy(), ref.mask.numpy())
    np.testing.assert_array_equal(frags.depth.numpy(), ref.depth.numpy())


def test_close_up_faces_bigger_than_a_tile(monkeypatch: pytest.MonkeyPatch) -> None:
    # A quad filling the view right in front of the camera: every pixel covered, bands and chunks agree.
    v = np.array([[-3.0, -2.0, 0.5], [3.0, -2.0, 0.7], [3.0, 2.0, 0.9], [-3.0, 2.0, 0.6]])
    f = np.array([[0, 2, 1], [0, 3, 2]])
    r = Renderer(f)
    full = r.rasterize([v], FOCAL, PRINCPT, H, W)
    assert bool(full.mask.all())
    sphere_v, sphere_f = icosphere(2)
    sphere = 0.3 * sphere_v + [0.0, 0.0, 0.45]
    ref = Renderer(sphere_f).rasterize([sphere], FOCAL, PRINCPT, H, W)
    monkeypatch.setattr(render_mod, "_TILE_MAX", 37)
    monkeypatch.setattr(render_mod, "_CHUNK", 500)
    small = r.rasterize([v], FOCAL, PRINCPT, H, W)
    np.testing.assert_array_equal(small.face_ids.numpy(), full.face_ids.numpy())
    np.testing.assert_allclose(small.depth.numpy(), full.depth.numpy(), rtol=1e-6)  # band origins round apart
    got = Renderer(sphere_f).rasterize([sphere], FOCAL, PRINCPT, H, W)
    np.testing.assert_array_equal(got.face_ids.numpy(), ref.face_ids.numpy())


# ----------------------------------------------------------------------------------------------------------------
# image, shading, blending
# ----------------------------------------------------------------------------------------------------------------


def test_empty_list_returns_an_identical_copy() -> None:
    img = gradient_image()
    out = render_meshes(img, [], np.array([[0, 1, 2]]), FOCAL, PRINCPT)
    assert out is not img and out.dtype == np.uint8
    np.testing.assert_array_equal(out, img)
    out = Renderer(np.array([[0, 1, 2]])).render(img, [], FOCAL, PRINCPT)
    assert out is not img
    np.testing.assert_array_equal(out, img)


def test_inputs_not_modified() -> None:
    img = gradient_image()
    keep = img.copy()
    v, f = icosphere(1)
    mesh = 0.5 * v + [0, 0, 3.0]
    mesh_keep = mesh.copy()
    out = render_meshes(img, [mesh], f, FOCAL, PRINCPT)
    assert not np.array_equal(out, img)
    pts = np.array([[10.0, 10.0], [50.0, 40.0], [np.nan, 3.0]])
    out2 = draw_keypoints(img, pts, radius=3, color=(255, 0, 0), skeleton=[(0, 1), (1, 2)])
    out3 = draw_boxes(img, np.array([[5.0, 5.0, 60.0, 50.0]]), labels=["person"])
    for o in (out, out2, out3):
        assert o is not img and o.shape == img.shape and o.dtype == np.uint8
    np.testing.assert_array_equal(img, keep)
    np.testing.assert_array_equal(mesh, mesh_keep)
    # A non-contiguous view (e.g. BGR -> RGB flip) renders like its contiguous copy.
    bgr = img[..., ::-1]
    np.testing.assert_array_equal(render_meshes(bgr, [mesh], f, FOCAL, PRINCPT),
                                  render_meshes(np.ascontiguousarray(bgr), [mesh], f, FOCAL, PRINCPT))
    np.testing.assert_array_equal(img, keep)


def test_shading_brighter_where_facing_the_light() -> None:
    v, f = icosphere(3)
    sphere = 0.8 * v + [0.0, 0.0, 3.0]
    img = np.zeros((H, W, 3), np.uint8)
    for smooth in (True, False):
        # Light from the camera's right (+x): the right half of the sphere must be brighter than the left.
        out = render_meshes(img, [sphere], f, FOCAL, PRINCPT, colors=[(200, 200, 200)], alpha=1.0,
                            light_dir=(1.0, 0.0, -0.3), smooth=smooth)
        lum = out[..., 0].astype(float)
        cx, cy = int(PRINCPT[0]), int(PRINCPT[1])
        right, left = lum[cy - 3 : cy + 3, cx + 20 : cx + 30].mean(), lum[cy - 3 : cy + 3, cx - 30 : cx - 20].mean()
        assert right > left + 40
        assert left == pytest.approx(0.35 * 200, abs=2)  # unlit side: ambient only


def test_smooth_shading_matches_the_true_sphere_normals() -> None:
    v, f = icosphere(3)
    centre, radius = np.array([0.1, -0.05, 3.0]), 0.8
    light = np.array([0.3, -0.4, -1.0]) / np.linalg.norm([0.3, -0.4, -1.0])
    img = np.zeros((H, W, 3), np.uint8)
    rays = np.concatenate([(pixel_centres() - PRINCPT) / FOCAL, np.ones((H * W, 1))], 1)
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    b = rays @ centre
    disc = b**2 - (centre @ centre - radius**2)
    hit = disc > 0
    p = (b - np.sqrt(np.where(hit, disc, 0)))[:, None] * rays
    expect = 0.35 + 0.65 * np.clip(((p - centre) / radius) @ light, 0, None)
    errors = {}
    for smooth in (True, False):
        out = render_meshes(img, [radius * v + centre], f, FOCAL, PRINCPT, colors=[(255, 255, 255)], alpha=1.0,
                            light_dir=tuple(light), smooth=smooth)
        got = out[..., 0].reshape(-1) / 255.0
        sel = hit & (got > 0)
        assert sel.sum() > 0.9 * hit.sum()
        errors[smooth] = np.abs(got[sel] - expect[sel]).mean()
    assert errors[True] < 0.005
    assert errors[True] < 0.5 * errors[False]  # interpolated normals beat the facets


def test_facing_square_gets_exact_lambert_and_alpha_blend() -> None:
    v = np.array([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.5, 0.5, 2.0], [-0.5, 0.5, 2.0]])
    f = np.array([[0, 2, 1], [0, 3, 2]])  # front towards the camera: normal (0, 0, -1)
    img = gradient_image()
    color = (200, 100, 50)
    mask = mask_of(Renderer(f), [v]).reshape(H, W)
    # Light straight from the camera (full), from behind (ambient only), from 45 degrees below (cos 45).
    cases = (((0.0, 0.0, -1.0), 1.0), ((0.0, 0.0, 1.0), 0.35), ((0.0, 1.0, -1.0), 0.35 + 0.65 / 2**0.5))
    for light, intensity in cases:
        for alpha in (0.0, 0.4, 1.0):
            out = render_meshes(img, [v], f, FOCAL, PRINCPT, colors=[color], alpha=alpha, light_dir=light)
            expect = np.rint((1 - alpha) * img.astype(np.float64) + alpha * np.array(color) * intensity)
            np.testing.assert_allclose(out[mask], expect[mask], atol=1)
            np.testing.assert_array_equal(out[~mask], img[~mask])


def test_default_colours_distinct_and_renderer_reusable() -> None:
    v, f = icosphere(1)
    meshes = [0.3 * v + [x, 0.0, 3.0] for x in (-1.2, -0.4, 0.4, 1.2)]
    r = Renderer(f, alpha=1.0, light_dir=(0, 0, -1))
    img = np.zeros((H, W, 3), np.uint8)
    out = r.render(img, meshes, FOCAL, PRINCPT)
    frags = r.rasterize(meshes, FOCAL, PRINCPT, H, W)
    ids = frags.mesh_ids.numpy()
    centres = [tuple(out[ids == i].max(0)) for i in range(4)]
    assert len(set(centres)) == 4
    np.testing.assert_array_equal(r.render(img, meshes, FOCAL, PRINCPT), out)  # cached layouts change nothing
    one = r.render(img, meshes[:1], FOCAL, PRINCPT)
    np.testing.assert_array_equal(one[ids == 0], out[ids == 0])
    t = r.render(img, [torch.from_numpy(m) for m in meshes], np.array([FOCAL] * 4), np.array([PRINCPT] * 4))
    np.testing.assert_array_equal(t, out)


def test_face_colours_paint_each_triangle_and_match_mesh_colours_when_uniform() -> None:
    v = np.array([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.5, 0.5, 2.0], [-0.5, 0.5, 2.0]])
    f = np.array([[0, 2, 1], [0, 3, 2]])  # two triangles of a square facing the camera
    r = Renderer(f, alpha=1.0, light_dir=(0, 0, -1))  # full light: a pixel shows its triangle's colour exactly
    img = gradient_image()
    meshes = [v, v + [1.2, 0.0, 1.0]]
    frags = r.rasterize(meshes, FOCAL, PRINCPT, H, W)
    tints = [np.array([[255, 0, 0], [0, 0, 255]], np.float32), np.array([[0, 255, 0], [0, 255, 0]], np.float32)]
    out = r.render(img, meshes, FOCAL, PRINCPT, face_colors=tints)
    face = frags.face_ids.numpy()
    for g, rgb in enumerate([(255, 0, 0), (0, 0, 255), (0, 255, 0), (0, 255, 0)]):
        assert (face == g).sum() > 20
        np.testing.assert_array_equal(out[face == g], np.broadcast_to(rgb, out[face == g].shape))
    np.testing.assert_array_equal(out[face < 0], img[face < 0])
    # One colour per triangle of a mesh is exactly that mesh's colour, under any light and blend.
    r2 = Renderer(f, alpha=0.6)
    per_mesh = r2.render(img, meshes, FOCAL, PRINCPT, colors=[(200, 100, 50), (30, 60, 90)])
    per_face = r2.render(img, meshes, FOCAL, PRINCPT,
                         face_colors=[np.full((2, 3), c, np.float32) for c in ((200, 100, 50), (30, 60, 90))])
    np.testing.assert_array_equal(per_face, per_mesh)
    with pytest.raises(ValueError, match="face_colors"):
        r.render(img, meshes, FOCAL, PRINCPT, face_colors=tints[:1])
    with pytest.raises(ValueError, match="face_colors"):
        r.render(img, meshes, FOCAL, PRINCPT, face_colors=[tints[0], np.full((3, 3), 10.0)])


def test_invalid_inputs_rejected() -> None:
    v, f = icosphere(0)
    img = gradient_image()
    with pytest.raises(ValueError):
        render_meshes(img.astype(np.float32), [v + [0, 0, 3]], f, FOCAL, PRINCPT)
    with pytest.raises(ValueError):
        render_meshes(img, [v + [0, 0, 3]], f, [FOCAL, FOCAL], PRINCPT)  # two focals for one mesh
    with pytest.raises(ValueError):
        render_meshes(img, [v + [0, 0, 3]], f, (-100.0, 100.0), PRINCPT)
    with pytest.raises(ValueError):
        render_meshes(img, [v[:5]], f, FOCAL, PRINCPT)
    with pytest.raises(ValueError):
        Renderer(f.astype(np.float32))


# ----------------------------------------------------------------------------------------------------------------
# 2D annotations
# ----------------------------------------------------------------------------------------------------------------


def test_draw_keypoints_and_boxes() -> None:
    img = np.zeros((H, W, 3), np.uint8)
    pts = np.array([[20.0, 30.0], [100.0, 80.0], [np.inf, 0.0]])
    out = draw_keypoints(img, pts, radius=4, color=(255, 0, 0), skeleton=[(0, 1), (1, 2)])
    assert out[30, 20, 0] == 255 and out[80, 100, 0] == 255
    assert out[55, 60, 0] > 0  # on the bone between the two finite points
    assert out[..., 1:].max() == 0
    assert out[5:15, 140:155].max() == 0  # nothing far from the drawn points
    with pytest.raises(ValueError):
        draw_keypoints(img, pts, skeleton=[(0, 7)])
    boxes = np.array([[10.0, 20.0, 90.0, 100.0], [np.nan, 0, 1, 1]])
    out = draw_boxes(img, boxes, labels=["a", "b"], color=(0, 255, 0))
    assert out[60, 10, 1] > 0 and out[20, 50, 1] > 0  # left and top edges
    assert out[60, 50].max() == 0  # inside is not filled
    assert out[5:19, 10:30, 1].max() > 0  # label background above the box
    with pytest.raises(ValueError):
        draw_boxes(img, boxes, labels=["only one"])
