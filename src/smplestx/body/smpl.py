"""SMPL body model (6890 vertices, 24 joints) as a batched, differentiable torch module, and its file reader.

Used for ground truth given as SMPL parameters (3DPW): :class:`SMPLModel` poses the model, the evaluation maps
SMPL-X predictions onto its topology (``smplestx.evaluate.smpl_metrics``). Files are found as smplx 0.1.28
looks for them (``DIR/smpl/SMPL_{GENDER}.pkl``), plus ``.npz`` and the original release names
(``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl``, ``basicmodel_m_lbs_10_207_0_v1.1.0.pkl``, ...).

The original SMPL ``.pkl`` files hold chumpy objects; they are refused (nothing from them is executed) with a
message giving the one-off conversion to ``.npz`` (:data:`CONVERT_COMMAND`). ``.npz`` files and chumpy-free
``.pkl`` files (plain numpy arrays; a scipy sparse ``J_regressor`` is read as plain data) are supported.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from .layer import BodyLayerMixin, _kinematic_levels, _no_autocast, axis_angle_to_matrix_minus_identity, shape_basis
from .model_files import GENDERS, BodyModelFileError, NumpyOnlyUnpickler, UnsafePickleError, typed_arrays

log = logging.getLogger(__name__)

__all__ = [
    "CONVERT_COMMAND",
    "SMPL_JOINT_NAMES",
    "SMPL_NUM_FACES",
    "SMPL_NUM_JOINTS",
    "SMPL_NUM_VERTICES",
    "SMPL_PARENTS",
    "SMPLX2SMPL_FILE",
    "SMPLModel",
    "SMPLOutput",
    "check_smpl_arrays",
    "find_smpl_file",
    "load_smpl_arrays",
    "smpl_file_names",
]

SMPL_NUM_VERTICES = 6890
SMPL_NUM_FACES = 13776
SMPL_NUM_JOINTS = 24
SMPL_SUBDIR = "smpl"
#: The SMPL-X -> SMPL vertex map of the SMPLest-X human_model_files ({'matrix': (6890, 10475)}).
SMPLX2SMPL_FILE = "smplx2smpl.pkl"
SMPL_JOINT_NAMES: tuple[str, ...] = (
    "Pelvis", "L_Hip", "R_Hip", "Spine_1", "L_Knee", "R_Knee", "Spine_2", "L_Ankle", "R_Ankle", "Spine_3",
    "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow",
    "R_Elbow", "L_Wrist", "R_Wrist", "L_Hand", "R_Hand",
)
#: Parent of each SMPL joint (-1 for the root): SMPL-X's first 22 joints plus a hand joint on each wrist.
SMPL_PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21], dtype=np.int64
)
_NUM_POSE_BASIS = 9 * (SMPL_NUM_JOINTS - 1)

DOWNLOAD_HINT = (
    "download SMPL from https://smpl.is.tue.mpg.de (licence: non-commercial) or generate a synthetic one with "
    "smplestx.synthetic.smpl_model.write_synthetic_smpl(DIR)"
)
#: One-off conversion of an original (chumpy) SMPL .pkl to the .npz this reader wants; run it where chumpy and
#: scipy are installed (they are needed only to unpickle the original file).
CONVERT_COMMAND = (
    "python -c \"import pickle,sys,numpy as np; d=pickle.load(open(sys.argv[1],'rb'),encoding='latin1'); "
    "np.savez(sys.argv[2],**{k:(d[k].toarray() if hasattr(d[k],'toarray') else np.array(d[k])) for k in "
    "('v_template','f','J_regressor','weights','kintree_table','shapedirs','posedirs')})\" "
    "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl SMPL_NEUTRAL.npz"
)

#: Keys read from a SMPL file (other keys, e.g. ``bs_style`` or ``pose_training_info``, are never touched).
REQUIRED_KEYS = ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs")
_INT_KEYS = ("f", "kintree_table")

# Original release names (SMPLify / SMPL v1.0.0 mix upper and lower case; v1.1.0 is lower case). Matching is
# case-insensitive.
_RELEASE_NAMES = {
    "neutral": ("basicmodel_neutral_lbs_10_207_0_v1.0.0", "basicmodel_neutral_lbs_10_207_0_v1.1.0"),
    "male": ("basicmodel_m_lbs_10_207_0_v1.0.0", "basicmodel_m_lbs_10_207_0_v1.1.0"),
    "female": ("basicmodel_f_lbs_10_207_0_v1.0.0", "basicmodel_f_lbs_10_207_0_v1.1.0"),
}


# ----------------------------------------------------------------------------------------------------------
# Files


def _check_gender(gender: str) -> str:
    g = gender.lower()
    if g not in GENDERS:
        raise ValueError(f"unknown gender {gender!r}; expected one of {', '.join(GENDERS)}")
    return g


def smpl_file_names(gender: str) -> tuple[str, ...]:
    """File names accepted for a gender, most preferred first (.npz before .pkl: it needs no unpickling)."""
    g = _check_gender(gender)
    stems = (f"SMPL_{g.upper()}",) + _RELEASE_NAMES[g]
    return tuple(f"{s}.{ext}" for s in stems for ext in ("npz", "pkl"))


def _search_dirs(path: Path) -> list[Path]:
    """Folders that may hold the SMPL files for a user-given folder (smplx.create looks in ``DIR/smpl``)."""
    dirs = [path / SMPL_SUBDIR, path]
    if path.name.lower() == "smplx":  # the SMPL-X folder itself was given: its sibling
        dirs.append(path.parent / SMPL_SUBDIR)
    return dirs


def find_smpl_file(model_dir: str | Path, gender: str = "neutral") -> Path:
    """Path of the SMPL model of ``gender`` in ``model_dir/smpl`` or ``model_dir`` (``model_dir`` if a file)."""
    p = Path(model_dir).expanduser()
    if p.is_file():
        return p
    names = smpl_file_names(gender)
    wanted = {n.lower(): i for i, n in enumerate(names)}
    dirs = _search_dirs(p)
    for folder in dirs:
        if not folder.is_dir():
            continue
        hits = sorted((wanted[q.name.lower()], q) for q in folder.iterdir()
                      if q.name.lower() in wanted and q.is_file())
        if hits:
            return hits[0][1]
    release = " / ".join(_RELEASE_NAMES[gender.lower()])
    raise BodyModelFileError(
        f"no SMPL {gender.lower()} model found: looked for {names[0][:-4]}.npz / .pkl (or {release} .pkl, any "
        f"case) in {', '.join(str(d) for d in dirs)}; {DOWNLOAD_HINT}"
    )


class _SparseState:
    """Inert stand-in for a pickled scipy sparse matrix: keeps its attribute dict, runs no scipy code."""

    fmt = ""
    state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and state[0] is None:  # (None, slotstate) form
            state = state[1]
        if not isinstance(state, dict):
            raise UnsafePickleError(f"unexpected pickled sparse-matrix state of type {type(state).__name__}")
        self.state = state

    def to_dense(self) -> np.ndarray:
        """The matrix as a dense float64 array (csc / csr / coo layouts)."""
        s = self.state
        shape = tuple(int(x) for x in s.get("_shape", s.get("shape", ())))
        if len(shape) != 2:
            raise ValueError(f"sparse matrix without a 2-d shape ({shape})")
        data = np.asarray(s["data"], dtype=np.float64)
        out = np.zeros(shape, dtype=np.float64)
        if self.fmt == "coo":
            np.add.at(out, (np.asarray(s["row"], dtype=np.int64), np.asarray(s["col"], dtype=np.int64)), data)
            return out
        indices, indptr = np.asarray(s["indices"], dtype=np.int64), np.asarray(s["indptr"], dtype=np.int64)
        major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        if self.fmt == "csc":  # indptr runs over columns, indices are rows
            np.add.at(out, (indices, major), data)
        else:
            np.add.at(out, (major, indices), data)
        return out


# One placeholder type per layout: NEWOBJ needs a real type, and creates it without running any scipy code.
_SPARSE_TYPES: dict[str, type[_SparseState]] = {
    fmt: type(f"_{fmt.capitalize()}State", (_SparseState,), {"fmt": fmt}) for fmt in ("csc", "csr", "coo")
}
_SPARSE_NAMES = {"csc_matrix": "csc", "csr_matrix": "csr", "coo_matrix": "coo",
                 "csc_array": "csc", "csr_array": "csr", "coo_array": "coo"}


def _safe_reconstructor(cls: Any, base: Any, _state: Any) -> _SparseState:
    """``copyreg._reconstructor`` limited to the sparse placeholders (protocol 0/1 pickles)."""
    if not (isinstance(cls, type) and issubclass(cls, _SparseState)) or base is not object:
        raise UnsafePickleError("the pickle reconstructs an object that is not a sparse matrix")
    return cls.__new__(cls)


class _SMPLUnpickler(NumpyOnlyUnpickler):
    """Numpy-only unpickler that also reads scipy sparse matrices as plain data and refuses chumpy clearly."""

    def refusal(self, detail: str) -> str:  # noqa: D102 - wording for SMPL files
        return f"{self._path}: refused to load: {detail}; convert the model to .npz: {CONVERT_COMMAND}"

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - pickle hook
        if module.split(".")[0] == "chumpy":
            raise UnsafePickleError(
                f"{self._path}: holds chumpy objects (the original SMPL release format), which are not loaded "
                f"(nothing was executed); convert it once to .npz where chumpy is installed: {CONVERT_COMMAND}"
            )
        if module.startswith("scipy.sparse") and name in _SPARSE_NAMES:
            return _SPARSE_TYPES[_SPARSE_NAMES[name]]
        if (module, name) in (("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")):
            return _safe_reconstructor
        if (module, name) in (("__builtin__", "object"), ("builtins", "object")):
            return object  # only ever the `base` argument of _safe_reconstructor
        return super().find_class(module, name)


def _load_pickle(path: Path) -> Any:
    with open(path, "rb") as fh:
        try:
            return _SMPLUnpickler(fh, path).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError) as exc:
            raise BodyModelFileError(f"{path}: not a readable SMPL pickle ({exc}); {DOWNLOAD_HINT}") from None


def _plain_array(key: str, value: Any, path: Path) -> np.ndarray:
    """One model array as a plain numeric ndarray (sparse stand-ins densified)."""
    if isinstance(value, _SparseState):
        try:
            return value.to_dense()
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            raise BodyModelFileError(f"{path}: array '{key}' is an unreadable sparse matrix ({exc})") from None
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return value
    raise BodyModelFileError(
        f"{path}: '{key}' is a {type(value).__name__}, not a numeric array; convert the model to .npz: "
        f"{CONVERT_COMMAND}"
    )


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in REQUIRED_KEYS if k not in npz.files]
            if missing:
                raise BodyModelFileError(f"{path}: required array(s) {', '.join(missing)} missing; {DOWNLOAD_HINT}")
            for key in REQUIRED_KEYS:
                try:
                    arrays[key] = npz[key]
                except ValueError:
                    # allow_pickle=False refuses object arrays, e.g. a scipy sparse J_regressor saved as is.
                    raise BodyModelFileError(
                        f"{path}: array '{key}' is stored as a pickled object (e.g. a scipy sparse matrix); "
                        f"save it as a dense array (.toarray())"
                    ) from None
    except BodyModelFileError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise BodyModelFileError(f"{path}: cannot be read as a plain .npz ({exc}); {DOWNLOAD_HINT}") from None
    return arrays


def _read_pkl(path: Path) -> dict[str, np.ndarray]:
    obj = _load_pickle(path)
    if not isinstance(obj, dict):
        raise BodyModelFileError(f"{path}: holds a {type(obj).__name__}, not a dict of model arrays; {DOWNLOAD_HINT}")
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise BodyModelFileError(f"{path}: required array(s) {', '.join(missing)} missing; {DOWNLOAD_HINT}")
    return {k: _plain_array(k, obj[k], path) for k in REQUIRED_KEYS}


def check_smpl_arrays(a: Mapping[str, np.ndarray], path: Path | str = "SMPL arrays") -> None:
    """Raise BodyModelFileError unless the arrays form a consistent SMPL model (24 joints, 207 pose blend shapes)."""
    v = np.asarray(a["v_template"])
    if v.ndim != 2 or v.shape[1] != 3:
        raise BodyModelFileError(f"{path}: array 'v_template' has shape {v.shape}, expected (V, 3); {DOWNLOAD_HINT}")
    nv, nj = v.shape[0], SMPL_NUM_JOINTS
    expected = {
        "f": ("(F, 3)", lambda x: x.ndim == 2 and x.shape[1] == 3),
        "J_regressor": (f"({nj}, {nv})", lambda x: x.shape == (nj, nv)),
        "weights": (f"({nv}, {nj})", lambda x: x.shape == (nv, nj)),
        "kintree_table": (f"(2, {nj})", lambda x: x.shape == (2, nj)),
        "shapedirs": (f"({nv}, 3, C)", lambda x: x.ndim == 3 and x.shape[:2] == (nv, 3) and x.shape[2] >= 1),
        "posedirs": (f"({nv}, 3, {_NUM_POSE_BASIS})", lambda x: x.shape == (nv, 3, _NUM_POSE_BASIS)),
    }
    for key, (text, ok) in expected.items():
        arr = np.asarray(a[key])
        if not ok(arr):
            raise BodyModelFileError(
                f"{path}: array '{key}' has shape {arr.shape}, expected {text}; the file is not a SMPL model "
                f"(24 joints); {DOWNLOAD_HINT}"
            )
    f = np.asarray(a["f"])
    if f.size and (f.min() < 0 or f.max() >= nv):
        raise BodyModelFileError(f"{path}: array 'f' holds vertex ids outside 0..{nv - 1}; {DOWNLOAD_HINT}")
    parents = np.asarray(a["kintree_table"])[0, 1:]
    if parents.min() < 0 or parents.max() >= nj:
        raise BodyModelFileError(f"{path}: kintree_table holds parents outside 0..{nj - 1}; {DOWNLOAD_HINT}")


def load_smpl_arrays(model_dir: str | Path, gender: str = "neutral") -> dict[str, np.ndarray]:
    """Read and validate a SMPL model (floats as float64, ids as int64) found by :func:`find_smpl_file`."""
    path = find_smpl_file(model_dir, gender)
    raw = _read_npz(path) if path.suffix.lower() == ".npz" else _read_pkl(path)
    arrays = typed_arrays(raw, path, _INT_KEYS)
    check_smpl_arrays(arrays, path)
    log.debug("loaded SMPL model %s", path)
    return arrays


# ----------------------------------------------------------------------------------------------------------
# Layer


def _refresh_after_load(module: "SMPLModel", _incompatible_keys: object) -> None:
    """load_state_dict post-hook (module level so that the model stays picklable)."""
    module._refresh_derived()


@dataclass
class SMPLOutput:
    """Result of :class:`SMPLModel`: posed vertices (B, V, 3) and the 24 posed kinematic joints (B, 24, 3)."""

    vertices: Tensor
    joints: Tensor


class SMPLModel(BodyLayerMixin, nn.Module):
    """SMPL layer: axis-angle (or rotation-matrix) pose and shape to mesh and 24 joints, as smplx's SMPL."""

    #: Bodies per block for the vertex stage on CPU (None: no blocking).
    chunk_size: int | None = 64

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        *,
        num_betas: int = 10,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        gender: str = "neutral",
    ) -> None:
        super().__init__()
        check_smpl_arrays(arrays)
        self.gender = gender
        v_template = np.asarray(arrays["v_template"], dtype=np.float64)
        shapedirs = np.asarray(arrays["shapedirs"], dtype=np.float64)
        if num_betas < 0:
            raise ValueError("num_betas must be >= 0")
        if num_betas > shapedirs.shape[-1]:
            log.warning("the SMPL model has %d shape components; using %d instead of %d",
                        shapedirs.shape[-1], shapedirs.shape[-1], num_betas)
            num_betas = shapedirs.shape[-1]
        self.num_betas = num_betas
        self.num_vertices = v_template.shape[0]
        self.num_joints = SMPL_NUM_JOINTS
        parents = np.asarray(arrays["kintree_table"], dtype=np.int64)[0].copy()
        parents[0] = -1
        faces = np.asarray(arrays["f"], dtype=np.int64)
        self._faces_np = faces

        def buf(name: str, value: np.ndarray, *, integer: bool = False, persistent: bool = True) -> None:
            t = torch.as_tensor(np.ascontiguousarray(value), dtype=torch.long if integer else dtype, device=device)
            self.register_buffer(name, t, persistent=persistent)

        buf("v_template", v_template)
        buf("shapedirs", shapedirs[:, :, :num_betas])
        # (207, 3, V): pose features to vertex offsets, coordinate-major so skinning works on contiguous rows.
        buf("posedirs", np.asarray(arrays["posedirs"], dtype=np.float64).transpose(2, 1, 0))
        buf("J_regressor", np.asarray(arrays["J_regressor"], dtype=np.float64))
        buf("lbs_weights", np.asarray(arrays["weights"], dtype=np.float64))
        buf("parents", parents, integer=True)
        buf("faces", faces, integer=True)
        for name, value in self._derived_values():
            self.register_buffer(name, value.to(dtype), persistent=False)
        self.register_load_state_dict_post_hook(_refresh_after_load)
        order, parent_pos, starts = _kinematic_levels(parents)
        self._level_starts = starts
        buf("_fk_order", order, integer=True, persistent=False)
        buf("_fk_parent_pos", parent_pos, integer=True, persistent=False)
        buf("_fk_inverse", np.argsort(order), integer=True, persistent=False)

    def _derived_values(self) -> list[tuple[str, Tensor]]:
        """Shape basis / offset giving rest vertices and rest joints in one GEMM (computed in float64)."""
        f64 = torch.float64
        basis, offset = shape_basis(self.J_regressor.to(f64), self.v_template.to(f64), self.shapedirs.to(f64))
        return [("_shape_basis", basis), ("_shape_offset", offset)]

    @torch.no_grad()
    def _refresh_derived(self) -> None:
        """Recompute the derived buffers after the stored ones changed (load_state_dict)."""
        for name, value in self._derived_values():
            getattr(self, name).copy_(value)

    @classmethod
    def from_dir(
        cls,
        model_dir: str | Path,
        gender: str = "neutral",
        *,
        num_betas: int = 10,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> "SMPLModel":
        """Build the layer from ``SMPL_{GENDER}.{npz,pkl}`` (or a release name) in ``model_dir/smpl`` or ``model_dir``.

        ``model_dir`` may also be the file itself or the ``smplx`` folder next to ``smpl``.
        """
        g = _check_gender(gender)
        arrays = load_smpl_arrays(model_dir, g)
        return cls(arrays, num_betas=num_betas, dtype=dtype, device=device, gender=g)

    def extra_repr(self) -> str:
        return f"gender={self.gender}, num_betas={self.num_betas}, vertices={self.num_vertices}, joints=24"

    def regress_joints(self, vertices: Tensor) -> Tensor:
        """``J_regressor @ vertices`` for (B, V, 3) meshes: the 24 joints evaluation code reads off a mesh."""
        return torch.einsum("jv,bvc->bjc", self.J_regressor.to(vertices.dtype), vertices)

    # -------------------------------------------------------------------------------------------------- forward

    def _pose(self, x: Tensor | None, name: str, joints: int, batch: int, pose2rot: bool) -> Tensor:
        """Pose input as (B, joints, 3, 3) rotations minus identity (zero pose where None)."""
        part = self._pose_part(x, name, joints, batch, pose2rot)
        if part is None:
            return self.v_template.new_zeros(batch, joints, 3, 3)
        if pose2rot:
            return axis_angle_to_matrix_minus_identity(part)
        return part - torch.eye(3, dtype=part.dtype, device=part.device)

    def forward(
        self,
        betas: Tensor | None = None,
        body_pose: Tensor | None = None,
        global_orient: Tensor | None = None,
        transl: Tensor | None = None,
        *,
        pose2rot: bool = True,
    ) -> SMPLOutput:
        """Pose the body: betas (B, <=num_betas), body_pose (B, 69), global_orient (B, 3), transl (B, 3); None: 0."""
        given = {n: v for n, v in (("betas", betas), ("body_pose", body_pose), ("global_orient", global_orient),
                                   ("transl", transl)) if v is not None}
        dtype, device = self.v_template.dtype, self.v_template.device
        # Inputs follow the module: cast once here, the body math below never leaves the buffer dtype.
        given = {k: torch.as_tensor(v).to(device=device, dtype=dtype) for k, v in given.items()}
        batch = self._batch(given)
        with _no_autocast(device):
            return self._forward(given, batch, pose2rot)

    def _forward(self, given: dict[str, Tensor], batch: int, pose2rot: bool) -> SMPLOutput:
        eye = torch.eye(3, dtype=self.v_template.dtype, device=self.v_template.device)
        rot_minus_eye = torch.cat(
            (self._pose(given.get("global_orient"), "global_orient", 1, batch, pose2rot),
             self._pose(given.get("body_pose"), "body_pose", SMPL_NUM_JOINTS - 1, batch, pose2rot)),
            dim=1,
        )
        rots = rot_minus_eye + eye

        b = self._coeffs(given.get("betas"), "betas", self.num_betas, batch)

        nv3 = 3 * self.num_vertices
        shaped = torch.addmm(self._shape_offset, b, self._shape_basis)
        v_shaped = shaped[:, :nv3]
        rest_joints = shaped[:, nv3:].reshape(batch, SMPL_NUM_JOINTS, 3)
        pose_feature = rot_minus_eye[:, 1:].reshape(batch, -1)

        glob_rot, glob_pos = self._forward_kinematics(rots, rest_joints)
        # Skinning transforms relative to the rest pose: x -> R_j x + (p_j - R_j J_j).
        offset = glob_pos - (glob_rot @ rest_joints.unsqueeze(-1)).squeeze(-1)
        rel = torch.cat((glob_rot, offset.unsqueeze(-1)), dim=-1)  # (B, 24, 3, 4)
        step = self.chunk_size if (self.chunk_size and self.v_template.device.type == "cpu") else batch
        if batch <= step:
            vertices = self._skin(v_shaped, pose_feature, rel)
        else:
            # Blocks keep the per-vertex blended transforms in cache on CPU; same math for every block.
            vertices = torch.cat([self._skin(v_shaped[i:i + step], pose_feature[i:i + step], rel[i:i + step])
                                  for i in range(0, batch, step)])
        joints = glob_pos
        t = given.get("transl")
        if t is not None:
            t = t.reshape(-1, 1, 3)
            vertices = vertices + t
            joints = joints + t
        return SMPLOutput(vertices=vertices, joints=joints)
