"""Safe, lazy reader (and writer) of mmhuman3d ``HumanData`` ``.npz`` files, the annotation format of SMPLest-X.

The format
----------
A HumanData file is an ``.npz`` archive (a zip of ``KEY.npy`` members, written by ``np.savez_compressed``):

* per-instance arrays, first dimension ``N``: ``image_path`` (N,), ``bbox_xywh`` (N, 4 | 5; the 5th column
  is a confidence), ``lhand_bbox_xywh`` / ``rhand_bbox_xywh`` / ``face_bbox_xywh`` (N, 4 | 5),
  ``keypoints2d*`` (N, K, 2 | 3) and ``keypoints3d*`` (N, K, 3 | 4) (last column: confidence);
* per-joint masks ``keypoints*_mask`` (K,) of 0 / 1;
* scalars: ``__data_len__`` (N, or -1 when unset), ``__keypoints_compressed__``, ``__key_strict__``,
  ``config`` (the dataset name);
* dict entries ``smplx``, ``smpl``, ``smplh``, ``meta``, ``misc``: stored as 0-d *object* arrays, i.e. a
  pickled dict. ``smplx`` holds (N, ...) arrays ``global_orient``, ``body_pose``, ``betas``, ``transl``,
  ``left_hand_pose``, ``right_hand_pose``, ``jaw_pose``, ``expression`` (``leye_pose``, ``reye_pose``);
  ``meta`` holds per-instance lists / arrays such as ``gender``, ``height``, ``width``, ``focal_length``,
  ``principal_point``.

When ``__keypoints_compressed__`` is true, every ``keypoints*`` array that has a ``keypoints*_mask`` holds only
the joints whose mask is 1, (N, K_valid, C); :meth:`HumanData.keypoints` re-inserts zeros for the others.

Safety
------
Object entries are never handed to :mod:`pickle` as is: they are read with the restricted unpickler of
:mod:`smplestx.body.model_files`, which can only build numpy arrays, dtypes and scalars (plus the builtin
containers and strings pickle makes without any global). Any other global (``os.system``, a class, ...) is
refused before anything runs, and the unpickled value is checked to hold only plain data.

Laziness
--------
:meth:`HumanData.open` reads the zip directory, the ``.npy`` header of every member (shape, dtype, order; a few
hundred bytes each) and the *small* plain entries (scalars, keypoint masks and any non-object member of at most
:data:`SMALL_ENTRY_BYTES` bytes). Shapes of plain entries are checked against ``N`` from the headers alone.
Everything else is loaded on first access of its key and then cached on the object:

* a member stored uncompressed (``ZIP_STORED``, e.g. written by ``np.savez`` or ``zip_compression=False``) is
  memory-mapped read-only with :class:`numpy.memmap` at its data offset in the file, so indexing one instance
  reads only that row;
* a deflated member (the usual ``np.savez_compressed`` file) is decompressed and read whole on first access;
* object (dict) entries are unpickled (restricted) on first access, and their shapes checked then.

No file handle is kept open between accesses (each lazy load re-opens the file), so a :class:`HumanData` can be
shared with forked data-loader workers; a file changed on disk after opening is refused. Arrays handed out are
read-only views of the cache; :meth:`HumanData.instance` returns writable copies.
"""

from __future__ import annotations

import logging
import numbers
import os
import pickle
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import numpy.lib.format as npformat

from ..errors import SmplestxError
from ..body.model_files import NumpyOnlyUnpickler, UnsafePickleError
from ..io.atomic import atomic_path

log = logging.getLogger(__name__)

#: Plain (non-object) members of at most this many bytes are read when the file is opened.
SMALL_ENTRY_BYTES = 64 * 1024
#: Dict-valued entries, stored as 0-d object arrays.
DICT_KEYS = ("smplx", "smpl", "smplh", "meta", "misc")
BODY_MODEL_KEYS = ("smplx", "smpl", "smplh")
BBOX_KEYS = ("bbox_xywh", "lhand_bbox_xywh", "rhand_bbox_xywh", "face_bbox_xywh")
#: Parameters an SMPL-X test set must provide (``transl``, ``expression`` and the eye poses are optional).
SMPLX_REQUIRED = ("global_orient", "body_pose", "betas", "left_hand_pose", "right_hand_pose", "jaw_pose")
#: Keypoint keys in the reference's order of preference.
KPS2D_KEYS = ("keypoints2d", "keypoints2d_smplx", "keypoints2d_smpl", "keypoints2d_original")
KPS3D_KEYS = ("keypoints3d_cam", "keypoints3d", "keypoints3d_smplx", "keypoints3d_smpl", "keypoints3d_original")

_VEC = "vector"  # (N, D) with D >= 1
_ROT = ((3,), (1, 3))
#: Allowed per-instance trailing shapes of the body-model parameters (unknown keys are not checked).
PARAM_SHAPES: dict[str, dict[str, Any]] = {
    "smplx": {
        "global_orient": _ROT, "body_pose": ((21, 3), (63,)), "betas": _VEC, "transl": ((3,),),
        "left_hand_pose": ((15, 3), (45,)), "right_hand_pose": ((15, 3), (45,)), "jaw_pose": _ROT,
        "expression": _VEC, "leye_pose": _ROT, "reye_pose": _ROT,
    },
    "smpl": {"global_orient": _ROT, "body_pose": ((23, 3), (69,)), "betas": _VEC, "transl": ((3,),)},
    "smplh": {
        "global_orient": _ROT, "body_pose": ((21, 3), (63,)), "betas": _VEC, "transl": ((3,),),
        "left_hand_pose": ((15, 3), (45,)), "right_hand_pose": ((15, 3), (45,)),
    },
}

_KPS_RE = re.compile(r"^keypoints")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header, 30 bytes
_LOCAL_SIG = b"PK\x03\x04"


class HumanDataError(SmplestxError, ValueError):
    """A HumanData file that is missing, unreadable, unsafe or malformed; the message names file and key."""


class HumanDataKeyError(HumanDataError, KeyError):
    """A key that the file does not hold (also a KeyError, so ``dict``-style code keeps working)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def _one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


# ----------------------------------------------------------------------------------------------------------
# Restricted unpickling of object members


class _EntryUnpickler(NumpyOnlyUnpickler):
    """The project's numpy-only unpickler, reading an npz entry, with a message naming file and entry."""

    def refusal(self, detail: str) -> str:
        """Name the entry; HumanData entries are data, not assets to replace."""
        detail = detail.replace("the pickle", "its pickle").replace("numpy arrays", "numpy arrays, dtypes and scalars")
        return f"{self._path} was refused for safety: {detail}"


def _check_plain(obj: Any, where: str, depth: int = 0) -> None:
    """Raise HumanDataError unless obj is plain data: arrays, numbers, strings, None in dicts / lists / tuples."""
    if depth > 20:
        raise HumanDataError(f"{where} was refused for safety: nesting deeper than 20 levels")
    if obj is None or isinstance(obj, (str, bytes, bool, numbers.Number)):
        return
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            if obj.dtype.names is not None:
                raise HumanDataError(f"{where} was refused for safety: it holds a structured object array")
            for item in obj.flat:
                _check_plain(item, where, depth + 1)
        return
    if isinstance(obj, np.generic) and not isinstance(obj, np.object_):
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise HumanDataError(f"{where} was refused for safety: a dict key of type {type(k).__name__}")
            _check_plain(v, where, depth + 1)
        return
    if isinstance(obj, (list, tuple)):
        for v in obj:
            _check_plain(v, where, depth + 1)
        return
    raise HumanDataError(
        f"{where} was refused for safety: it holds a {type(obj).__name__}, not only arrays, numbers and strings"
    )


def _read_header(fp: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy stream ``fp``, leaving it at the start of the data."""
    version = npformat.read_magic(fp)
    if version == (1, 0):
        return npformat.read_array_header_1_0(fp)
    if version == (2, 0):
        return npformat.read_array_header_2_0(fp)
    reader = getattr(npformat, "_read_array_header", None)
    if reader is None:
        from numpy.lib import _format_impl  # numpy >= 2

        reader = _format_impl._read_array_header
    return reader(fp, version)


def _read_npy_array(fp: Any, info: "_Member", where: str) -> Any:
    """Read one .npy member from the open stream ``fp`` (object members through the restricted unpickler)."""
    if not info.dtype.hasobject:
        return npformat.read_array(fp, allow_pickle=False)
    _read_header(fp)
    try:
        arr = _EntryUnpickler(fp, where).load()
    except UnsafePickleError as exc:
        raise HumanDataError(_one_line(exc)) from None
    if not isinstance(arr, np.ndarray):
        raise HumanDataError(f"{where} was refused for safety: its pickle holds a {type(arr).__name__}, not an array")
    _check_plain(arr, where)
    return arr


# ----------------------------------------------------------------------------------------------------------
# The reader


@dataclass(frozen=True)
class _Member:
    key: str
    name: str  # zip member name
    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype
    stored: bool  # ZIP_STORED: can be memory-mapped
    data_offset: int  # for stored members: file offset of the array data, else -1

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def is_object(self) -> bool:
        return self.dtype.hasobject


@dataclass
class HumanDataInstance:
    """Everything HumanData holds for one sample (writable copies)."""

    index: int
    image_path: str | None
    bbox_xywh: np.ndarray | None
    lhand_bbox_xywh: np.ndarray | None = None
    rhand_bbox_xywh: np.ndarray | None = None
    face_bbox_xywh: np.ndarray | None = None
    keypoints: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (K, C), decompressed
    keypoints_mask: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (K,)
    smplx: dict[str, Any] | None = None
    smpl: dict[str, Any] | None = None
    smplh: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # other per-instance top-level arrays


def _is_keypoints_key(key: str) -> bool:
    return bool(_KPS_RE.match(key)) and not key.endswith("_mask")


def _kps_channels(key: str) -> tuple[int, ...] | None:
    if "2d" in key:
        return (2, 3)
    if "3d" in key:
        return (3, 4)
    return None


def _readonly(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.flags.writeable:
        value.flags.writeable = False
    return value


def _as_str(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _plain_item(v: Any) -> Any:
    """An array row copied; a numpy scalar as the Python value (np.str_ as str)."""
    if isinstance(v, np.ndarray):
        return np.array(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def _take(value: Any, i: int, n: int) -> Any:
    """Row i of a per-instance value (array or list / tuple of length n); other values are returned whole."""
    if isinstance(value, np.ndarray):
        if value.ndim >= 1 and value.shape[0] == n:
            return _plain_item(value[i])
        return np.array(value)
    if isinstance(value, (list, tuple)) and len(value) == n:
        return _plain_item(value[i])
    return value


class HumanData:
    """A HumanData ``.npz`` file, opened lazily; see the module docstring for what is read when."""

    def __init__(self, path: Path, members: dict[str, _Member], stat: tuple[int, int]) -> None:
        self.path = path
        self._members = members
        self._stat = stat
        self._cache: dict[str, Any] = {}
        self._n = -1

    # -- opening -------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, validate: bool = False) -> "HumanData":
        """Open ``path``: read its directory, headers and small entries, check shapes against N."""
        p = Path(path).expanduser()
        if not p.is_file():
            raise HumanDataError(f"{p}: HumanData file does not exist" if not p.exists()
                                 else f"{p}: not a file, expected a HumanData .npz")
        st = p.stat()
        members: dict[str, _Member] = {}
        hd = cls(p, members, (st.st_size, st.st_mtime_ns))
        try:
            with open(p, "rb") as raw, zipfile.ZipFile(raw) as zf:
                for info in zf.infolist():
                    if not info.filename.endswith(".npy"):
                        log.debug("%s: ignoring non-.npy member %s", p, info.filename)
                        continue
                    key = info.filename[:-4]
                    with zf.open(info) as fp:
                        shape, fortran, dtype = _read_header(fp)
                        header_len = fp.tell()
                    stored = info.compress_type == zipfile.ZIP_STORED
                    offset = hd._stored_offset(raw, info, header_len) if stored else -1
                    members[key] = _Member(key, info.filename, tuple(int(s) for s in shape), bool(fortran),
                                           np.dtype(dtype), stored, offset)
                hd._n = -1
                for key, m in members.items():
                    if not m.is_object and (m.shape == () or key.endswith("_mask") or m.nbytes <= SMALL_ENTRY_BYTES):
                        hd._cache[key] = _readonly(_read_member(hd, zf, m))
        except HumanDataError:
            raise
        except zipfile.BadZipFile as exc:
            raise HumanDataError(
                f"{p}: not a readable .npz (zip) archive ({_one_line(exc)}); the file is truncated or not HumanData"
            ) from None
        except (ValueError, EOFError, OSError, zlib.error, struct.error, SyntaxError) as exc:
            raise HumanDataError(f"{p}: cannot be read ({_one_line(exc)}); the file is truncated or corrupt") from None
        hd._n = hd._find_len()
        for model in BODY_MODEL_KEYS:  # loaded by _find_len before N was known
            if model in hd._cache:
                hd._check_params(model, hd._cache[model])
        hd._check_plain_shapes()
        if validate:
            hd.validate()
        return hd

    def _stored_offset(self, raw: Any, info: zipfile.ZipInfo, header_len: int) -> int:
        raw.seek(info.header_offset)
        head = raw.read(_LOCAL_HEADER.size)
        if len(head) != _LOCAL_HEADER.size or head[:4] != _LOCAL_SIG:
            raise HumanDataError(f"{self.path}: member '{info.filename}' has a bad local header; the file is corrupt")
        fields = _LOCAL_HEADER.unpack(head)
        name_len, extra_len = fields[-2], fields[-1]
        return info.header_offset + _LOCAL_HEADER.size + name_len + extra_len + header_len

    def _where(self, key: str) -> str:
        return f"{self.path}: entry '{key}'"

    def _load_from(self, zf: zipfile.ZipFile, m: _Member) -> Any:
        """Read member m (zip already open). Stored plain arrays are memory-mapped."""
        if m.stored and not m.is_object and m.nbytes > SMALL_ENTRY_BYTES:
            end = m.data_offset + m.nbytes
            if end > self._stat[0]:
                raise HumanDataError(
                    f"{self._where(m.key)} needs bytes up to {end} but the file has {self._stat[0]}; it is truncated"
                )
            return np.memmap(self.path, dtype=m.dtype, mode="r", offset=m.data_offset, shape=m.shape,
                             order="F" if m.fortran else "C")
        with zf.open(m.name) as fp:
            arr = _read_npy_array(fp, m, self._where(m.key))
        if arr.shape != m.shape:
            raise HumanDataError(f"{self._where(m.key)} decoded to shape {arr.shape}, header says {m.shape}")
        if arr.ndim == 0:
            value = arr[()]
            if m.is_object:
                return value
            return value.item() if isinstance(value, np.generic) else value
        return arr

    def _load(self, key: str) -> Any:
        """Value of ``key``, loaded on first access and cached."""
        if key in self._cache:
            return self._cache[key]
        m = self._members.get(key)
        if m is None:
            raise HumanDataKeyError(f"{self.path}: no key '{key}' (it holds: {', '.join(self._members)})")
        try:
            st = self.path.stat()
        except OSError as exc:
            raise HumanDataError(f"{self._where(key)} cannot be read: {_one_line(exc)}") from None
        if (st.st_size, st.st_mtime_ns) != self._stat:
            raise HumanDataError(f"{self.path}: the file changed on disk since it was opened; open it again")
        try:
            with open(self.path, "rb") as raw, zipfile.ZipFile(raw) as zf:
                value = _read_member(self, zf, m)
        except HumanDataError:
            raise
        except (zipfile.BadZipFile, ValueError, EOFError, OSError, zlib.error, pickle.UnpicklingError,
                TypeError, AttributeError, IndexError, KeyError) as exc:
            raise HumanDataError(
                f"{self._where(key)} cannot be read ({_one_line(exc)}); the file is truncated or corrupt"
            ) from None
        if isinstance(value, np.ndarray):
            _readonly(value)
        if key in BODY_MODEL_KEYS or key in ("meta", "misc"):
            if not isinstance(value, dict):
                raise HumanDataError(f"{self._where(key)} holds a {type(value).__name__}, expected a dict")
            for v in value.values():
                _readonly(v)
            if key in BODY_MODEL_KEYS:
                self._check_params(key, value)
        self._cache[key] = value
        return value

    # -- lengths and shapes --------------------------------------------------------------------------------

    def _find_len(self) -> int:
        dl = self._cache.get("__data_len__")
        if isinstance(dl, numbers.Integral) and not isinstance(dl, bool) and dl >= 0:
            return int(dl)
        for key in ("image_path", "bbox_xywh", *sorted(k for k in self._members if _is_keypoints_key(k))):
            m = self._members.get(key)
            if m is not None and len(m.shape) >= 1:
                return m.shape[0]
        for key in BODY_MODEL_KEYS:
            if key in self._members:
                for v in self._load(key).values():
                    if isinstance(v, np.ndarray) and v.ndim >= 1:
                        return v.shape[0]
        raise HumanDataError(
            f"{self.path}: cannot tell the number of instances: no '__data_len__', 'image_path', 'bbox_xywh', "
            f"keypoints or body-model parameters"
        )

    def _expect(self, key: str, shape: tuple[int, ...], expected: str) -> HumanDataError:
        return HumanDataError(f"{self.path}: key '{key}' has shape {_shape_text(shape)}, expected {expected} "
                              f"with N = {self._n}")

    def _check_plain_shapes(self) -> None:
        n = self._n
        for key, m in self._members.items():
            shape = m.shape
            per_instance = key == "image_path" or key in BBOX_KEYS or (_is_keypoints_key(key) and shape != ()
                                                                      and m.dtype.kind not in "USO")
            if per_instance and (len(shape) == 0 or shape[0] != n):
                raise HumanDataError(
                    f"{self.path}: key '{key}' has shape {_shape_text(shape)} but the file holds N = {n} instances "
                    f"(first dimension must be {n})"
                )
            if key == "image_path" and len(shape) != 1:
                raise self._expect(key, shape, "(N,)")
            if key in BBOX_KEYS and (len(shape) != 2 or shape[1] not in (4, 5)):
                raise self._expect(key, shape, "(N, 4) or (N, 5)")
            if per_instance and _is_keypoints_key(key):
                chans = _kps_channels(key)
                if len(shape) != 3 or (chans is not None and shape[2] not in chans):
                    want = "(N, K, C)" if chans is None else f"(N, K, {' or '.join(map(str, chans))})"
                    raise self._expect(key, shape, want)
                mask_key = f"{key}_mask"
                if mask_key in self._members:
                    mask = np.asarray(self._load(mask_key))
                    self._check_mask(key, shape, mask_key, mask)
        if "image_path" in self._members and self._members["image_path"].dtype.kind not in "USO":
            raise HumanDataError(f"{self.path}: key 'image_path' has dtype {self._members['image_path'].dtype}, "
                                 f"expected strings")

    def _check_mask(self, key: str, shape: tuple[int, ...], mask_key: str, mask: np.ndarray) -> None:
        if mask.ndim != 1:
            raise HumanDataError(f"{self.path}: key '{mask_key}' has shape {_shape_text(mask.shape)}, expected (K,)")
        if not np.isin(mask, (0, 1)).all():
            raise HumanDataError(f"{self.path}: key '{mask_key}' holds values other than 0 and 1")
        k_valid = int((mask == 1).sum())
        if shape[1] != mask.shape[0] and not (self.keypoints_compressed and shape[1] == k_valid):
            expected = (f"K = {mask.shape[0]} joints (or {k_valid}, the joints the mask keeps, as the file is "
                        f"compressed)" if self.keypoints_compressed else f"K = {mask.shape[0]} joints (its mask)")
            raise HumanDataError(f"{self.path}: key '{key}' has shape {_shape_text(shape)}, expected {expected}")

    def _check_params(self, model: str, params: dict[str, Any]) -> None:
        n = self._n
        table = PARAM_SHAPES[model]
        for name, allowed in table.items():
            if name not in params:
                continue
            v = params[name]
            if not isinstance(v, np.ndarray) or not np.issubdtype(v.dtype, np.number):
                what = f"array of {v.dtype}" if isinstance(v, np.ndarray) else type(v).__name__
                raise HumanDataError(f"{self.path}: '{model}.{name}' is a {what}, expected a numeric array")
            if n >= 0 and (v.ndim == 0 or v.shape[0] != n):
                raise HumanDataError(
                    f"{self.path}: '{model}.{name}' has shape {_shape_text(v.shape)} but the file holds N = {n} "
                    f"instances (first dimension must be {n})"
                )
            tail = v.shape[1:]
            if allowed == _VEC:
                ok, want = len(tail) == 1 and tail[0] >= 1, "(N, D)"
            else:
                ok = tail in allowed
                want = " or ".join("(N, " + ", ".join(map(str, a)) + ")" for a in allowed)
            if not ok:
                raise HumanDataError(f"{self.path}: '{model}.{name}' has shape {_shape_text(v.shape)}, "
                                     f"expected {want} with N = {n}")

    # -- mapping interface ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    def __contains__(self, key: object) -> bool:
        return key in self._members

    def __iter__(self):
        return iter(self._members)

    def keys(self) -> list[str]:
        """Top-level keys, in file order."""
        return list(self._members)

    def __getitem__(self, key: str) -> Any:
        """The entry ``key``: an array (read-only, maybe memory-mapped), a Python scalar, or a dict (copy)."""
        value = self._load(key)
        return dict(value) if isinstance(value, dict) else value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._members else default

    def shape_of(self, key: str) -> tuple[int, ...]:
        """Shape from the member's header, without reading its data."""
        if key not in self._members:
            raise HumanDataKeyError(f"{self.path}: no key '{key}'")
        return self._members[key].shape

    def is_memory_mappable(self, key: str) -> bool:
        """True when ``key`` is a plain array larger than SMALL_ENTRY_BYTES stored uncompressed (then mapped)."""
        m = self._members.get(key)
        return m is not None and m.stored and not m.is_object and m.nbytes > SMALL_ENTRY_BYTES

    def close(self) -> None:
        """Drop the cache (no file handle is held between accesses)."""
        self._cache = {k: v for k, v in self._cache.items() if not isinstance(v, np.memmap)}

    def __enter__(self) -> "HumanData":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HumanData({str(self.path)!r}, N={self._n}, keys={self.keys()})"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {k: v for k, v in self._cache.items() if not isinstance(v, np.memmap)}
        return state

    # -- typed accessors -----------------------------------------------------------------------------------

    @property
    def config(self) -> str | None:
        return self.get("config")

    @property
    def keypoints_compressed(self) -> bool:
        return bool(self._cache.get("__keypoints_compressed__", False))

    @property
    def image_path(self) -> np.ndarray:
        """Image paths, (N,) array of str."""
        value = self._need("image_path")
        if value.dtype.kind == "U":
            return value
        return _readonly(np.array([_as_str(v) for v in value.tolist()], dtype=str))

    @property
    def bbox_xywh(self) -> np.ndarray:
        return self._need("bbox_xywh")

    @property
    def lhand_bbox_xywh(self) -> np.ndarray | None:
        return self.get("lhand_bbox_xywh")

    @property
    def rhand_bbox_xywh(self) -> np.ndarray | None:
        return self.get("rhand_bbox_xywh")

    @property
    def face_bbox_xywh(self) -> np.ndarray | None:
        return self.get("face_bbox_xywh")

    @property
    def smplx(self) -> dict[str, np.ndarray] | None:
        return self.get("smplx")

    @property
    def smpl(self) -> dict[str, np.ndarray] | None:
        return self.get("smpl")

    @property
    def smplh(self) -> dict[str, np.ndarray] | None:
        return self.get("smplh")

    @property
    def meta(self) -> dict[str, Any]:
        return self.get("meta") or {}

    @property
    def misc(self) -> dict[str, Any]:
        return self.get("misc") or {}

    def _need(self, key: str) -> Any:
        if key not in self._members:
            raise HumanDataKeyError(f"{self.path}: required key '{key}' is missing")
        return self._load(key)

    def keypoint_keys(self) -> list[str]:
        """Per-instance keypoint keys (``keypoints2d_smplx``, ``keypoints3d``, ...), file order."""
        return [k for k, m in self._members.items()
                if _is_keypoints_key(k) and m.shape != () and m.dtype.kind not in "USO"]

    def keypoints_mask(self, name: str) -> np.ndarray:
        """(K,) 0/1 mask of ``name``: ``{name}_mask``, else ``keypoints2d_mask`` / ``keypoints3d_mask``, else ones."""
        m = self._kps_member(name)
        own = f"{name}_mask"
        if own in self._members:
            return np.asarray(self._load(own))
        generic = "keypoints3d_mask" if "3d" in name else "keypoints2d_mask"
        if generic in self._members:  # the reference's fallback; used only when it fits
            mask = np.asarray(self._load(generic))
            if mask.shape == (m.shape[1],):
                return mask
        return np.ones(m.shape[1], dtype=np.uint8)

    def _kps_member(self, name: str) -> _Member:
        if name not in self._members or not _is_keypoints_key(name):
            have = ", ".join(self.keypoint_keys()) or "none"
            raise HumanDataKeyError(f"{self.path}: no keypoints '{name}' (keypoints held: {have})")
        return self._members[name]

    def keypoints(self, name: str, index: Any = None) -> np.ndarray:
        """Keypoints ``name`` as (N, K, C) (or rows ``index`` of it), zeros re-inserted when compressed."""
        m = self._kps_member(name)
        arr = self._load(name)
        rows = arr if index is None else arr[index]
        mask_key = f"{name}_mask"
        if not self.keypoints_compressed or mask_key not in self._members:
            return rows if index is None else np.array(rows)
        mask = np.asarray(self._load(mask_key))
        if m.shape[1] == mask.shape[0]:  # stored uncompressed despite the flag (as the reference accepts)
            return rows if index is None else np.array(rows)
        valid = np.flatnonzero(mask == 1)
        out = np.zeros(rows.shape[:-2] + (mask.shape[0], rows.shape[-1]), dtype=rows.dtype)
        out[..., valid, :] = rows
        return out

    # -- checks --------------------------------------------------------------------------------------------

    def require_smplx(self) -> "HumanData":
        """Raise HumanDataError unless this is an SMPL-X test set: image_path, bbox_xywh, smplx pose keys."""
        for key in ("image_path", "bbox_xywh", "smplx"):
            if key not in self._members:
                raise HumanDataError(f"{self.path}: required key '{key}' is missing (an SMPL-X test set needs "
                                     f"image_path, bbox_xywh and smplx)")
        params = self._load("smplx")
        missing = [k for k in SMPLX_REQUIRED if k not in params]
        if missing:
            raise HumanDataError(f"{self.path}: 'smplx' lacks required parameter(s) {', '.join(missing)} "
                                 f"(it holds: {', '.join(params) or 'nothing'}; needs {', '.join(SMPLX_REQUIRED)})")
        return self

    def _check_finite(self, label: str, value: Any) -> None:
        if not isinstance(value, np.ndarray) or value.ndim == 0 or value.size == 0 \
                or not np.issubdtype(value.dtype, np.number):
            return
        bad = ~np.isfinite(np.asarray(value)).reshape(value.shape[0], -1).all(axis=1)
        if bad.any():
            raise HumanDataError(f"{self.path}: '{label}' holds NaN or inf, first at instance {int(np.argmax(bad))}")

    def validate(self) -> "HumanData":
        """Load boxes, body-model dicts and meta; check shapes and that boxes / parameters are finite."""
        for key in BBOX_KEYS:
            if key in self._members:
                self._check_finite(key, self._load(key))
        for model in BODY_MODEL_KEYS:
            if model in self._members:
                for name, v in self._load(model).items():
                    self._check_finite(f"{model}.{name}", v)
        for key in ("meta", "misc"):
            if key in self._members:
                self._load(key)
        return self

    # -- one sample ----------------------------------------------------------------------------------------

    def instance(self, i: int) -> HumanDataInstance:
        """Everything for sample ``i`` (negative counts from the end), as writable copies."""
        n = self._n
        if not isinstance(i, numbers.Integral) or isinstance(i, bool):
            raise TypeError(f"instance index must be an int, not {type(i).__name__}")
        if not -n <= i < n:
            raise IndexError(f"instance {i} out of range for {n} instances in {self.path}")
        i = int(i) % n
        paths = self._load("image_path")[i] if "image_path" in self._members else None
        boxes = {k: (np.array(self._load(k)[i]) if k in self._members else None) for k in BBOX_KEYS}
        kps = {k: self.keypoints(k, i) for k in self.keypoint_keys()}
        masks = {k: np.array(self.keypoints_mask(k)) for k in kps}
        models = {}
        for model in BODY_MODEL_KEYS:
            params = self.get(model)
            models[model] = None if params is None else {k: _take(v, i, n) for k, v in params.items()}
        meta = {k: _take(v, i, n) for k, v in self.meta.items()}
        handled = {"image_path", *BBOX_KEYS, *kps, *DICT_KEYS}
        extra = {}
        for k, m in self._members.items():
            if k in handled or k.startswith("__") or m.shape == () or m.shape[0] != n or k.endswith("_mask"):
                continue
            extra[k] = _take(self._load(k), i, n)
        return HumanDataInstance(
            index=i, image_path=None if paths is None else _as_str(paths), bbox_xywh=boxes["bbox_xywh"],
            lhand_bbox_xywh=boxes["lhand_bbox_xywh"], rhand_bbox_xywh=boxes["rhand_bbox_xywh"],
            face_bbox_xywh=boxes["face_bbox_xywh"], keypoints=kps, keypoints_mask=masks,
            smplx=models["smplx"], smpl=models["smpl"], smplh=models["smplh"], meta=meta, extra=extra,
        )


def _read_member(hd: HumanData, zf: zipfile.ZipFile, m: _Member) -> Any:
    """Indirection point for reading one member's data (tests patch it to observe laziness)."""
    return hd._load_from(zf, m)


# ----------------------------------------------------------------------------------------------------------
# The writer


def _object_scalar(value: Any) -> np.ndarray:
    arr = np.empty((), dtype=object)
    arr[()] = value
    return arr


def _instances_of(data: Mapping[str, Any]) -> int:
    for key in ("image_path", "bbox_xywh"):
        if key in data:
            return len(data[key])
    for key, v in data.items():
        if _is_keypoints_key(key) and np.ndim(v) == 3:
            return int(np.shape(v)[0])
    for model in BODY_MODEL_KEYS:
        if isinstance(data.get(model), Mapping):
            for v in data[model].values():
                if np.ndim(v) >= 1:
                    return int(np.shape(v)[0])
    return -1


def _prepare(data: Mapping[str, Any], compress_keypoints: bool) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"HumanData keys must be non-empty strings, not {key!r}")
        if isinstance(value, Mapping):
            plain = dict(value)
            _check_plain(plain, f"HumanData entry '{key}'")
            out[key] = _object_scalar(plain)
        else:
            arr = np.asanyarray(value)
            if arr.dtype.hasobject:
                _check_plain(arr, f"HumanData entry '{key}'")
            out[key] = arr
    if "__data_len__" not in out:
        out["__data_len__"] = np.array(_instances_of(data))
    already = bool(np.asarray(out.get("__keypoints_compressed__", False)))
    if compress_keypoints and not already:
        for key in [k for k, v in out.items() if _is_keypoints_key(k) and v.ndim == 3 and v.dtype.kind in "fiub"]:
            kps = out[key]
            mask_key = f"{key}_mask"
            if mask_key in out:
                mask = out[mask_key]
                if mask.shape != (kps.shape[1],):
                    raise ValueError(f"'{mask_key}' has shape {mask.shape}, expected ({kps.shape[1]},)")
            else:  # lossless: keep every joint that is non-zero somewhere
                mask = (kps != 0).any(axis=(0, 2)).astype(np.uint8)
                out[mask_key] = mask
            out[key] = np.ascontiguousarray(kps[:, np.flatnonzero(mask == 1), :])
        already = True
    out["__keypoints_compressed__"] = np.array(already)
    return out


def write_humandata(path: str | os.PathLike[str], data: Mapping[str, Any], compress_keypoints: bool = False,
                    *, zip_compression: bool = True) -> Path:
    """Write ``data`` as a HumanData ``.npz`` (atomically, see :mod:`smplestx.io.atomic`); return the path.

    Dict values (``smplx``, ``meta``, ...) become 0-d object arrays holding a plain dict, exactly as
    ``np.savez_compressed(**data)`` stores them; ``__data_len__`` and ``__keypoints_compressed__`` are added.
    ``compress_keypoints`` keeps only the joints whose ``{key}_mask`` is 1 (a mask of the joints that are non-zero
    anywhere is derived and written when absent). ``zip_compression=False`` stores members uncompressed (as
    ``np.savez``), which the reader memory-maps. The writer does not check shapes: malformed files can be written.
    """
    p = Path(path).expanduser()
    arrays = _prepare(data, compress_keypoints)
    method = zipfile.ZIP_DEFLATED if zip_compression else zipfile.ZIP_STORED
    with atomic_path(p) as tmp, open(tmp, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=method, allowZip64=True) as zf:
            for key, arr in arrays.items():
                with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                    npformat.write_array(member, arr, allow_pickle=True)
    return p


__all__ = [
    "BODY_MODEL_KEYS", "BBOX_KEYS", "DICT_KEYS", "KPS2D_KEYS", "KPS3D_KEYS", "PARAM_SHAPES", "SMALL_ENTRY_BYTES",
    "SMPLX_REQUIRED", "HumanData", "HumanDataError", "HumanDataInstance", "HumanDataKeyError", "write_humandata",
]
