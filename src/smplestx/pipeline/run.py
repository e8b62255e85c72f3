"""The ``smplestx infer`` job: inputs -> Estimator -> results, overlays, meshes and a run summary."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..body.joint_sets import SMPLX_137
from ..export import ResultsWriter, write_glb, write_obj, write_ply
from ..render import Renderer, draw_boxes, draw_keypoints
from .estimator import Estimator
from .records import FrameResult
from .sources import VIDEO_EXTENSIONS, MediaError, collect_inputs, open_source, prefetch
from .video_writer import VideoWriter, write_image

log = logging.getLogger(__name__)

MESH_FORMATS = ("obj", "ply", "glb")


@dataclass
class InferOptions:
    """What to write and which frames to read."""

    output: Path = Path("smplestx_out")
    write_json: bool = False
    save_vertices: bool = False
    save_mesh: str | None = None  # obj | ply | glb
    render: bool = True
    draw_keypoints: bool = False
    draw_boxes: bool = False
    recursive: bool = False
    start: float | None = None
    end: float | None = None
    stride: int = 1


@dataclass
class InputSummary:
    """How one input went."""

    path: str
    kind: str  # image | video
    ok: bool = True
    error: str | None = None
    frames: int = 0
    people: int = 0
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    """The whole run; written to OUTPUT/summary.json."""

    inputs: list[InputSummary] = field(default_factory=list)
    frames: int = 0
    people: int = 0
    failures: int = 0
    seconds: float = 0.0
    frames_per_second: float = 0.0
    interrupted: bool = False
    smplestx_version: str = __version__

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


#: Part boxes drawn with --draw-boxes (SMPLer-X) and their labels.
_PART_LABELS = (("lhand_box", "L hand"), ("rhand_box", "R hand"), ("face_box", "face"))


def check_output_dir(path: Path) -> Path:
    """Create the output folder and prove it is writable, before any work starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write_test_"):
            pass
    except OSError as exc:
        raise OSError(f"{path}: output folder is not writable ({exc.strerror or exc})") from None
    return path


def _unique_names(paths: list[Path]) -> dict[Path, str]:
    """Output base names: the file stem, disambiguated when two inputs share it."""
    names: dict[Path, str] = {}
    used: set[str] = set()
    for p in paths:
        base = re.sub(r"[^\w.-]+", "_", p.stem) or "input"
        name, k = base, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        names[p] = name
    return names


class InferenceRun:
    """Runs the estimator over many inputs, writing every output atomically."""

    def __init__(self, estimator: Estimator, options: InferOptions, progress: Callable[[int, float], None] | None = None) -> None:
        self.est = estimator
        self.opt = options
        self.progress = progress
        self.renderer = Renderer(estimator.faces) if options.render else None
        self._frames_done = 0
        self._start = time.perf_counter()

    def run(self, inputs: list[str | Path]) -> RunSummary:
        """Process every input; failures are recorded and the run goes on."""
        summary = RunSummary()
        out = check_output_dir(self.opt.output)
        files: list[Path] = []
        for item in inputs:
            try:
                found = collect_inputs([item], recursive=self.opt.recursive)
                if not found:
                    hint = "" if self.opt.recursive else " (--recursive descends into subfolders)"
                    raise MediaError(f"{item}: no images or videos found{hint}")
                files.extend(found)
            except MediaError as exc:
                log.error("%s", exc)
                summary.inputs.append(InputSummary(str(item), "unknown", ok=False, error=str(exc)))
        names = _unique_names(files)
        try:
            for path in files:
                summary.inputs.append(self._one(path, out, names[path]))
        except KeyboardInterrupt:
            summary.interrupted = True
            raise
        finally:
            summary.failures = sum(not s.ok for s in summary.inputs)
            summary.frames = sum(s.frames for s in summary.inputs)
            summary.people = sum(s.people for s in summary.inputs)
            summary.seconds = time.perf_counter() - self._start
            summary.frames_per_second = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
            _write_json_atomic(out / "summary.json", summary.to_dict())
        return summary

    def _meta(self, path: Path, source) -> dict:
        cfg = self.est.model.config
        return {
            "source": str(path),
            "smplestx_version": __version__,
            "model": {"embed_dim": cfg.encoder.embed_dim, "depth": cfg.encoder.depth},
            "fps": getattr(source, "fps", None),
            "stride": self.opt.stride,
            "joint_names": list(SMPLX_137.names),
            "camera": "OpenCV pinhole per person (focal, princpt in image pixels); metres; x right, y down, z forward",
        }

    def _one(self, path: Path, out: Path, name: str) -> InputSummary:
        is_video = path.suffix.lower() in VIDEO_EXTENSIONS
        summary = InputSummary(str(path), "video" if is_video else "image")
        start = time.perf_counter()
        try:
            with open_source(path, start=self.opt.start, end=self.opt.end, stride=self.opt.stride) as source:
                results_path = out / f"{name}.npz"
                writer = ResultsWriter(results_path, meta=self._meta(path, source), write_json=self.opt.write_json,
                                       keep_vertices=self.opt.save_vertices)
                overlay = None
                if self.renderer is not None and is_video:
                    fps = (source.fps or 30.0) / self.opt.stride
                    overlay = VideoWriter(out / f"{name}_overlay.mp4", fps, source.width, source.height)
                with writer:
                    if overlay is not None:
                        with overlay:
                            self._frames(source, writer, overlay, out, name, summary)
                    else:
                        self._frames(source, writer, None, out, name, summary)
                summary.outputs.append(str(results_path))
                if self.opt.write_json:
                    summary.outputs.append(str(results_path.with_suffix(".json")))
                if overlay is not None:
                    summary.outputs.append(str(out / f"{name}_overlay.mp4"))
        except (MediaError, OSError, ValueError) as exc:
            summary.ok = False
            summary.error = str(exc)
            log.error("%s", exc if str(path) in str(exc) else f"{path}: {exc}")
        summary.seconds = time.perf_counter() - start
        return summary

    def _frames(self, source, writer: ResultsWriter, overlay: VideoWriter | None, out: Path, name: str, summary: InputSummary) -> None:
        # The prefetch thread decodes ahead; the `with` stops it before the source closes.
        with prefetch(source) as frames:
            for frame, result in self.est.predict_frame_pairs(frames):
                self._frame(frame, result, writer, overlay, out, name, summary)

    def _frame(self, frame, result: FrameResult, writer: ResultsWriter, overlay: VideoWriter | None, out: Path,
               name: str, summary: InputSummary) -> None:
        """Write one frame's results, overlay and meshes."""
        writer.add(result)
        summary.frames += 1
        summary.people += len(result.people)
        if self.opt.save_mesh:
            summary.outputs.extend(self._meshes(result, out / f"{name}_meshes"))
        if self.renderer is not None:
            image = self.draw(frame.image, result)
            if overlay is not None:
                overlay.write(image)
            else:
                target = out / f"{name}_overlay.png"
                write_image(target, image)
                summary.outputs.append(str(target))
        self._frames_done += 1
        if self.progress is not None:
            self.progress(self._frames_done, time.perf_counter() - self._start)

    def draw(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """The overlay of one frame: meshes, then optional boxes and keypoints."""
        people = [p for p in result.people if p.vertices is not None]
        if self.renderer is None:
            return image
        canvas = self.renderer.render(image, [p.vertices for p in people], [p.focal for p in people], [p.princpt for p in people])
        if self.opt.draw_boxes and result.people:
            canvas = draw_boxes(canvas, np.stack([p.box_xyxy for p in result.people]),
                                [f"{p.score:.2f}" if p.track_id < 0 else f"#{p.track_id} {p.score:.2f}" for p in result.people])
            # SMPLer-X people also carry their predicted hand and face boxes.
            parts = [(getattr(p, k), label) for p in result.people for k, label in _PART_LABELS if getattr(p, k) is not None]
            if parts:
                canvas = draw_boxes(canvas, np.stack([b for b, _ in parts]), [label for _, label in parts], color=(240, 160, 40), thickness=1)
        if self.opt.draw_keypoints:
            for p in result.people:
                canvas = draw_keypoints(canvas, p.joints_2d)
        return canvas

    def _meshes(self, result: FrameResult, folder: Path) -> list[str]:
        people = [p for p in result.people if p.vertices is not None]
        if not people:
            return []
        folder.mkdir(parents=True, exist_ok=True)
        faces = self.est.faces
        stem = f"frame_{result.index:06d}"
        if self.opt.save_mesh == "glb":
            path = folder / f"{stem}.glb"
            write_glb(path, [p.vertices for p in people], faces, names=[f"person_{k}" for k in range(len(people))])
            return [str(path)]
        paths = []
        for k, p in enumerate(people):
            path = folder / f"{stem}_person_{k}.{self.opt.save_mesh}"
            (write_obj if self.opt.save_mesh == "obj" else write_ply)(path, p.vertices, faces)
            paths.append(str(path))
        return paths


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        # mkstemp creates 0600; give the summary the usual permissions (umask applied).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
