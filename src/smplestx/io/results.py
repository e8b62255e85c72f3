"""The results schema (:class:`Person`, :class:`FrameResult`), its writer and its reader.

Results files (see ``docs/output-format.md``, "Results files"):

- :class:`ResultsWriter` streams :class:`FrameResult` objects to a
  ``.npz`` (and optionally a ``.json``) with memory use independent of the number of frames:
  every per-person field is appended to its own raw little-endian file in a temporary folder
  next to the output, and :meth:`ResultsWriter.close` streams those files into the zip in
  bounded chunks. Nothing is visible under the final names until ``close()`` succeeds
  (temporary names in the same folder, see :mod:`smplestx.io.atomic`); on an error or Ctrl-C inside a
  ``with`` block the temporaries are removed and an older file of the same name is untouched.
- :func:`load_results` reads either format back into :class:`Results`.

"""

from __future__ import annotations

import contextlib
import io
import json
import re
import math
import os
import shutil
import weakref
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SmplestxError
from .atomic import publish, temp_dir_for
from .npz import open_npz

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "FrameResult",
    "Person",
    "PERSON_FIELDS",
    "SCENE_PERSON_FIELDS",
    "Results",
    "ResultsFileError",
    "ResultsWriter",
    "load_results",
]

#: Value of the ``format`` key of every results file, and the newest version this code writes/reads.
FORMAT_NAME = "smplestx.results"
FORMAT_VERSION = 1

#: Number of SMPL-X vertices; the vertex count used for an empty ``vertices`` array.
SMPLX_NUM_VERTICES = 10475

_F4 = np.dtype("<f4")
_F8 = np.dtype("<f8")
_I4 = np.dtype("<i4")
_I8 = np.dtype("<i8")

#: Optional per-person fields (SMPLer-X part boxes, x1, y1, x2, y2 in image pixels): all people of a file have them or none.
PART_BOX_FIELDS: dict[str, tuple[tuple[int, ...], np.dtype]] = {"lhand_box": ((4,), _F4), "rhand_box": ((4,), _F4), "face_box": ((4,), _F4)}

#: Per-person fields in ``Person`` order (``vertices`` excepted): name -> (shape per person, dtype).
PERSON_FIELDS: dict[str, tuple[tuple[int, ...], np.dtype]] = {
    "box_xyxy": ((4,), _F4),
    "score": ((), _F4),
    "track_id": ((), _I8),
    "crop_box_xywh": ((4,), _F4),
    "global_orient": ((3,), _F4),
    "body_pose": ((21, 3), _F4),
    "left_hand_pose": ((15, 3), _F4),
    "right_hand_pose": ((15, 3), _F4),
    "jaw_pose": ((3,), _F4),
    "betas": ((10,), _F4),
    "expression": ((10,), _F4),
    "transl": ((3,), _F4),
    "focal": ((2,), _F4),
    "princpt": ((2,), _F4),
    "joints_3d": ((137, 3), _F4),
    "joints_2d": ((137, 2), _F4),
}

#: Per-person fields in the input's scene camera (optional: absent from files written before it).
SCENE_PERSON_FIELDS: dict[str, tuple[tuple[int, ...], np.dtype]] = {
    "transl_scene": ((3,), _F4),
    "joints_3d_scene": ((137, 3), _F4),
}

#: Per-frame arrays of the npz: name -> dtype.
_FRAME_FIELDS: dict[str, np.dtype] = {
    "frame_index": _I8,
    "frame_time_s": _F8,
    "frame_num_people": _I4,
    "frame_first_person": _I8,
}

#: Raw spool files are copied into the zip in chunks of this size (bounds the memory of close()).
_COPY_CHUNK = 1 << 18
#: Buffer size of each spool file.
_SPOOL_BUFFER = 1 << 14
_RESERVED_META_KEYS = ("format", "version")


class ResultsFileError(SmplestxError, ValueError):
    """A file given as a results file is not one (or is corrupt, or of a newer version)."""


# --------------------------------------------------------------------------------------------
# Records: what flows from the estimator to the writers
# --------------------------------------------------------------------------------------------


@dataclass
class Person:
    """One detected person in one frame, in full-image pixels and the full-image camera.

    Arrays are float32 numpy. Rotations are axis-angle (radians); 3D positions are metres
    in the camera frame (OpenCV: x right, y down, z forward); the camera is a pinhole with
    ``focal`` and ``princpt`` in pixels of the original image and no distortion.
    """

    box_xyxy: np.ndarray  # (4,) detector box in image pixels
    score: float  # detector confidence in [0, 1] (1.0 for user boxes without a score)
    track_id: int  # -1 when not tracked
    crop_box_xywh: np.ndarray  # (4,) the processed (aspect 3:4, x1.2) box the crop was taken from
    global_orient: np.ndarray  # (3,)
    body_pose: np.ndarray  # (21, 3)
    left_hand_pose: np.ndarray  # (15, 3)
    right_hand_pose: np.ndarray  # (15, 3)
    jaw_pose: np.ndarray  # (3,)
    betas: np.ndarray  # (10,)
    expression: np.ndarray  # (10,)
    transl: np.ndarray  # (3,) metres, camera frame
    focal: np.ndarray  # (2,) fx, fy in image pixels
    princpt: np.ndarray  # (2,) cx, cy in image pixels
    joints_3d: np.ndarray  # (137, 3) metres, camera frame
    joints_2d: np.ndarray  # (137, 2) image pixels
    vertices: np.ndarray | None = None  # (10475, 3) metres, camera frame; only when asked for
    # The same body in the input's scene camera (FrameResult.scene_focal/princpt): only the
    # translation differs. None for results written before the scene camera existed.
    transl_scene: np.ndarray | None = None  # (3,) metres, scene camera frame
    joints_3d_scene: np.ndarray | None = None  # (137, 3) metres, scene camera frame
    vertices_scene: np.ndarray | None = None  # (10475, 3) metres, scene camera frame; with vertices
    # SMPLer-X only (None for SMPLest-X): predicted part boxes x1, y1, x2, y2 in image pixels.
    lhand_box: np.ndarray | None = None  # (4,)
    rhand_box: np.ndarray | None = None  # (4,)
    face_box: np.ndarray | None = None  # (4,)


@dataclass
class FrameResult:
    """All people of one frame (possibly none)."""

    index: int  # frame number in the source (0-based; for images 0)
    time_s: float  # presentation time in seconds (0 for images)
    width: int
    height: int
    people: list[Person] = field(default_factory=list)
    scene_focal: np.ndarray | None = None  # (2,) fx, fy of the input's scene camera, pixels
    scene_princpt: np.ndarray | None = None  # (2,) cx, cy of the input's scene camera, pixels


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _dump_json(value: Any) -> str:
    text = json.dumps(value, default=_json_default, ensure_ascii=False)
    # A non-UTF-8 file name decodes to lone surrogates (surrogateescape), which UTF-8 cannot encode: write
    # them as JSON \\uXXXX escapes, valid JSON that json.loads turns back into the same name.
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _f32_strings(a: np.ndarray) -> list[str]:
    """Shortest strings that read back to exactly the same float32 values (Python-JSON NaN/Infinity)."""
    flat = np.ascontiguousarray(a, dtype=np.float32).ravel()
    out = [str(v) for v in flat]  # numpy's str of a float32 scalar is the shortest round-trip repr
    if not np.isfinite(flat).all():
        out = [_NONFINITE.get(s, s) for s in out]
    return out


def _json_array(a: np.ndarray) -> str:
    """A float32 array of 1 or 2 dimensions as nested JSON lists."""
    strings = _f32_strings(a)
    if a.ndim <= 1:
        return "[" + ",".join(strings) + "]"
    k = a.shape[1]
    rows = ("[" + ",".join(strings[i : i + k]) + "]" for i in range(0, len(strings), k))
    return "[" + ",".join(rows) + "]"


def _json_f32(x: float) -> str:
    return _f32_strings(np.asarray([x]))[0]


# --------------------------------------------------------------------------------------------
# Results writer
# --------------------------------------------------------------------------------------------


class _Spool:
    """The temporary folder and its open raw files; separate from the writer so a finalizer can discard it."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.files: dict[str, io.BufferedWriter | io.TextIOWrapper] = {}

    def raw(self, name: str) -> io.BufferedWriter:
        f = self.files.get(name)
        if f is None:
            f = open(self.dir / f"{name}.raw", "wb", buffering=_SPOOL_BUFFER)  # noqa: SIM115 - closed by close_files
            self.files[name] = f
        return f  # type: ignore[return-value]

    def close_files(self) -> None:
        files, self.files = self.files, {}
        for f in files.values():
            with contextlib.suppress(OSError):
                f.close()

    def discard(self) -> None:
        self.close_files()
        shutil.rmtree(self.dir, ignore_errors=True)


class ResultsWriter:
    """Stream the results of one media file to ``path`` (``.npz``) and optionally ``path.with_suffix('.json')``.

    Memory use is flat in the number of frames (each frame is spooled to disk as it comes), and
    the output is atomic: only a successful :meth:`close` makes the files appear, replacing an
    older file of the same name; :meth:`abort` (called automatically when an exception, including
    ``KeyboardInterrupt``, leaves a ``with`` block) removes every temporary file.

    Args:
        path: the ``.npz`` to write; its folder is created if needed.
        meta: JSON-serialisable dict stored in the file (source path, checkpoint, fps, ...);
            numpy scalars/arrays and paths are converted. The keys ``format`` and ``version``
            are reserved.
        write_json: also write the same content as ``path.with_suffix('.json')``.
        keep_vertices: store each person's ``vertices`` (then every person must have them).
        compress: ``ZIP_DEFLATED`` (level 1) instead of ``ZIP_STORED`` for the npz. Off by default:
            float32 predictions barely compress (about 8 % smaller) while deflate makes writing
            4x (without vertices) to 20x (with vertices) slower.
        image_size: (width, height) of the media, if known before the first frame (stored for
            results with no frames; otherwise taken from the first frame). All frames must match.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        meta: dict[str, Any],
        write_json: bool = False,
        keep_vertices: bool = False,
        compress: bool = False,
        image_size: tuple[int, int] | None = None,
    ) -> None:
        path = Path(path)
        if path.suffix.lower() != ".npz":
            raise ValueError(f"results path must end with .npz, got {path}")
        if not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
        reserved = [k for k in _RESERVED_META_KEYS if k in meta]
        if reserved:
            raise ValueError(f"meta keys {reserved} are reserved for the results file header; rename them")
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **meta}
        try:
            self._header_json = _dump_json(header)
            self._meta_json = _dump_json(meta)
        except (TypeError, ValueError) as e:
            raise ValueError(f"meta is not JSON-serialisable: {e}") from e

        self.path = path
        self.json_path = path.with_suffix(".json") if write_json else None
        self.keep_vertices = bool(keep_vertices)
        self.compress = bool(compress)
        self._image_size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
        self._num_frames = 0
        self._num_people = 0
        self._num_vertices: int | None = None
        # The scene camera (focal, princpt), fixed by the first frame; None: frames carry none.
        self._scene: tuple[np.ndarray, np.ndarray] | None = None
        self._part_boxes: bool | None = None  # decided by the first person: part boxes for all people or none
        self._json_started = False
        self._state = "open"

        self._spool = _Spool(temp_dir_for(path))
        # Removes the temporaries if the writer is dropped without close()/abort() (or at exit).
        self._finalizer = weakref.finalize(self, self._spool.discard)
        if write_json:
            self._json = open(self._spool.dir / "results.json", "w", encoding="utf-8")  # noqa: SIM115
            self._spool.files["__json__"] = self._json
        else:
            self._json = None

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False

    @property
    def num_frames(self) -> int:
        """Frames added so far."""
        return self._num_frames

    @property
    def num_people(self) -> int:
        """Person rows added so far."""
        return self._num_people

    # -- adding ------------------------------------------------------------------------------

    def _person_arrays(self, p: Person, where: str, scene: bool) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        fields = {**PERSON_FIELDS, **SCENE_PERSON_FIELDS} if scene else PERSON_FIELDS
        for name, (shape, dtype) in fields.items():
            value = getattr(p, name)
            if value is None and name in SCENE_PERSON_FIELDS:
                raise ValueError(f"{where}: field {name!r} is missing (the frame has a scene camera)")
            try:
                a = np.asarray(value, dtype=dtype)
            except (TypeError, ValueError) as e:
                raise ValueError(f"{where}: field {name!r} cannot be converted to {dtype}: {e}") from e
            if a.shape != shape:
                if a.size != math.prod(shape):
                    raise ValueError(f"{where}: field {name!r} has shape {a.shape}, expected {shape}")
                a = a.reshape(shape)
            out[name] = a
        if self.keep_vertices:
            if p.vertices is None:
                raise ValueError(f"{where}: keep_vertices=True but the person has no vertices")
            v = np.asarray(p.vertices, dtype=_F4)
            if v.ndim != 2 or v.shape[1] != 3:
                raise ValueError(f"{where}: vertices have shape {v.shape}, expected (V, 3)")
            if self._num_vertices is not None and v.shape[0] != self._num_vertices:
                raise ValueError(f"{where}: {v.shape[0]} vertices, earlier people had {self._num_vertices}")
            out["vertices"] = v
            if scene:
                vs = None if p.vertices_scene is None else np.asarray(p.vertices_scene, dtype=_F4)
                if vs is None or vs.shape != v.shape:
                    found = None if vs is None else vs.shape
                    raise ValueError(f"{where}: vertices_scene has shape {found}, expected {v.shape}")
                out["vertices_scene"] = vs
        has_boxes = all(getattr(p, k) is not None for k in PART_BOX_FIELDS)
        if not has_boxes and any(getattr(p, k) is not None for k in PART_BOX_FIELDS):
            raise ValueError(f"{where}: a person needs all of {', '.join(PART_BOX_FIELDS)} or none")
        if self._part_boxes is not None and has_boxes != self._part_boxes:
            raise ValueError(f"{where}: part boxes {'missing' if self._part_boxes else 'present'}, unlike earlier people")
        if has_boxes:
            for name, (shape, dtype) in PART_BOX_FIELDS.items():
                a = np.asarray(getattr(p, name), dtype=dtype)
                if a.size != math.prod(shape):
                    raise ValueError(f"{where}: field {name!r} has shape {a.shape}, expected {shape}")
                out[name] = a.reshape(shape)
        return out

    def _check_scene(self, frame: FrameResult) -> bool:
        """Whether the frame has a scene camera; it must be the same for every frame of the file."""
        has = frame.scene_focal is not None and frame.scene_princpt is not None
        if self._num_frames == 0 and self._scene is None and has:
            cam = (np.asarray(frame.scene_focal, _F4).reshape(2), np.asarray(frame.scene_princpt, _F4).reshape(2))
            if not (np.isfinite(cam[0]).all() and np.isfinite(cam[1]).all()):
                raise ValueError(f"frame {frame.index}: scene camera is not finite")
            return True
        if has != (self._scene is not None):
            raise ValueError(f"frame {frame.index}: some frames have a scene camera and some not; one file holds one camera")
        if has and self._scene is not None:
            same = np.array_equal(np.asarray(frame.scene_focal, _F4).reshape(2), self._scene[0]) and np.array_equal(
                np.asarray(frame.scene_princpt, _F4).reshape(2), self._scene[1])
            if not same:
                raise ValueError(f"frame {frame.index}: the scene camera changed; one results file holds one scene camera")
        return has

    def add(self, frame: FrameResult) -> None:
        """Append one frame (with any number of people, possibly none)."""
        if self._state != "open":
            raise RuntimeError(f"ResultsWriter for {self.path} is {self._state}")
        size = (int(frame.width), int(frame.height))
        if self._image_size is None:
            self._image_size = size
        elif size != self._image_size:
            raise ValueError(
                f"frame {frame.index} is {size[0]}x{size[1]} but the results file is "
                f"{self._image_size[0]}x{self._image_size[1]}; one results file holds one media size"
            )
        scene = self._check_scene(frame)
        # Validate every person before writing anything, so a bad person never leaves half a frame.
        people = [self._person_arrays(p, f"frame {frame.index}, person {i}", scene) for i, p in enumerate(frame.people)]
        if scene and self._scene is None:
            self._scene = (np.asarray(frame.scene_focal, _F4).reshape(2), np.asarray(frame.scene_princpt, _F4).reshape(2))
        if people and self.keep_vertices and self._num_vertices is None:
            counts = {a["vertices"].shape[0] for a in people}
            if len(counts) != 1:
                raise ValueError(f"frame {frame.index}: people have different vertex counts {sorted(counts)}")
            self._num_vertices = counts.pop()
        if people and self._part_boxes is None:
            self._part_boxes = "lhand_box" in people[0]

        sp = self._spool
        try:
            sp.raw("frame_index").write(np.asarray(frame.index, _I8).tobytes())
            sp.raw("frame_time_s").write(np.asarray(frame.time_s, _F8).tobytes())
            sp.raw("frame_num_people").write(np.asarray(len(people), _I4).tobytes())
            sp.raw("frame_first_person").write(np.asarray(self._num_people, _I8).tobytes())
            row = np.asarray(self._num_frames, _I8).tobytes()
            for arrays in people:
                sp.raw("person_frame").write(row)
                for name, a in arrays.items():
                    sp.raw(name).write(a.tobytes())
            if self._json is not None:
                self._write_json_frame(frame, people)
        except BaseException:  # a half-written frame (disk full, Ctrl-C): the spool is unusable
            self.abort()
            raise
        self._num_frames += 1
        self._num_people += len(people)

    # -- JSON streaming ----------------------------------------------------------------------

    def _start_json(self, out: Any) -> None:
        w, h = self._image_size or (0, 0)
        scene = ""
        if self._scene is not None:
            scene = f'"scene_focal": {_json_array(self._scene[0])}, "scene_princpt": {_json_array(self._scene[1])}, '
        out.write(
            f'{{"format": {json.dumps(FORMAT_NAME)}, "version": {FORMAT_VERSION}, '
            f'"meta": {self._meta_json}, "image_size": [{w}, {h}], {scene}"frames": ['
        )
        self._json_started = True

    def _write_json_frame(self, frame: FrameResult, people: list[dict[str, np.ndarray]]) -> None:
        assert self._json is not None
        if not self._json_started:
            self._start_json(self._json)
        parts = []
        for arrays in people:
            items = []
            for name, a in arrays.items():
                if name == "track_id":
                    text = str(int(a))
                elif name == "score":
                    text = _json_f32(float(a))
                else:
                    text = _json_array(a)
                items.append(f'"{name}": {text}')
            parts.append("{" + ", ".join(items) + "}")
        sep = "\n" if self._num_frames == 0 else ",\n"
        self._json.write(
            f'{sep}{{"index": {int(frame.index)}, "time_s": {json.dumps(float(frame.time_s))}, '
            f'"people": [{", ".join(parts)}]}}'
        )

    # -- finishing ---------------------------------------------------------------------------

    def _write_npz(self, target: Path) -> None:
        n, p = self._num_frames, self._num_people
        specs: list[tuple[str, tuple[int, ...], np.dtype]] = [(k, (n,), d) for k, d in _FRAME_FIELDS.items()]
        specs.append(("person_frame", (p,), _I8))
        specs += [(k, (p, *shape), d) for k, (shape, d) in PERSON_FIELDS.items()]
        if self.keep_vertices:
            specs.append(("vertices", (p, self._num_vertices or SMPLX_NUM_VERTICES, 3), _F4))
        if self._scene is not None:
            specs += [(k, (p, *shape), d) for k, (shape, d) in SCENE_PERSON_FIELDS.items()]
            if self.keep_vertices:
                specs.append(("vertices_scene", (p, self._num_vertices or SMPLX_NUM_VERTICES, 3), _F4))
        if self._part_boxes:
            specs += [(k, (p, *shape), d) for k, (shape, d) in PART_BOX_FIELDS.items()]
        compression = zipfile.ZIP_DEFLATED if self.compress else zipfile.ZIP_STORED
        with zipfile.ZipFile(target, "w", compression=compression, compresslevel=1 if self.compress else None) as zf:
            for name, shape, dtype in specs:
                raw = self._spool.dir / f"{name}.raw"
                expected = math.prod(shape) * dtype.itemsize
                actual = raw.stat().st_size if raw.exists() else 0
                if actual != expected:  # cannot happen unless the spool folder was tampered with
                    raise RuntimeError(f"spool file {raw} has {actual} bytes, expected {expected}")
                with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                    np.lib.format.write_array_header_1_0(
                        out, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
                    )
                    if actual:
                        with open(raw, "rb") as src:
                            shutil.copyfileobj(src, out, _COPY_CHUNK)
            w, h = self._image_size or (0, 0)
            extra = [] if self._scene is None else [("scene_focal", self._scene[0]), ("scene_princpt", self._scene[1])]
            for name, arr in (("image_size", np.array([w, h], dtype=_I8)), ("meta_json", np.array(self._header_json)), *extra):
                with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, arr, allow_pickle=False)

    def close(self) -> None:
        """Finish both files and move them to their final names (idempotent)."""
        if self._state == "closed":
            return
        if self._state != "open":
            raise RuntimeError(f"ResultsWriter for {self.path} was aborted; nothing was written")
        try:
            self._spool.close_files()  # flush the spooled raw data (and the JSON so far)
            tmp_npz = self._spool.dir / "results.npz"
            self._write_npz(tmp_npz)
            if self.json_path is not None:
                with open(self._spool.dir / "results.json", "a", encoding="utf-8") as f:
                    if not self._json_started:
                        self._start_json(f)
                    f.write("\n]}\n")
                self._json = None
                # The JSON first: once the new npz is in place, its JSON companion is too.
                publish(self._spool.dir / "results.json", self.json_path)
            publish(tmp_npz, self.path)
        except BaseException:
            self.abort()
            raise
        self._state = "closed"
        self._finalizer()  # remove the (now empty of results) spool folder

    def abort(self) -> None:
        """Drop everything written so far; the final files are not touched."""
        if self._state == "closed":
            return
        self._state = "aborted"
        self._json = None
        self._finalizer()


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


@dataclass
class Results:
    """The content of one results file.

    ``frames`` hold :class:`Person` objects whose arrays are float32 views into ``arrays``
    (``vertices`` None when the file has none). ``arrays`` holds every array of the file by its
    npz name (per person: ``box_xyxy`` ... ``joints_2d``, ``person_frame``, optional
    ``vertices``; per frame: ``frame_index`` ...), for fast vectorised access; it is filled for
    JSON files too. Files with a scene camera also hold ``scene_focal``, ``scene_princpt`` (2,) and
    per person ``transl_scene``, ``joints_3d_scene`` (and ``vertices_scene`` beside ``vertices``).
    """

    meta: dict[str, Any]
    image_size: tuple[int, int]
    frames: list[FrameResult]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def scene_focal(self) -> np.ndarray | None:
        """fx, fy (2,) of the input's scene camera; None for files written without one."""
        return self.arrays.get("scene_focal")

    @property
    def scene_princpt(self) -> np.ndarray | None:
        """cx, cy (2,) of the input's scene camera; None for files written without one."""
        return self.arrays.get("scene_princpt")

    @property
    def num_people(self) -> int:
        """Total person rows over all frames."""
        return sum(len(f.people) for f in self.frames)

    def people(self) -> Iterator[Person]:
        """Every person of every frame, in frame order."""
        for frame in self.frames:
            yield from frame.people


def _check_header(header: Any, path: Path) -> None:
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        found = header.get("format") if isinstance(header, dict) else None
        raise ResultsFileError(f"{path} is not a smplestx results file (format {found!r}, expected {FORMAT_NAME!r})")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ResultsFileError(f"{path}: invalid smplestx results version {version!r}")
    if version > FORMAT_VERSION:
        raise ResultsFileError(
            f"{path} is a smplestx results file of version {version}, newer than this smplestx reads "
            f"(up to {FORMAT_VERSION}); upgrade smplestx"
        )


def _frames_from_arrays(arrays: dict[str, np.ndarray], image_size: tuple[int, int], path: Path) -> list[FrameResult]:
    """Check the arrays' shapes against each other and build the frames."""
    try:
        n = arrays["frame_index"].shape[0]
        p = arrays["person_frame"].shape[0]
        for name, dtype in _FRAME_FIELDS.items():
            if arrays[name].shape != (n,):
                raise ResultsFileError(f"{name} has shape {arrays[name].shape}, expected ({n},)")
        for name, (shape, _) in PERSON_FIELDS.items():
            if arrays[name].shape != (p, *shape):
                raise ResultsFileError(f"{name} has shape {arrays[name].shape}, expected {(p, *shape)}")
    except KeyError as e:
        raise ResultsFileError(f"{path}: corrupt smplestx results file (array {e.args[0]!r} missing)") from None
    except ValueError as e:
        raise ResultsFileError(f"{path}: corrupt smplestx results file ({e})") from None
    verts = arrays.get("vertices")
    if verts is not None and (verts.ndim != 3 or verts.shape[0] != p or verts.shape[2] != 3):
        raise ResultsFileError(f"{path}: corrupt smplestx results file (vertices have shape {verts.shape})")
    scene_cam = _scene_camera(arrays, path)
    if scene_cam is not None:
        for name, (shape, _) in SCENE_PERSON_FIELDS.items():
            if name not in arrays or arrays[name].shape != (p, *shape):
                found = arrays[name].shape if name in arrays else "missing"
                raise ResultsFileError(f"{path}: corrupt smplestx results file ({name} is {found}, expected {(p, *shape)})")
        verts_scene = arrays.get("vertices_scene")
        if (verts is None) != (verts_scene is None) or (verts is not None and verts_scene.shape != verts.shape):
            raise ResultsFileError(f"{path}: corrupt smplestx results file (vertices_scene does not match vertices)")
    counts = arrays["frame_num_people"].astype(np.int64)
    firsts = arrays["frame_first_person"]
    expected_firsts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if n else counts
    if counts.sum() != p or (counts < 0).any() or not np.array_equal(firsts, expected_firsts):
        raise ResultsFileError(f"{path}: corrupt smplestx results file (frame_num_people/frame_first_person do not add up)")

    boxes = {k: arrays[k] for k in PART_BOX_FIELDS if k in arrays}
    if boxes and (len(boxes) != len(PART_BOX_FIELDS) or any(b.shape != (p, 4) for b in boxes.values())):
        raise ValueError(f"{path}: corrupt smplestx results file (part boxes {', '.join(PART_BOX_FIELDS)} incomplete)")
    names = list(PERSON_FIELDS)
    cols = {k: arrays[k] for k in names}
    scores = cols["score"].tolist()
    tracks = cols["track_id"].tolist()
    width, height = image_size
    frames = []
    for index, time_s, count, first in zip(
        arrays["frame_index"].tolist(), arrays["frame_time_s"].tolist(), counts.tolist(), firsts.tolist()
    ):
        people = []
        for r in range(first, first + count):
            kw = {k: cols[k][r] for k in names}
            kw["score"] = scores[r]
            kw["track_id"] = tracks[r]
            if scene_cam is not None:
                kw["transl_scene"] = arrays["transl_scene"][r]
                kw["joints_3d_scene"] = arrays["joints_3d_scene"][r]
                kw["vertices_scene"] = None if verts is None else arrays["vertices_scene"][r]
            kw.update({k: b[r] for k, b in boxes.items()})
            people.append(Person(**kw, vertices=None if verts is None else verts[r]))
        frame = FrameResult(index=index, time_s=time_s, width=width, height=height, people=people)
        if scene_cam is not None:
            frame.scene_focal, frame.scene_princpt = scene_cam
        frames.append(frame)
    return frames


def _scene_camera(arrays: dict[str, np.ndarray], path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The file's scene camera (focal, princpt), or None for files written without one."""
    if "scene_focal" not in arrays and "scene_princpt" not in arrays:
        return None
    try:
        focal = np.asarray(arrays["scene_focal"], _F4)
        princpt = np.asarray(arrays["scene_princpt"], _F4)
    except KeyError as e:
        raise ValueError(f"{path}: corrupt smplestx results file ({e.args[0]!r} missing)") from None
    if focal.shape != (2,) or princpt.shape != (2,):
        raise ValueError(f"{path}: corrupt smplestx results file (scene_focal/scene_princpt are not (2,))")
    return focal, princpt


def _load_npz(path: Path) -> Results:
    npz = open_npz(path, "results", ResultsFileError)
    with npz:
        if "meta_json" not in npz.files:
            raise ResultsFileError(f"{path} is not a smplestx results file (no 'meta_json' entry)")
        try:
            header = json.loads(str(npz["meta_json"][()]))
        except (ValueError, TypeError) as e:
            raise ResultsFileError(f"{path} is not a smplestx results file (unreadable meta_json: {e})") from e
        _check_header(header, path)
        try:
            arrays = {k: npz[k] for k in npz.files if k != "meta_json"}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ResultsFileError(f"{path}: corrupt smplestx results file ({e})") from e
    meta = {k: v for k, v in header.items() if k not in _RESERVED_META_KEYS}
    size = arrays.get("image_size")
    if size is None or size.shape != (2,):
        raise ResultsFileError(f"{path}: corrupt smplestx results file (image_size missing or not (2,))")
    image_size = (int(size[0]), int(size[1]))
    frames = _frames_from_arrays(arrays, image_size, path)
    return Results(meta=meta, image_size=image_size, frames=frames, arrays=arrays, format_version=header["version"])


def _load_json(path: Path) -> Results:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise ResultsFileError(f"{path} is not a smplestx results file (not valid JSON: {e})") from e
    _check_header(doc, path)
    try:
        meta = doc["meta"]
        w, h = doc["image_size"]
        frames_in = doc["frames"]
        if not isinstance(meta, dict) or not isinstance(frames_in, list):
            raise TypeError("'meta' must be an object and 'frames' a list")
        image_size = (int(w), int(h))
        people_in = [p for fr in frames_in for p in fr["people"]]
        arrays: dict[str, np.ndarray] = {
            "frame_index": np.array([fr["index"] for fr in frames_in], dtype=_I8).reshape(-1),
            "frame_time_s": np.array([fr["time_s"] for fr in frames_in], dtype=_F8).reshape(-1),
            "frame_num_people": np.array([len(fr["people"]) for fr in frames_in], dtype=_I4).reshape(-1),
        }
        counts = arrays["frame_num_people"].astype(np.int64)
        arrays["frame_first_person"] = (np.cumsum(counts) - counts).astype(_I8)
        arrays["person_frame"] = np.repeat(np.arange(len(frames_in), dtype=_I8), counts)
        for name, (shape, dtype) in PERSON_FIELDS.items():
            arrays[name] = np.array([p[name] for p in people_in], dtype=dtype).reshape(len(people_in), *shape)
        with_vertices = sum("vertices" in p for p in people_in)
        if with_vertices not in (0, len(people_in)):
            raise ResultsFileError("only some people have vertices")
        if people_in and with_vertices:
            arrays["vertices"] = np.array([p["vertices"] for p in people_in], dtype=_F4)
        if "scene_focal" in doc or "scene_princpt" in doc:
            arrays["scene_focal"] = np.array(doc["scene_focal"], dtype=_F4)
            arrays["scene_princpt"] = np.array(doc["scene_princpt"], dtype=_F4)
            for name, (shape, dtype) in SCENE_PERSON_FIELDS.items():
                arrays[name] = np.array([p[name] for p in people_in], dtype=dtype).reshape(len(people_in), *shape)
            if people_in and with_vertices:
                arrays["vertices_scene"] = np.array([p["vertices_scene"] for p in people_in], dtype=_F4)
        if people_in and "lhand_box" in people_in[0]:
            for name, (shape, dtype) in PART_BOX_FIELDS.items():
                arrays[name] = np.array([p[name] for p in people_in], dtype=dtype).reshape(len(people_in), *shape)
    except (KeyError, TypeError, ValueError) as e:
        what = f"missing key {e}" if isinstance(e, KeyError) else str(e)
        raise ResultsFileError(f"{path}: corrupt smplestx results file ({what})") from e
    arrays["image_size"] = np.array(image_size, dtype=_I8)
    frames = _frames_from_arrays(arrays, image_size, path)
    return Results(meta=meta, image_size=image_size, frames=frames, arrays=arrays, format_version=doc["version"])


def load_results(path: str | os.PathLike[str]) -> Results:
    """Read a results file written by :class:`ResultsWriter` (``.npz`` or ``.json``).

    Raises ``FileNotFoundError`` for a missing file and :class:`ResultsFileError` (a ``ValueError``, naming the file) for
    anything that is not a smplestx results file of a version this code can read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such results file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path)
    if suffix == ".json":
        return _load_json(path)
    with open(path, "rb") as f:
        magic = f.read(2)
    return _load_npz(path) if magic == b"PK" else _load_json(path)


