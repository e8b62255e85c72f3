"""License-free synthetic SMPL model derived from the synthetic SMPL-X model, plus its ``smplx2smpl.pkl``.

The real SMPL files are licensed; :func:`write_synthetic_smpl` adds a structurally identical stand-in to a
synthetic body folder (see :mod:`smplestx.synthetic.smplx_model`), deterministically from its SMPL-X files:

* ``smpl/SMPL_{NEUTRAL,MALE,FEMALE}.npz`` (optionally also ``.pkl``, chumpy-free, as smplx.create reads them):
  6890 vertices, 13776 faces (one closed genus-0 surface, F = 2V - 4, as SMPL), 24 joints, 10 shape and 207
  pose blend shapes, with the keys and dtypes of the official release.
* ``smplx2smpl.pkl``: ``{'matrix': (6890, 10475)}`` with a single 1 per row, mapping every SMPL vertex to the
  SMPL-X vertex it was taken from (a plain numpy pickle, read by ``read_array_pickle``).

Construction: the SMPL-X mesh without its eyeballs, its mouth opening closed and its head and body surfaces
joined into one surface, is decimated by edge collapses (shortest edge first; the surviving vertex keeps its
position, so every SMPL vertex *is* a SMPL-X vertex) to 6890 vertices. Vertices the joint regressor uses are
never removed, so SMPL joints 0-21 are exactly SMPL-X joints 0-21 (L_Hand / R_Hand: the mean of the four
finger-base joints of that hand). Skinning weights, shape and pose blend shapes are the SMPL-X ones of the
kept vertices (jaw / eyes folded into the head, fingers into the hand joint). Vertex ids are ordered so that
the ids smplx's SMPL layer reads directly (nose, eyes, ears, toes, heels, finger tips) sit at matching spots.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..body.model_files import load_smplx_arrays, resolve_model_dir
from ..body.smpl import SMPL_NUM_FACES, SMPL_NUM_JOINTS, SMPL_NUM_VERTICES, SMPL_PARENTS, SMPL_SUBDIR, SMPLX2SMPL_FILE
from .files import LazyArray, write_npz, write_pickle
from .skeleton import VERTEX_IDS as SMPLX_VERTEX_IDS

log = logging.getLogger(__name__)

__all__ = ["SMPL_VERTEX_IDS", "SyntheticSMPL", "make_synthetic_smpl", "write_synthetic_smpl"]

NUM_SHAPE = 10

#: Vertex ids smplx's SMPL layer reads directly off the mesh (smplx ``vertex_ids['smplh']``).
SMPL_VERTEX_IDS: dict[str, int] = {
    "nose": 332, "reye": 6260, "leye": 2800, "rear": 4071, "lear": 583,
    "rthumb": 6191, "rindex": 5782, "rmiddle": 5905, "rring": 6016, "rpinky": 6133,
    "lthumb": 2746, "lindex": 2319, "lmiddle": 2445, "lring": 2556, "lpinky": 2673,
    "LBigToe": 3216, "LSmallToe": 3226, "LHeel": 3387, "RBigToe": 6617, "RSmallToe": 6624, "RHeel": 6787,
}

_EYE_JOINTS = (23, 24)  # SMPL-X leye, reye
_HEAD, _JAW = 15, 22
_L_FINGERS, _R_FINGERS = range(25, 40), range(40, 55)
#: SMPL-X finger-base joints (index, middle, pinky, ring MCP) whose mean is SMPL's L_Hand / R_Hand.
_L_MCP, _R_MCP = (25, 28, 31, 34), (40, 43, 46, 49)


@dataclass(frozen=True)
class SyntheticSMPL:
    """The synthetic SMPL arrays per gender and ``source[i]``: the SMPL-X vertex SMPL vertex i was taken from."""

    arrays: dict[str, dict[str, np.ndarray]]
    source: np.ndarray

    def smplx2smpl(self, num_smplx_vertices: int, dtype: np.dtype | type = np.float64) -> np.ndarray:
        """The dense (6890, num_smplx_vertices) selection matrix of ``smplx2smpl.pkl``."""
        m = np.zeros((self.source.shape[0], num_smplx_vertices), dtype=dtype)
        m[np.arange(self.source.shape[0]), self.source] = 1
        return m


# ----------------------------------------------------------------------------------------------------------
# Mesh topology helpers


def _components(faces: np.ndarray, nv: int) -> np.ndarray:
    """Connected-component label of every vertex (union-find over the face edges)."""
    parent = list(range(nv))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, c in faces.tolist():
        ra, rb, rc = root(a), root(b), root(c)
        parent[rb] = ra
        parent[rc] = ra
    return np.array([root(i) for i in range(nv)], dtype=np.int64)


def _half_edges(faces: np.ndarray) -> np.ndarray:
    """Directed edges (3F, 2) of consistently wound triangles."""
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def _boundary_loops(faces: np.ndarray) -> list[list[int]]:
    """Boundary loops, each following the existing boundary half-edges."""
    he = {tuple(e) for e in _half_edges(faces).tolist()}
    nxt = {a: b for a, b in he if (b, a) not in he}
    loops: list[list[int]] = []
    seen: set[int] = set()
    for start in sorted(nxt):
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(loop)
    return loops


def _fill_loop(loop: list[int]) -> list[list[int]]:
    """Zig-zag triangulation (no new vertices) of a hole, wound to match the faces around it."""
    p = loop[::-1]  # the filling faces run along the boundary in the opposite direction
    out, i, j = [], 0, len(p) - 1
    step = 0
    while j - i >= 2:
        if step % 2 == 0:
            out.append([p[i], p[i + 1], p[j]])
            i += 1
        else:
            out.append([p[i], p[j - 1], p[j]])
            j -= 1
        step += 1
    return out


def _is_closed_manifold(faces: np.ndarray) -> bool:
    """True if every directed edge occurs once and its opposite once (closed, oriented 2-manifold edges)."""
    he = _half_edges(faces)
    key = he[:, 0] * (int(he.max()) + 1) + he[:, 1]
    rev = he[:, 1] * (int(he.max()) + 1) + he[:, 0]
    return bool(np.unique(key).size == key.size and np.isin(rev, key).all())


def _nearest(a: np.ndarray, b: np.ndarray, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """For each point of a (N, 3): index in b (M, 3) of the nearest point and the squared distance.

    Candidates come from one BLAS product; the final pick is recomputed exactly (ties: lowest index) so the
    result does not depend on the BLAS summation order.
    """
    k = min(k, b.shape[0])
    idx = np.empty(a.shape[0], dtype=np.int64)
    dist = np.empty(a.shape[0])
    # float32 is plenty to shortlist k candidates (mesh spacing >> its rounding); centred for accuracy.
    centre = b.mean(0)
    a32, b32 = (a - centre).astype(np.float32), (b - centre).astype(np.float32)
    bb = (b32 * b32).sum(1)
    step = 512
    for s in range(0, a.shape[0], step):
        blk = a[s:s + step]
        approx = a32[s:s + step] @ b32.T
        approx *= -2.0
        approx += bb
        cand = np.argpartition(approx, k - 1, axis=1)[:, :k]
        exact = ((blk[:, None, :] - b[cand]) ** 2).sum(-1)
        order = np.lexsort((cand, exact), axis=1)[:, 0]
        rows = np.arange(blk.shape[0])
        idx[s:s + step] = cand[rows, order]
        dist[s:s + step] = exact[rows, order]
    return idx, dist


def _join(verts: np.ndarray, faces: np.ndarray, comp_of_face: np.ndarray, a: int, b: int) -> np.ndarray:
    """Connect components a and b by a triangular tube between their closest faces (keeps genus 0, F = 2V - 4)."""
    fa, fb = np.nonzero(comp_of_face == a)[0], np.nonzero(comp_of_face == b)[0]
    ca, cb = verts[faces[fa]].mean(1), verts[faces[fb]].mean(1)
    # A pair closer than 5 cm lies in the overlap of the two bounding boxes grown by 5 cm: search only there.
    lo = np.maximum(ca.min(0), cb.min(0)) - 0.05
    hi = np.minimum(ca.max(0), cb.max(0)) + 0.05
    ina, inb = ((ca >= lo) & (ca <= hi)).all(1), ((cb >= lo) & (cb <= hi)).all(1)
    if ina.any() and inb.any():
        fa, ca, fb, cb = fa[ina], ca[ina], fb[inb], cb[inb]
    j, d = _nearest(ca, cb)
    i = int(np.lexsort((np.arange(d.size), d))[0])
    f1, f2 = int(fa[i]), int(fb[j[i]])
    p, q = faces[f1].tolist(), faces[f2].tolist()
    rest = np.delete(faces, [f1, f2], axis=0)
    # The tube must supply the removed faces' half-edges p_i->p_{i+1} and q_i->q_{i+1}: quads
    # (p_i, p_{i+1}, Q_{i+1}, Q_i) with Q walking q backwards. Pick the rotation with the shortest tube.
    options = []
    for s in range(3):
        qq = [q[(s - i) % 3] for i in range(3)]
        tube = []
        for i in range(3):
            a0, a1, b0, b1 = p[i], p[(i + 1) % 3], qq[i], qq[(i + 1) % 3]
            tube += [[a0, a1, b1], [a0, b1, b0]]
        length = sum(np.linalg.norm(verts[p[i]] - verts[qq[i]]) for i in range(3))
        cand = np.concatenate([rest, np.array(tube)])
        if _is_closed_manifold(cand):
            options.append((length, s, cand))
    if not options:
        raise RuntimeError("could not join the mesh components into one surface")
    return min(options, key=lambda o: o[:2])[2]


def _decimate(verts: np.ndarray, faces: np.ndarray, alive: np.ndarray, locked: np.ndarray, target: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Edge-collapse a closed manifold to ``target`` vertices; returns (kept vertex ids, faces in old ids)."""
    nv = verts.shape[0]
    flist = faces.tolist()
    f_alive = [True] * len(flist)
    vf: list[set[int]] = [set() for _ in range(nv)]
    for fi, tri in enumerate(flist):
        for v in tri:
            vf[v].add(fi)
    alive = alive.copy()
    n_alive = int(alive.sum())

    def nbrs(v: int) -> set[int]:
        s: set[int] = set()
        for fi in vf[v]:
            s.update(flist[fi])
        s.discard(v)
        return s

    pts = verts.tolist()  # plain floats: per-triangle numpy calls would dominate the run time

    def normal(tri: Iterable[int]) -> tuple[float, float, float]:
        (ax, ay, az), (bx, by, bz), (cx, cy, cz) = (pts[i] for i in tri)
        ux, uy, uz, wx, wy, wz = bx - ax, by - ay, bz - az, cx - ax, cy - ay, cz - az
        return uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx

    def dot(p: Iterable[float], q: Iterable[float]) -> float:
        return sum(x * y for x, y in zip(p, q))

    def dist2(a: int, b: int) -> float:
        return sum((x - y) ** 2 for x, y in zip(pts[a], pts[b]))

    def collapse_cost(u: int, v: int, shared: set[int]) -> float | None:
        """Squared distance of v from the planes of u's faces, or None if collapsing u into v is not allowed."""
        nu, nvv = nbrs(u), nbrs(v)
        opposite = {w for fi in shared for w in flist[fi]} - {u, v}
        if (nu & nvv) != opposite or len(opposite) != 2:  # link condition: stays a manifold
            return None
        if len(nu | nvv) - 2 < 3 or any(len(nbrs(w)) <= 3 for w in opposite):
            return None
        cost = 0.0
        for fi in vf[u] - shared:
            tri = flist[fi]
            n_old = normal(tri)
            n_new = normal([v if w == u else w for w in tri])
            sq_old, sq_new = dot(n_old, n_old), dot(n_new, n_new)
            # No flipped or (nearly) degenerate triangles.
            if sq_new < 1e-24 or dot(n_old, n_new) < 0.2 * (sq_old * sq_new) ** 0.5:
                return None
            move = [x - y for x, y in zip(pts[v], pts[u])]
            cost += dot(n_old, move) ** 2 / max(sq_old, 1e-30)
        return cost

    edges = np.unique(np.sort(_half_edges(faces), axis=1), axis=0)
    lengths = ((verts[edges[:, 0]] - verts[edges[:, 1]]) ** 2).sum(1)
    heap = list(zip(lengths.tolist(), edges[:, 0].tolist(), edges[:, 1].tolist()))
    heapq.heapify(heap)
    while n_alive > target and heap:
        _, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]):
            continue
        shared = vf[a] & vf[b]
        if len(shared) != 2:
            continue
        options = []
        for u, v in ((a, b), (b, a)):
            if not locked[u]:
                cost = collapse_cost(u, v, shared)
                if cost is not None:
                    options.append((cost, u, v))
        if not options:
            continue
        _, u, v = min(options)
        new_nbrs = nbrs(u) - nbrs(v) - {v}
        for fi in shared:
            f_alive[fi] = False
            for w in flist[fi]:
                vf[w].discard(fi)
        for fi in vf[u]:
            flist[fi] = [v if w == u else w for w in flist[fi]]
            vf[v].add(fi)
        vf[u] = set()
        alive[u] = False
        n_alive -= 1
        for w in new_nbrs:
            heapq.heappush(heap, (dist2(v, w), min(v, w), max(v, w)))
    if n_alive != target:
        raise RuntimeError(f"decimation stopped at {n_alive} vertices (target {target})")
    kept = np.nonzero(alive)[0]
    out = np.array([flist[i] for i in range(len(flist)) if f_alive[i]], dtype=np.int64)
    return kept, out


# ----------------------------------------------------------------------------------------------------------
# Model construction


def _smplx_arrays(model_dir: str | Path) -> dict[str, dict[str, np.ndarray]]:
    return {g: load_smplx_arrays(model_dir, g) for g in ("neutral", "male", "female")}


def _topology(x: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(source SMPL-X ids in SMPL order, SMPL faces, SMPL-X vertex standing in for each smplh vertex id)."""
    verts, faces, weights, jreg = x["v_template"], x["f"].astype(np.int64), x["weights"], x["J_regressor"]
    nv = verts.shape[0]
    labels = _components(faces, nv)
    eye_w = weights[:, list(_EYE_JOINTS)].sum(1)
    keep = np.ones(nv, dtype=bool)
    for lab in np.unique(labels):
        members = labels == lab
        if eye_w[members].mean() > 0.5:  # eyeball: SMPL has none
            keep &= ~members
    inside = keep[faces]
    if (inside.any(1) & ~inside.all(1)).any():
        raise RuntimeError("eyeball faces share vertices with the rest of the mesh")
    faces = faces[inside.all(1)]

    # Close every hole (the synthetic head's mouth opening), then join all surfaces into one.
    new_faces = [faces] + [np.array(_fill_loop(loop), dtype=np.int64) for loop in _boundary_loops(faces)]
    faces = np.concatenate(new_faces)
    while True:
        comp = labels[faces[:, 0]]
        comps, sizes = np.unique(comp, return_counts=True)
        if comps.size == 1:
            break
        order = np.argsort(-sizes, kind="stable")
        faces = _join(verts, faces, comp, int(comps[order[0]]), int(comps[order[1]]))
        labels = np.where(labels == comps[order[1]], comps[order[0]], labels)
    if not _is_closed_manifold(faces) or faces.shape[0] != 2 * int(keep.sum()) - 4:
        raise RuntimeError("the SMPL-X surface could not be made a closed genus-0 mesh")

    # Vertices the regressed joints use stay, so SMPL joints match SMPL-X joints exactly; and the SMPL-X
    # vertices that stand in for the ids smplx reads off a SMPL mesh.
    rows = list(range(22)) + list(_L_MCP) + list(_R_MCP)
    locked = (jreg[rows] != 0).any(0) & keep
    special: dict[str, int] = {}
    body = np.nonzero(keep)[0]
    for name, vid in SMPLX_VERTEX_IDS.items():
        if keep[vid]:
            special[name] = vid
        else:  # the SMPL-X eye points are on the eyeballs: take the closest socket vertex
            special[name] = int(body[np.argmin(((verts[body] - verts[vid]) ** 2).sum(1))])
    locked[list(special.values())] = True
    kept, sfaces = _decimate(verts, faces, keep, locked, SMPL_NUM_VERTICES)

    # SMPL order: the stand-ins at the smplh ids, every other kept vertex in SMPL-X order around them.
    src = np.full(SMPL_NUM_VERTICES, -1, dtype=np.int64)
    for name, vid in special.items():
        src[SMPL_VERTEX_IDS[name]] = vid
    rest = kept[~np.isin(kept, list(special.values()))]
    src[src < 0] = rest
    new_id = np.full(nv, -1, dtype=np.int64)
    new_id[src] = np.arange(SMPL_NUM_VERTICES)
    return src, new_id[sfaces], special


def _mirror_ids(v: np.ndarray) -> np.ndarray:
    """Index of the vertex nearest to each vertex's mirror image (x -> -x): SMPL's ``vert_sym_idxs``."""
    return _nearest(v * np.array([-1.0, 1.0, 1.0]), v)[0]


def _smpl_arrays(x: dict[str, np.ndarray], src: np.ndarray, faces: np.ndarray, sym: np.ndarray
                 ) -> dict[str, np.ndarray]:
    """One gender's SMPL arrays from its SMPL-X arrays (float64, faces uint32 as in the release)."""
    w = x["weights"][src]
    weights = np.zeros((SMPL_NUM_VERTICES, SMPL_NUM_JOINTS))
    weights[:, :22] = w[:, :22]
    weights[:, _HEAD] += w[:, [_JAW, *_EYE_JOINTS]].sum(1)
    weights[:, 22] = w[:, list(_L_FINGERS)].sum(1)
    weights[:, 23] = w[:, list(_R_FINGERS)].sum(1)

    jx = x["J_regressor"][:, src]
    hands = [jx[list(mcp)].mean(0, keepdims=True) for mcp in (_L_MCP, _R_MCP)]
    jreg = np.concatenate([jx[:22], *hands])

    # Pose blend shapes: SMPL-X body joints 1-21 as they are; a hand joint bends like its four finger bases.
    px = x["posedirs"][src]  # (V, 3, 486): 9 columns per joint 1..54
    hand_dirs = [np.mean([px[:, :, 9 * (j - 1):9 * j] for j in mcp], axis=0) for mcp in (_L_MCP, _R_MCP)]
    posedirs = np.concatenate([px[:, :, :9 * 21], *hand_dirs], axis=2)

    v_template = x["v_template"][src]
    kintree = np.stack([SMPL_PARENTS.copy(), np.arange(SMPL_NUM_JOINTS)])
    kintree[0, 0] = 4294967295  # the official files store the root's parent as uint32(-1)
    return {
        "v_template": v_template,
        "f": faces.astype(np.uint32),
        "J_regressor": jreg,
        "J_regressor_prior": jreg.copy(),
        "J": jreg @ v_template,
        "weights": weights,
        "weights_prior": weights.copy(),
        "kintree_table": kintree.astype(np.int64),
        "shapedirs": np.ascontiguousarray(x["shapedirs"][src, :, :NUM_SHAPE]),
        "posedirs": np.ascontiguousarray(posedirs),
        "vert_sym_idxs": sym,
    }


def make_synthetic_smpl(model_dir: str | Path) -> SyntheticSMPL:
    """Build (without writing) the synthetic SMPL model of the synthetic SMPL-X model in ``model_dir``."""
    return _make(_smplx_arrays(model_dir))


def _make(x: dict[str, dict[str, np.ndarray]]) -> SyntheticSMPL:
    src, faces, _ = _topology(x["neutral"])
    if faces.shape[0] != SMPL_NUM_FACES:
        raise RuntimeError(f"synthetic SMPL has {faces.shape[0]} faces, expected {SMPL_NUM_FACES}")
    sym = _mirror_ids(x["neutral"]["v_template"][src])
    arrays = {g: _smpl_arrays(x[g], src, faces, sym) for g in ("neutral", "male", "female")}
    return SyntheticSMPL(arrays=arrays, source=src)


# ----------------------------------------------------------------------------------------------------------
# Writing


def _selection_chunks(source: np.ndarray, num_cols: int, dtype: np.dtype) -> Callable[[], Iterator[bytes]]:
    """Row blocks (C order) of the one-hot matrix with a 1 at (i, source[i])."""
    def gen() -> Iterator[bytes]:
        for s in range(0, source.shape[0], 256):
            block = np.zeros((min(256, source.shape[0] - s), num_cols), dtype=dtype)
            block[np.arange(block.shape[0]), source[s:s + 256]] = 1
            yield block.tobytes()
    return gen


def _root(model_dir: str | Path) -> Path:
    """The human-model root (the folder holding ``smplx/``) of a synthetic body folder."""
    folder = resolve_model_dir(model_dir)
    return folder.parent if folder.name == "smplx" else folder


def write_synthetic_smpl(
    model_dir: str | Path,
    *,
    formats: tuple[str, ...] = ("npz",),
    matrix_dtype: np.dtype | type = np.float64,
) -> Path:
    """Add ``smpl/SMPL_{NEUTRAL,MALE,FEMALE}.{formats}`` and ``smplx2smpl.pkl`` to a synthetic body folder.

    ``model_dir`` is the folder ``write_synthetic_body`` was given (or its ``smplx`` subfolder); the SMPL files go
    to ``model_dir/smpl`` (returned) and ``smplx2smpl.pkl`` next to ``smplx/``, where the reference reads it.
    ``formats`` may add chumpy-free ``.pkl`` copies (what ``smplx.create(model_dir, "smpl")`` reads);
    ``matrix_dtype`` is the dtype of the stored mapping matrix.
    """
    bad = set(formats) - {"npz", "pkl"}
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty subset of ('npz', 'pkl'), got {formats!r}")
    root = _root(model_dir)
    x = _smplx_arrays(root)
    model = _make(x)
    folder = root / SMPL_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    for gender, arrays in model.arrays.items():
        name = f"SMPL_{gender.upper()}"
        if "npz" in formats:
            write_npz(folder / f"{name}.npz", arrays)
        if "pkl" in formats:
            # As a chumpy-free release pickle: plain arrays (dense J_regressor) and the release's two strings.
            write_pickle(folder / f"{name}.pkl", {**arrays, "bs_style": "lbs", "bs_type": "lrotmin"})
    num_smplx = x["neutral"]["v_template"].shape[0]
    dtype = np.dtype(matrix_dtype)
    matrix = LazyArray((SMPL_NUM_VERTICES, num_smplx), dtype, _selection_chunks(model.source, num_smplx, dtype))
    write_pickle(root / SMPLX2SMPL_FILE, {"matrix": matrix})
    log.info("wrote a synthetic SMPL model to %s and %s", folder, root / SMPLX2SMPL_FILE)
    return folder
