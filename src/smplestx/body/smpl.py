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
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from torch import Tensor

from ..geometry.rotations import axis_angle_to_rotmat_minus_identity
from .base import BodyLayer
from .model_files import GENDERS, BodyModelFileError, NumpyOnlyUnpickler, UnsafePickleError, typed_arrays
from .skinning import no_autocast, shape_basis, translate

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


@dataclass
class SMPLOutput:
    """Result of :class:`SMPLModel`: posed vertices (B, V, 3) and the 24 posed kinematic joints (B, 24, 3)."""

    vertices: Tensor
    joints: Tensor


class SMPLModel(BodyLayer):
    """SMPL layer: axis-angle (or rotation-matrix) pose and shape to mesh and 24 joints, as smplx's SMPL."""

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        *,
        num_betas: int = 10,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        gender: str = "neutral",
    ) -> None:
        super().__init__(dtype, device)
        check_smpl_arrays(arrays)
        self.gender = gender
        shapedirs = np.asarray(arrays["shapedirs"], dtype=np.float64)
        if num_betas < 0:
            raise ValueError("num_betas must be >= 0")
        if num_betas > shapedirs.shape[-1]:
            log.warning("the SMPL model has %d shape components; using %d instead of %d",
                        shapedirs.shape[-1], shapedirs.shape[-1], num_betas)
            num_betas = shapedirs.shape[-1]
        self.num_betas = num_betas
        self.num_joints = SMPL_NUM_JOINTS
        parents = np.asarray(arrays["kintree_table"], dtype=np.int64)[0].copy()
        parents[0] = -1
        self._register_common(arrays, parents, np.asarray(arrays["f"], dtype=np.int64))
        self._buf("shapedirs", shapedirs[:, :, :num_betas])
        self._register_derived()

    def _derived_values(self) -> Iterator[tuple[str, Tensor, bool]]:  # noqa: D102 - see BodyLayer
        f64 = torch.float64
        basis, offset = shape_basis(self.J_regressor.to(f64), self.v_template.to(f64), self.shapedirs.to(f64))
        yield "_shape_basis", basis, False
        yield "_shape_offset", offset, False

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
            return axis_angle_to_rotmat_minus_identity(part)
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
        # Inputs follow the module: cast once here, the body math below never leaves the buffer dtype.
        given, batch = self._cast_inputs(
            {"betas": betas, "body_pose": body_pose, "global_orient": global_orient, "transl": transl}
        )
        with no_autocast(self.device):
            rot_minus_eye = torch.cat(
                (self._pose(given.get("global_orient"), "global_orient", 1, batch, pose2rot),
                 self._pose(given.get("body_pose"), "body_pose", SMPL_NUM_JOINTS - 1, batch, pose2rot)),
                dim=1,
            )
            posed = self._skin(rot_minus_eye, self._coeffs(given.get("betas"), "betas", self.num_betas, batch))
            vertices, joints = translate(given.get("transl"), posed.vertices, posed.joints)
        return SMPLOutput(vertices=vertices, joints=joints)
