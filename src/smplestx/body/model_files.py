"""Locate and read SMPL-X model files (``SMPLX_*.npz``) and the array pickles of the evaluation assets."""

from __future__ import annotations

import codecs
import io
import logging
import numbers
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any, Collection, Mapping

import numpy as np

from ..errors import SmplestxError

log = logging.getLogger(__name__)

GENDERS = ("neutral", "male", "female")
MODEL_SUBDIR = "smplx"
DOWNLOAD_HINT = (
    "download SMPLX_NEUTRAL.npz from https://smpl-x.is.tue.mpg.de (licence: non-commercial) "
    "or generate a synthetic one with `smplestx synthetic-body DIR`"
)

#: Number of kinematic joints of SMPL-X (root + 21 body + jaw + 2 eyes + 2 x 15 finger joints).
NUM_SMPLX_JOINTS = 55
#: Shape / expression split of the official files: the newer layout stores 300 shape + 100 expression
#: components, the older one 10 + 10 (the rule smplx 0.1.28 applies to SMPL-X ``.npz`` files).
NEW_LAYOUT_SHAPE, NEW_LAYOUT_EXPR = 300, 100
OLD_LAYOUT_SHAPE, OLD_LAYOUT_EXPR = 10, 10

#: Keys read from ``SMPLX_*.npz``; other keys (some official files hold object arrays) are never touched.
REQUIRED_KEYS = (
    "v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs",
    "hands_meanl", "hands_meanr", "lmk_faces_idx", "lmk_bary_coords",
)
OPTIONAL_KEYS = ("dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords")
_INT_KEYS = ("f", "kintree_table", "lmk_faces_idx", "dynamic_lmk_faces_idx")


class BodyModelFileError(SmplestxError, FileNotFoundError):
    """A body-model file that is missing or unreadable; the message names the file and the fix."""


class UnsafePickleError(SmplestxError, pickle.UnpicklingError):
    """A pickle that references something other than plain numpy arrays."""


def _model_candidates(path: Path) -> list[Path]:
    """Folders that may hold ``SMPLX_*.npz`` for a user-given path, most specific layout first."""
    if path.is_file():
        return [path.parent]
    return [path / MODEL_SUBDIR, path]


def _has_model(folder: Path) -> bool:
    return any((folder / f"SMPLX_{g.upper()}.npz").is_file() for g in GENDERS)


def resolve_model_dir(path: str | Path) -> Path:
    """Return the folder that holds ``SMPLX_*.npz``: ``path/smplx``, ``path`` itself, or the parent of a file."""
    p = Path(path).expanduser()
    for folder in _model_candidates(p):
        if _has_model(folder):
            return folder
    raise BodyModelFileError(
        f"no SMPL-X model found at {p} (looked for SMPLX_{{NEUTRAL,MALE,FEMALE}}.npz in {p / MODEL_SUBDIR} "
        f"and {p}): {DOWNLOAD_HINT}"
    )


def find_asset(model_dir: str | Path, filename: str) -> Path | None:
    """Path of ``filename`` in ``model_dir/smplx`` or ``model_dir`` (first hit), or None."""
    p = Path(model_dir).expanduser()
    for folder in _model_candidates(p):
        if (folder / filename).is_file():
            return folder / filename
    return None


def _shape_error(path: Path | str, key: str, arr: np.ndarray, expected: str) -> BodyModelFileError:
    return BodyModelFileError(
        f"{path}: array '{key}' has shape {arr.shape}, expected {expected}; the file is not a valid SMPL-X "
        f"model: {DOWNLOAD_HINT}"
    )


def check_smplx_arrays(a: Mapping[str, np.ndarray], path: Path | str = "SMPL-X arrays") -> None:
    """Raise BodyModelFileError unless the arrays (named after the .npz keys) form a consistent SMPL-X model."""
    missing = [k for k in REQUIRED_KEYS if k not in a]
    if missing:
        raise BodyModelFileError(f"{path}: required array(s) {', '.join(missing)} missing; {DOWNLOAD_HINT}")
    a = {k: np.asarray(v) for k, v in a.items()}
    v = a["v_template"]
    if v.ndim != 2 or v.shape[1] != 3:
        raise _shape_error(path, "v_template", v, "(V, 3)")
    nv = v.shape[0]
    nj = NUM_SMPLX_JOINTS
    # The vertex count is what the per-vertex arrays agree on: a short v_template is v_template's fault,
    # not J_regressor's (checked first, before the arrays that are compared with it).
    counts = {"J_regressor": a["J_regressor"].shape[-1:], "weights": a["weights"].shape[:1],
              "shapedirs": a["shapedirs"].shape[:1], "posedirs": a["posedirs"].shape[:1]}
    agreed = {c[0] for c in counts.values() if len(c) == 1}
    if len(agreed) == 1 and nv not in agreed:
        raise _shape_error(path, "v_template", v, f"({agreed.pop()}, 3) like {', '.join(counts)}")
    expected = {
        "f": ("(F, 3)", lambda x: x.ndim == 2 and x.shape[1] == 3),
        "J_regressor": (f"({nj}, {nv})", lambda x: x.shape == (nj, nv)),
        "weights": (f"({nv}, {nj})", lambda x: x.shape == (nv, nj)),
        "kintree_table": (f"(2, {nj})", lambda x: x.shape == (2, nj)),
        "shapedirs": (f"({nv}, 3, C)", lambda x: x.ndim == 3 and x.shape[:2] == (nv, 3)),
        "posedirs": (f"({nv}, 3, {(nj - 1) * 9})", lambda x: x.shape == (nv, 3, (nj - 1) * 9)),
        "hands_meanl": ("(45,)", lambda x: x.shape == (45,)),
        "hands_meanr": ("(45,)", lambda x: x.shape == (45,)),
        "lmk_faces_idx": ("(L,)", lambda x: x.ndim == 1),
        "lmk_bary_coords": (f"({a['lmk_faces_idx'].shape[0]}, 3)",
                            lambda x: x.shape == (a["lmk_faces_idx"].shape[0], 3)),
    }
    if "dynamic_lmk_faces_idx" in a or "dynamic_lmk_bary_coords" in a:
        if not ("dynamic_lmk_faces_idx" in a and "dynamic_lmk_bary_coords" in a):
            missing = "dynamic_lmk_bary_coords" if "dynamic_lmk_faces_idx" in a else "dynamic_lmk_faces_idx"
            raise BodyModelFileError(f"{path}: array '{missing}' is missing; {DOWNLOAD_HINT}")
        expected["dynamic_lmk_faces_idx"] = ("(bins, L)", lambda x: x.ndim == 2)
        expected["dynamic_lmk_bary_coords"] = (
            f"{a['dynamic_lmk_faces_idx'].shape + (3,)}", lambda x: x.shape == a["dynamic_lmk_faces_idx"].shape + (3,)
        )
    for key, (text, ok) in expected.items():
        if not ok(a[key]):
            raise _shape_error(path, key, a[key], text)
    parents = a["kintree_table"][0, 1:]
    if parents.min() < 0 or parents.max() >= nj:
        raise BodyModelFileError(f"{path}: kintree_table holds parents outside 0..{nj - 1}; {DOWNLOAD_HINT}")
    nf = a["f"].shape[0]
    if a["f"].size and (a["f"].min() < 0 or a["f"].max() >= nv):
        raise BodyModelFileError(f"{path}: array 'f' holds vertex ids outside 0..{nv - 1}; {DOWNLOAD_HINT}")
    for key in ("lmk_faces_idx", "dynamic_lmk_faces_idx"):
        if key in a and a[key].size and (a[key].min() < 0 or a[key].max() >= nf):
            raise BodyModelFileError(f"{path}: array '{key}' holds face ids outside 0..{nf - 1}; {DOWNLOAD_HINT}")
    shape_layout(a["shapedirs"].shape[-1], path=path)  # raises on an unknown layout
    for key, arr in a.items():
        # Checked once here: a NaN vertex or blend shape would turn every result into NaN, silently.
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            raise BodyModelFileError(f"{path}: array '{key}' holds NaN or infinite values; the file is corrupt: "
                                     f"{DOWNLOAD_HINT}")


def typed_arrays(raw: Mapping[str, Any], path: Path | str, int_keys: Collection[str]) -> dict[str, np.ndarray]:
    """Model arrays as int64 (``int_keys``) or float64 (the rest); a wrong kind is a one-line error naming the file."""
    arrays: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        value = np.asarray(value)
        if key in int_keys:
            if not np.issubdtype(value.dtype, np.integer):
                raise BodyModelFileError(f"{path}: array '{key}' has dtype {value.dtype}, expected integers")
            # kintree_table[0, 0] is 2**32 - 1 in the official files (the root's "no parent"); int64 keeps it.
            arrays[key] = value.astype(np.int64)
        else:
            if not np.issubdtype(value.dtype, np.floating):
                raise BodyModelFileError(f"{path}: array '{key}' has dtype {value.dtype}, expected floats")
            arrays[key] = value.astype(np.float64, copy=False)
    return arrays


def load_smplx_arrays(model_dir: str | Path, gender: str = "neutral") -> dict[str, np.ndarray]:
    """Read ``SMPLX_{GENDER}.npz`` (no pickles) and return its validated arrays (floats as float64, ids as int64)."""
    g = gender.lower()
    if g not in GENDERS:
        raise ValueError(f"unknown gender {gender!r}; expected one of {', '.join(GENDERS)}")
    folder = resolve_model_dir(model_dir)
    path = folder / f"SMPLX_{g.upper()}.npz"
    if not path.is_file():
        others = sorted(q.name for q in folder.glob("SMPLX_*.npz"))
        raise BodyModelFileError(
            f"{path} does not exist (found: {', '.join(others) or 'nothing'}); {DOWNLOAD_HINT}, "
            f"or use gender='neutral'"
        )
    arrays: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise BodyModelFileError(f"{path}: unreadable ({exc.strerror or exc}); {DOWNLOAD_HINT}") from None
    if magic != b"PK\x03\x04":
        # np.load would call any non-zip file "pickled data": say what it is not.
        what = "it is empty" if not magic else "it is not a zip archive"
        raise BodyModelFileError(f"{path}: not an .npz file ({what}); {DOWNLOAD_HINT}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            missing = [k for k in REQUIRED_KEYS if k not in names]
            if missing:
                raise BodyModelFileError(
                    f"{path}: required array(s) {', '.join(missing)} missing; the file is not a SMPL-X model "
                    f"(.npz): {DOWNLOAD_HINT}"
                )
            for key in REQUIRED_KEYS + OPTIONAL_KEYS:
                if key in names:
                    arrays[key] = npz[key]
    except BodyModelFileError:
        raise
    except ValueError as exc:
        # np.load raises ValueError for object arrays when allow_pickle=False, or for a non-zip file.
        raise BodyModelFileError(f"{path}: cannot be read as a plain .npz ({exc}); {DOWNLOAD_HINT}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise BodyModelFileError(f"{path}: truncated or corrupt .npz ({exc}); {DOWNLOAD_HINT}") from None
    arrays = typed_arrays(arrays, path, _INT_KEYS)
    check_smplx_arrays(arrays, path)
    log.debug("loaded %s (%d shape-space components)", path, arrays["shapedirs"].shape[-1])
    return arrays


def shape_layout(num_components: int, path: Path | str | None = None) -> tuple[int, int, int]:
    """Return (shape components, expression start, expression components) for a shapedirs width.

    Mirrors smplx 0.1.28 for SMPL-X: >= 400 components is the 300 shape + 100 expression layout,
    fewer than 300 the 10 shape + 10 expression layout (expression at columns 10:20).
    """
    if num_components >= NEW_LAYOUT_SHAPE + NEW_LAYOUT_EXPR:
        return NEW_LAYOUT_SHAPE, NEW_LAYOUT_SHAPE, NEW_LAYOUT_EXPR
    if OLD_LAYOUT_SHAPE + OLD_LAYOUT_EXPR <= num_components < NEW_LAYOUT_SHAPE:
        return OLD_LAYOUT_SHAPE, OLD_LAYOUT_SHAPE, OLD_LAYOUT_EXPR
    where = f"{path}: " if path is not None else ""
    raise BodyModelFileError(
        f"{where}shapedirs has {num_components} components; a SMPL-X model has 20 (10 shape + 10 expression) "
        f"or 400 (300 + 100): {DOWNLOAD_HINT}"
    )


def split_shapedirs(
    shapedirs: np.ndarray, num_betas: int, num_expression: int
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Split (V, 3, C) shapedirs into shape and expression blend shapes as smplx does.

    Returns (shape_dirs, expr_dirs, num_betas, num_expression) with the counts clamped to what the file holds.
    """
    n_shape, expr_start, n_expr = shape_layout(shapedirs.shape[-1])
    if num_betas > n_shape:
        log.warning("the model has %d shape components; using %d instead of %d", n_shape, n_shape, num_betas)
        num_betas = n_shape
    if num_expression > n_expr:
        log.warning(
            "the model has %d expression components; using %d instead of %d", n_expr, n_expr, num_expression
        )
        num_expression = n_expr
    if num_betas < 0 or num_expression < 0:
        raise ValueError("num_betas and num_expression must be >= 0")
    return (
        shapedirs[:, :, :num_betas],
        shapedirs[:, :, expr_start:expr_start + num_expression],
        num_betas,
        num_expression,
    )


# ----------------------------------------------------------------------------------------------------------
# Restricted pickle reader for the evaluation assets (pickled numpy arrays, protocol 2, numpy 1.x or 2.x).

def _multiarray() -> Any:
    # numpy 2 renamed numpy.core to numpy._core; importing numpy.core there only warns, so prefer the new name.
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    return multiarray


def _allowed_globals() -> dict[tuple[str, str], Any]:
    ma = _multiarray()
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = ma._reconstruct
        allowed[(mod, "scalar")] = ma.scalar
    return allowed


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can only build numpy arrays, dtypes and scalars; anything else is refused."""

    def __init__(self, file: io.BufferedIOBase, path: Path | str) -> None:
        super().__init__(file, encoding="latin1")
        self._path = path
        self._allowed = _allowed_globals()

    def refusal(self, detail: str) -> str:
        """The one-line message for a refused pickle (subclasses word it for their files)."""
        return f"{self._path}: refused to load: {detail}; replace the file with the original asset"

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - pickle hook
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                self.refusal(f"the pickle references {module}.{name}, but only numpy arrays are allowed (nothing was executed)")
            ) from None

    def persistent_load(self, pid: Any) -> Any:  # noqa: D102 - pickle hook
        raise UnsafePickleError(self.refusal("the pickle uses persistent ids"))


def _check_plain(obj: Any, path: Path, depth: int = 0) -> None:
    """Raise UnsafePickleError unless obj is numeric arrays / numbers in dicts, lists or tuples."""
    if depth > 20:
        raise UnsafePickleError(f"{path}: refused to load: nesting too deep")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise UnsafePickleError(f"{path}: refused to load: it holds an object array")
        return
    if isinstance(obj, (bool, numbers.Number, np.generic)) and not isinstance(obj, np.object_):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise UnsafePickleError(f"{path}: refused to load: dict key of type {type(k).__name__}")
            _check_plain(v, path, depth + 1)
        return
    if isinstance(obj, (list, tuple)):
        for v in obj:
            _check_plain(v, path, depth + 1)
        return
    raise UnsafePickleError(f"{path}: refused to load: it holds a {type(obj).__name__}, not only numpy arrays")


def read_array_pickle(path: str | Path) -> Any:
    """Load a pickle that holds only numpy arrays (or dicts / lists of them) without running any code."""
    p = Path(path)
    if not p.is_file():
        raise BodyModelFileError(f"{p} does not exist")
    with open(p, "rb") as fh:
        try:
            obj = NumpyOnlyUnpickler(fh, p).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise BodyModelFileError(
                f"{p}: not a readable array pickle ({exc}); replace it with the original asset"
            ) from None
    _check_plain(obj, p)
    return obj
