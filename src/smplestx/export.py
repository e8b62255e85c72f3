"""Writers and readers of inference outputs: per-media results files (.npz / .json) and meshes.

Results files (see ``docs/output-format.md``, "Results files"):

- :class:`ResultsWriter` streams :class:`~smplestx.pipeline.records.FrameResult` objects to a
  ``.npz`` (and optionally a ``.json``) with memory use independent of the number of frames:
  every per-person field is appended to its own raw little-endian file in a temporary folder
  next to the output, and :meth:`ResultsWriter.close` streams those files into the zip in
  bounded chunks. Nothing is visible under the final names until ``close()`` succeeds
  (temporary names in the same folder, then ``os.replace``); on an error or Ctrl-C inside a
  ``with`` block the temporaries are removed and an older file of the same name is untouched.
- :func:`load_results` reads either format back into :class:`Results`.

Meshes: :func:`write_obj`, :func:`write_ply` (both keep the OpenCV camera frame: x right, y down,
z forward) and :func:`write_glb` (converted to glTF's y-up frame by a 180° rotation about x).
All mesh writes are atomic as well.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import tempfile
import weakref
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .pipeline.records import FrameResult, Person

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CAMERA_TO_GLTF",
    "PERSON_FIELDS",
    "Results",
    "ResultsWriter",
    "load_results",
    "write_glb",
    "write_obj",
    "write_ply",
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
    return json.dumps(value, default=_json_default, ensure_ascii=False)


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


def _temp_name(path: Path, suffix: str = ".tmp") -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; ``os.replace`` it onto ``path`` on success, remove it otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


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
        self._part_boxes: bool | None = None  # decided by the first person: part boxes for all people or none
        self._json_started = False
        self._state = "open"

        path.parent.mkdir(parents=True, exist_ok=True)
        self._spool = _Spool(Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)))
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

    def _person_arrays(self, p: Person, where: str) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name, (shape, dtype) in PERSON_FIELDS.items():
            value = getattr(p, name)
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
        # Validate every person before writing anything, so a bad person never leaves half a frame.
        people = [self._person_arrays(p, f"frame {frame.index}, person {i}") for i, p in enumerate(frame.people)]
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
        out.write(
            f'{{"format": {json.dumps(FORMAT_NAME)}, "version": {FORMAT_VERSION}, '
            f'"meta": {self._meta_json}, "image_size": [{w}, {h}], "frames": ['
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
            for name, arr in (("image_size", np.array([w, h], dtype=_I8)), ("meta_json", np.array(self._header_json))):
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
                os.replace(self._spool.dir / "results.json", self.json_path)
            os.replace(tmp_npz, self.path)
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
    JSON files too.
    """

    meta: dict[str, Any]
    image_size: tuple[int, int]
    frames: list[FrameResult]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

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
        raise ValueError(f"{path} is not a smplestx results file (format {found!r}, expected {FORMAT_NAME!r})")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{path}: invalid smplestx results version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
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
                raise ValueError(f"{name} has shape {arrays[name].shape}, expected ({n},)")
        for name, (shape, _) in PERSON_FIELDS.items():
            if arrays[name].shape != (p, *shape):
                raise ValueError(f"{name} has shape {arrays[name].shape}, expected {(p, *shape)}")
    except KeyError as e:
        raise ValueError(f"{path}: corrupt smplestx results file (array {e.args[0]!r} missing)") from None
    except ValueError as e:
        raise ValueError(f"{path}: corrupt smplestx results file ({e})") from None
    verts = arrays.get("vertices")
    if verts is not None and (verts.ndim != 3 or verts.shape[0] != p or verts.shape[2] != 3):
        raise ValueError(f"{path}: corrupt smplestx results file (vertices have shape {verts.shape})")
    counts = arrays["frame_num_people"].astype(np.int64)
    firsts = arrays["frame_first_person"]
    expected_firsts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if n else counts
    if counts.sum() != p or (counts < 0).any() or not np.array_equal(firsts, expected_firsts):
        raise ValueError(f"{path}: corrupt smplestx results file (frame_num_people/frame_first_person do not add up)")

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
            kw.update({k: b[r] for k, b in boxes.items()})
            people.append(Person(**kw, vertices=None if verts is None else verts[r]))
        frames.append(FrameResult(index=index, time_s=time_s, width=width, height=height, people=people))
    return frames


def _load_npz(path: Path) -> Results:
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not a smplestx results file (cannot read it as .npz: {e})") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is not a smplestx results file (a single .npy array, not an .npz)")
    with npz:
        if "meta_json" not in npz.files:
            raise ValueError(f"{path} is not a smplestx results file (no 'meta_json' entry)")
        try:
            header = json.loads(str(npz["meta_json"][()]))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path} is not a smplestx results file (unreadable meta_json: {e})") from e
        _check_header(header, path)
        try:
            arrays = {k: npz[k] for k in npz.files if k != "meta_json"}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: corrupt smplestx results file ({e})") from e
    meta = {k: v for k, v in header.items() if k not in _RESERVED_META_KEYS}
    size = arrays.get("image_size")
    if size is None or size.shape != (2,):
        raise ValueError(f"{path}: corrupt smplestx results file (image_size missing or not (2,))")
    image_size = (int(size[0]), int(size[1]))
    frames = _frames_from_arrays(arrays, image_size, path)
    return Results(meta=meta, image_size=image_size, frames=frames, arrays=arrays, format_version=header["version"])


def _load_json(path: Path) -> Results:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a smplestx results file (not valid JSON: {e})") from e
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
            raise ValueError("only some people have vertices")
        if people_in and with_vertices:
            arrays["vertices"] = np.array([p["vertices"] for p in people_in], dtype=_F4)
        if people_in and "lhand_box" in people_in[0]:
            for name, (shape, dtype) in PART_BOX_FIELDS.items():
                arrays[name] = np.array([p[name] for p in people_in], dtype=dtype).reshape(len(people_in), *shape)
    except (KeyError, TypeError, ValueError) as e:
        what = f"missing key {e}" if isinstance(e, KeyError) else str(e)
        raise ValueError(f"{path}: corrupt smplestx results file ({what})") from e
    arrays["image_size"] = np.array(image_size, dtype=_I8)
    frames = _frames_from_arrays(arrays, image_size, path)
    return Results(meta=meta, image_size=image_size, frames=frames, arrays=arrays, format_version=doc["version"])


def load_results(path: str | os.PathLike[str]) -> Results:
    """Read a results file written by :class:`ResultsWriter` (``.npz`` or ``.json``).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` (naming the file) for
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


# --------------------------------------------------------------------------------------------
# Meshes
# --------------------------------------------------------------------------------------------

#: OpenCV camera frame (x right, y down, z forward) -> glTF (x right, y up, z toward the viewer):
#: a 180° rotation about x, i.e. (x, y, z) -> (x, -y, -z). A proper rotation, so faces keep
#: their winding (counter-clockwise seen from outside) and the handedness is unchanged.
CAMERA_TO_GLTF = np.diag(np.array([1.0, -1.0, -1.0], dtype=np.float32))

#: Default per-person colours (RGB in [0, 1]) for :func:`write_glb`.
_PALETTE = (
    (0.65, 0.74, 0.86),
    (0.93, 0.62, 0.45),
    (0.55, 0.80, 0.55),
    (0.85, 0.55, 0.80),
    (0.95, 0.85, 0.45),
    (0.50, 0.80, 0.85),
    (0.80, 0.45, 0.45),
    (0.70, 0.70, 0.70),
)


def _check_mesh(vertices: Any, faces: Any) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {f.shape}")
    if f.size and not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"faces must be integer vertex indices, got {f.dtype}")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"face indices must be in [0, {len(v)}) (0-based), got [{f.min()}, {f.max()}]")
    return v, f.astype(np.int64, copy=False)


def _rgb_u8(color: Any, n: int) -> np.ndarray:
    """(3,) or (n, 3) colour -> (n, 3) uint8; floats are in [0, 1], integers in [0, 255]."""
    c = np.asarray(color)
    if c.shape not in ((3,), (n, 3)):
        raise ValueError(f"color must have shape (3,) or ({n}, 3), got {c.shape}")
    c = np.clip(np.round(c * 255.0), 0, 255) if np.issubdtype(c.dtype, np.floating) else np.clip(c, 0, 255)
    return np.broadcast_to(c.astype(np.uint8), (n, 3))


def write_obj(path: str | os.PathLike[str], vertices: Any, faces: Any) -> Path:
    """Wavefront OBJ (text): ``v x y z`` in the coordinates given (the camera frame is kept as is) and
    1-based ``f a b c`` faces from 0-based ``faces``. Atomic. Returns the path."""
    path = Path(path)
    v, f = _check_mesh(vertices, faces)
    with _atomic_path(path) as tmp, open(tmp, "w", encoding="ascii", newline="\n") as out:
        out.write("# smplestx mesh: metres, OpenCV camera frame (x right, y down, z forward)\n")
        out.write(f"# {len(v)} vertices, {len(f)} faces\n")
        np.savetxt(out, v, fmt="v %.6f %.6f %.6f")
        np.savetxt(out, f + 1, fmt="f %d %d %d")
    return path


def write_ply(path: str | os.PathLike[str], vertices: Any, faces: Any, color: Any = None) -> Path:
    """Binary little-endian PLY: float32 x/y/z (camera frame kept as is), optional uchar red/green/blue
    per vertex (``color``: one (3,) colour or (V, 3); floats in [0, 1], integers in [0, 255]),
    faces as ``list uchar int vertex_indices`` (0-based). Atomic. Returns the path."""
    path = Path(path)
    v, f = _check_mesh(vertices, faces)
    vdtype = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if color is not None:
        vdtype += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vrec = np.empty(len(v), dtype=vdtype)
    vrec["x"], vrec["y"], vrec["z"] = v[:, 0], v[:, 1], v[:, 2]
    if color is not None:
        rgb = _rgb_u8(color, len(v))
        vrec["red"], vrec["green"], vrec["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    frec = np.empty(len(f), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    frec["n"] = 3
    frec["idx"] = f
    header = [
        "ply",
        "format binary_little_endian 1.0",
        "comment smplestx mesh: metres, OpenCV camera frame (x right, y down, z forward)",
        f"element vertex {len(v)}",
        "property float x",
        "property float y",
        "property float z",
    ]
    if color is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    with _atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(("\n".join(header) + "\n").encode("ascii"))
        out.write(vrec.tobytes())
        out.write(frec.tobytes())
    return path


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (unused vertices get +z)."""
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]).astype(np.float64)
    n = np.zeros((len(v), 3))
    for k in range(3):
        for c in range(3):
            n[:, c] += np.bincount(f[:, k], weights=fn[:, c], minlength=len(v))
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    out = np.where(norm > 1e-20, n / np.maximum(norm, 1e-20), np.array([0.0, 0.0, 1.0]))
    return out.astype(np.float32)


def _rgba(color: Any) -> list[float]:
    c = np.asarray(color)
    if c.shape not in ((3,), (4,)):
        raise ValueError(f"a GLB colour is (r, g, b) or (r, g, b, a), got shape {c.shape}")
    c = c.astype(np.float64) / 255.0 if np.issubdtype(c.dtype, np.integer) else c.astype(np.float64)
    c = np.clip(c, 0.0, 1.0)
    return [float(x) for x in c] + ([1.0] if len(c) == 3 else [])


def write_glb(
    path: str | os.PathLike[str],
    meshes: Sequence[np.ndarray] | np.ndarray,
    faces: Any,
    colors: Sequence[tuple] | None = None,
    names: Sequence[str] | None = None,
) -> Path:
    """One binary glTF 2.0 scene: one node + mesh per entry of ``meshes`` (each (V, 3), camera frame),
    all sharing ``faces`` (0-based), each with its own PBR material colour.

    Positions are converted from the OpenCV camera frame to glTF's y-up frame with
    :data:`CAMERA_TO_GLTF` ((x, y, z) -> (x, -y, -z)), so the scene looks like the image when
    viewed from the default glTF camera direction (looking down -z). Positions and vertex normals
    are float32 (positions with the min/max the spec requires), indices uint32. ``colors`` are
    (r, g, b[, a]) floats in [0, 1] (integers: [0, 255]); default: a fixed palette. Atomic.
    """
    # pygltflib (pure Python, MIT) builds the glTF JSON from typed dataclasses and packs the GLB
    # container (chunk headers, 4-byte padding, buffer length) correctly; writing that by hand
    # is easy to get subtly wrong, and the same library lets the tests load the result back.
    try:
        import pygltflib as gl
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("writing .glb needs pygltflib: pip install pygltflib") from e

    path = Path(path)
    meshes = list(meshes)
    if not meshes:
        raise ValueError("write_glb needs at least one mesh")
    checked = [_check_mesh(m, faces) for m in meshes]
    f = checked[0][1]
    if len(f) == 0 or len(checked[0][0]) == 0:
        raise ValueError("write_glb needs at least one vertex and one face (glTF accessors cannot be empty)")
    if colors is not None and len(colors) != len(meshes):
        raise ValueError(f"{len(colors)} colours for {len(meshes)} meshes")
    if names is not None and len(names) != len(meshes):
        raise ValueError(f"{len(names)} names for {len(meshes)} meshes")

    indices = f.astype("<u4").tobytes()
    blob = bytearray(indices)
    doc = gl.GLTF2(asset=gl.Asset(version="2.0", generator="smplestx"), scene=0)
    doc.bufferViews.append(
        gl.BufferView(buffer=0, byteOffset=0, byteLength=len(indices), target=gl.ELEMENT_ARRAY_BUFFER)
    )
    doc.accessors.append(
        gl.Accessor(
            bufferView=0,
            componentType=gl.UNSIGNED_INT,
            count=int(f.size),
            type=gl.SCALAR,
            min=[int(f.min())],
            max=[int(f.max())],
        )
    )
    nodes = []
    for i, (v, _) in enumerate(checked):
        pos = (v @ CAMERA_TO_GLTF).astype("<f4")  # diagonal, so v @ M == (M @ v.T).T
        nrm = _vertex_normals(pos, f).astype("<f4")
        for data, kind in ((pos, "POSITION"), (nrm, "NORMAL")):
            offset = len(blob)
            blob += data.tobytes()  # 4-byte components: every view stays 4-byte aligned
            doc.bufferViews.append(
                gl.BufferView(buffer=0, byteOffset=offset, byteLength=data.nbytes, target=gl.ARRAY_BUFFER)
            )
            acc = gl.Accessor(
                bufferView=len(doc.bufferViews) - 1, componentType=gl.FLOAT, count=len(data), type=gl.VEC3
            )
            if kind == "POSITION":
                acc.min = [float(x) for x in data.min(axis=0)]
                acc.max = [float(x) for x in data.max(axis=0)]
            doc.accessors.append(acc)
        pos_acc, nrm_acc = len(doc.accessors) - 2, len(doc.accessors) - 1
        name = names[i] if names is not None else f"person_{i}"
        rgba = _rgba(colors[i] if colors is not None else _PALETTE[i % len(_PALETTE)])
        doc.materials.append(
            gl.Material(
                name=f"{name}_material",
                pbrMetallicRoughness=gl.PbrMetallicRoughness(
                    baseColorFactor=rgba, metallicFactor=0.0, roughnessFactor=0.7
                ),
                doubleSided=True,
                alphaMode=gl.BLEND if rgba[3] < 1.0 else gl.OPAQUE,
            )
        )
        doc.meshes.append(
            gl.Mesh(
                name=name,
                primitives=[
                    gl.Primitive(
                        attributes=gl.Attributes(POSITION=pos_acc, NORMAL=nrm_acc),
                        indices=0,
                        material=len(doc.materials) - 1,
                        mode=gl.TRIANGLES,
                    )
                ],
            )
        )
        doc.nodes.append(gl.Node(name=name, mesh=len(doc.meshes) - 1))
        nodes.append(len(doc.nodes) - 1)
    doc.scenes.append(gl.Scene(name="smplestx", nodes=nodes))
    doc.buffers.append(gl.Buffer(byteLength=len(blob)))
    doc.set_binary_blob(bytes(blob))
    with _atomic_path(path) as tmp, open(tmp, "wb") as out:
        for chunk in doc.save_to_bytes():
            out.write(chunk)
    return path
