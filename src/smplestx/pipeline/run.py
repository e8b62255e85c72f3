"""The ``smplestx infer`` job: inputs -> Estimator -> results, overlays, meshes and a run summary."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import __version__
from ..body.joint_sets import SMPLX_137
from ..errors import UsageError
from ..fingerprint import file_fingerprint, model_identity, weights_fingerprint
from ..io.atomic import TEMP_MARKER, remove_stale_temporaries, write_text
from ..io.meshes import write_glb, write_obj, write_ply
from ..io.results import FrameResult, ResultsWriter
from ..io.video import VideoWriter, write_image
from ..models.loading import network_attention, network_backend
from ..render import Renderer, draw_boxes, draw_keypoints, overlay_colors, track_color
from ..sharding import Shard, select
from .estimator import Estimator
from .sources import VIDEO_EXTENSIONS, MediaError, collect_inputs, open_source, prefetch

if TYPE_CHECKING:
    from ..body import BodyModel
    from ..motion.camera_motion import CameraMotion
    from ..motion.sequences import TrackBuilder
    from ..motion.tracks import TrackSet

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
    shard: Shard = field(default_factory=Shard)  # this process's share of the inputs
    overwrite: bool = False  # redo inputs whose results are already complete
    identity: dict = field(default_factory=dict)  # extra entries of the run identity (InferenceRun.run_key)
    track: bool = True  # videos: give people stable ids and write NAME.tracks.npz
    smooth: str = "gaussian"  # the track file's temporal filter (motion.smoothing)
    fill_gaps: int = 0  # bridge track gaps of up to N sampled frames in the track file
    feet: str = "pin"  # foot cleanup of the track file (motion.feet): "pin" or "none"
    camera_motion: str = "static"  # videos: the camera path of the track file: "static", "moving" or "auto"


@dataclass
class InputSummary:
    """How one input went."""

    path: str
    kind: str  # image | video
    ok: bool = True
    error: str | None = None
    skipped: bool = False  # complete from an earlier run with the same settings; not redone
    partial: bool = False  # the run was interrupted in this input: its frames were read, its results not kept
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
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM: the inputs listed are the ones reached
    skipped: int = 0
    shard: dict = field(default_factory=lambda: {"index": 0, "count": 1, "origin": "single"})
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


def _derived(out: Path, name: str) -> list[Path]:
    """Every path an input named ``name`` may write in ``out``."""
    return [out / f"{name}{suffix}" for suffix in (".npz", ".json", "_overlay.png", "_overlay.mp4", "_meshes")]


#: Longest derived base name, in UTF-8 bytes: file systems allow 255 per name, and the longest name derived
#: from it (a hidden temporary ``.NAME_overlay.mp4.XXXXXXXX.smplestx-partial.mp4``) adds about 50.
MAX_NAME_BYTES = 160


def _short_name(base: str) -> str:
    """``base`` if short enough, else its head and a hash of the whole (different long names stay different)."""
    if len(base.encode("utf-8", "surrogateescape")) <= MAX_NAME_BYTES:
        return base
    digest = hashlib.sha1(base.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    head = base.encode("utf-8", "surrogateescape")[: MAX_NAME_BYTES - 11].decode("utf-8", "ignore")
    return f"{head}_{digest}"


def _unique_names(paths: list[Path], out: Path | None = None) -> dict[Path, str]:
    """Output base names: the file stem, disambiguated when two inputs share it or an output would hit an input."""
    names: dict[Path, str] = {}
    used: set[str] = set()
    inputs = {p.resolve() for p in paths}
    for p in paths:
        base = _short_name(re.sub(r"[^\w.-]+", "_", p.stem) or "input")
        name, k = base, 2
        # Never overwrite an input: `a.png` beside the user's own `a_overlay.png` writes `a_2_overlay.png`.
        while name in used or (out is not None and any(d.resolve() in inputs for d in _derived(out, name))):
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        names[p] = name
    return names


def earlier_outputs(out: Path) -> set[Path]:
    """Files that earlier runs recorded as their outputs in this folder (never to be read as inputs)."""
    found: set[Path] = set()
    for summary in out.glob("summary*.json"):
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
            for item in data.get("inputs", []):
                found.update(Path(o).resolve() for o in item.get("outputs", []))
        except (OSError, ValueError, TypeError, AttributeError):
            log.warning("%s: unreadable run summary; its outputs may be read as inputs", summary)
    return found


class OutputInUse(OSError):
    """Another smplestx run is writing the same output folder (or the same shard of it)."""


@contextlib.contextmanager
def output_lock(out: Path, shard: Shard) -> Iterator[None]:
    """Hold the output folder for this run: alone, or shared by the shards of one sharded run.

    A whole run takes ``.smplestx.lock`` exclusively; a shard takes it shared, plus its own shard's lock
    exclusively, so the shares of one run write side by side and nothing else writes with them.
    """
    files = []
    try:
        wanted = [(out / ".smplestx.lock", fcntl.LOCK_SH if shard.is_split else fcntl.LOCK_EX)]
        if shard.is_split:
            wanted.append((out / f".smplestx.{shard.tag}.lock", fcntl.LOCK_EX))
        for path, mode in wanted:
            fh = open(path, "a+")
            files.append(fh)
            try:
                fcntl.flock(fh, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                what = f"shard {shard.index}/{shard.count} of " if shard.is_split and path.name != ".smplestx.lock" else ""
                raise OutputInUse(f"{out}: {what}this output folder is being written by another smplestx run; "
                                  f"wait for it to finish or use another --output") from None
        yield
    finally:
        # The last holder removes the lock files (a run that finds them gone simply makes new ones).
        for fh in reversed(files):
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                Path(fh.name).unlink(missing_ok=True)
            except BlockingIOError:
                pass  # another shard still holds it
            fh.close()  # closing releases the lock


def remove_stale_for_input(out: Path, name: str) -> int:
    """Delete what an interrupted run left half-written for input ``name`` (only this process writes its files).

    The folder-wide :func:`~smplestx.io.atomic.remove_stale_temporaries` cannot be used here: the shards of
    one run write the same folder at the same time.
    """
    own = re.compile(rf"^\.{re.escape(name)}(\.npz|\.json|_overlay\.\w+)\..*{re.escape(TEMP_MARKER)}")
    stale = [p for p in out.glob(f".{name}*") if own.match(p.name)]
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    meshes = out / f"{name}_meshes"
    removed = len(stale) + (len(remove_stale_temporaries(meshes)) if meshes.is_dir() else 0)
    if removed:
        log.info("%s: removed %d temporary file(s) an interrupted run left for %s", out, removed, name)
    return removed


def detector_identity(detector: object) -> dict:
    """A detector's name and, where it has them, the content of its boxes file or weights."""
    out: dict = {"name": getattr(detector, "name", type(detector).__name__)}
    path = getattr(detector, "path", None)
    if path is not None and Path(path).is_file():
        out["file"] = file_fingerprint(path)
    net = getattr(detector, "model", None)
    if isinstance(net, torch.nn.Module):
        out["weights"] = weights_fingerprint(net)
    return out


def run_identity(estimator: Estimator, options: InferOptions) -> dict:
    """Everything that changes an input's outputs; a finished input whose recorded identity differs is redone.

    Built from what runs (the loaded weights, the resolved precision, the detector, the smoothing), not from
    how it was asked for, so the Python API resumes as safely as the CLI.
    """
    return {
        **options.identity,
        "model": model_identity(estimator.model),
        # The precision that actually runs ("auto" resolved): results of fp32 and bf16 are never mixed up.
        "dtype": estimator.precision,
        "backend": network_backend(estimator.model.net),  # torch or onnxruntime: their int8 differ
        # The attention kernel that runs (--dtype auto measures it with the precision): results of a fused and a
        # textbook kernel differ in the last bits, and a user comparing speeds needs to know which one ran.
        "attention": network_attention(estimator.model.net),
        "detector": detector_identity(estimator.detector),
        "score_threshold": estimator.score_threshold,
        "nms_iou": estimator.nms_iou,
        "max_people": estimator.max_people,
        "largest": estimator.largest,
        "camera": estimator.camera.describe(),
        "track": options.track,
        "smooth": options.smooth,
        "fill_gaps": options.fill_gaps,
        "feet": options.feet,
        "camera_motion": options.camera_motion,
        "write_json": options.write_json,
        "save_vertices": options.save_vertices,
        "save_mesh": options.save_mesh,
        "render": options.render,
        "draw_keypoints": options.draw_keypoints,
        "draw_boxes": options.draw_boxes,
        "start": options.start,
        "end": options.end,
        "stride": options.stride,
    }


class InferenceRun:
    """Runs the estimator over many inputs, writing every output atomically."""

    def __init__(self, estimator: Estimator, options: InferOptions, progress: Callable[[int, float], None] | None = None) -> None:
        self.est = estimator
        self.opt = options
        self.progress = progress
        self.renderer = Renderer(estimator.faces) if options.render else None
        self._frames_done = 0
        self._last_index = -1
        self._tracking = None  # (FrameTracker, TrackBuilder) while a video is tracked
        self._camera_motion = None  # (CameraMotionEstimator or None, source frame numbers) while a video is tracked
        self._start = time.perf_counter()
        #: The run identity recorded in every results file (JSON round-tripped, as it is read back).
        self.run_key: dict = json.loads(json.dumps(run_identity(estimator, options)))

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
        # Names come from the whole list, so every shard names an input the same way.
        ours = earlier_outputs(out)
        if ours:
            mine = [f for f in files if f.resolve() in ours]
            if mine:
                log.warning("skipping %d file(s) that an earlier run wrote to %s (e.g. %s); they are outputs, not inputs",
                            len(mine), out, mine[0].name)
                files = [f for f in files if f.resolve() not in ours]
        names = _unique_names(files, out)
        shard = self.opt.shard
        summary.shard = {"index": shard.index, "count": shard.count, "origin": shard.origin}
        if shard.is_split:
            weights = [input_weight(p, self.opt.start, self.opt.end, self.opt.stride) for p in files]
            files = select(files, shard, weights)
            log.info("shard %d of %d (%s): %d inputs", shard.index, shard.count, shard.origin, len(files))
        with output_lock(out, shard):
            self._all(files, out, names, summary, shard)
        return summary

    def _all(self, files: list[Path], out: Path, names: dict[Path, str], summary: RunSummary, shard: Shard) -> None:
        try:
            for path in files:
                remove_stale_for_input(out, names[path])
                done = None if self.opt.overwrite else self._complete(path, out, names[path])
                if done is not None:
                    log.info("%s: complete in %s from an earlier run with the same settings; skipped", path, out)
                    kind = "video" if path.suffix.lower() in VIDEO_EXTENSIONS else "image"
                    summary.inputs.append(InputSummary(str(path), kind, skipped=True, outputs=done))
                    continue
                item = InputSummary(str(path), "video" if path.suffix.lower() in VIDEO_EXTENSIONS else "image")
                summary.inputs.append(item)  # listed before it runs, so an interruption reports it
                try:
                    self._one(path, out, names[path], item)
                except KeyboardInterrupt:
                    item.ok, item.partial = False, True
                    item.error = (f"{path}: interrupted after {item.frames} frame(s); its results were not kept "
                                  f"(a rerun redoes it)")
                    raise
        except KeyboardInterrupt:
            summary.interrupted = True
            raise
        finally:
            summary.failures = count_failures(summary.inputs)
            summary.skipped = sum(s.skipped for s in summary.inputs)
            summary.frames = sum(s.frames for s in summary.inputs)
            summary.people = sum(s.people for s in summary.inputs)
            summary.seconds = time.perf_counter() - self._start
            summary.frames_per_second = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
            _write_json_atomic(out / summary_name(shard), summary.to_dict())

    def _complete(self, path: Path, out: Path, name: str) -> list[str] | None:
        """An earlier run's outputs of this input when it finished with the same settings, else None.

        The results file is written last, so its presence (with matching settings) means the rest is there.
        """
        results = out / f"{name}.npz"
        if not results.is_file():
            return None
        try:
            with np.load(results, allow_pickle=False) as npz:
                header = json.loads(str(npz["meta_json"][()]))
        except Exception:  # unreadable or not ours: redo it (the rename onto it is atomic)
            return None
        meta = header.get("meta", header)
        if meta.get("source") != str(path) or meta.get("run") != self.run_key:
            return None
        expected = [results] + ([out / f"{name}.json"] if self.opt.write_json else [])
        is_video = path.suffix.lower() in VIDEO_EXTENSIONS
        if self.opt.render:
            expected.append(out / f"{name}_overlay.{'mp4' if is_video else 'png'}")
        if is_video and self.opt.track:
            expected.append(out / f"{name}.tracks.npz")
        if not all(p.is_file() for p in expected):
            return None
        meshes = sorted(str(p) for p in (out / f"{name}_meshes").glob("*")) if self.opt.save_mesh else []
        return [str(p) for p in expected] + meshes

    def _meta(self, path: Path, source) -> dict:
        from ..motion.sequences import track_settings

        cfg = self.est.model.config
        return {
            "source": str(path),
            "smplestx_version": __version__,
            "model": {"embed_dim": cfg.encoder.embed_dim, "depth": cfg.encoder.depth},
            "fps": getattr(source, "fps", None),
            "stride": self.opt.stride,
            "run": self.run_key,
            "joint_names": list(SMPLX_137.names),
            "camera": "OpenCV pinhole per person (focal, princpt in image pixels); metres; x right, y down, z forward",
            # One camera for the whole input (scene_focal, scene_princpt; the *_scene fields).
            "scene_camera": self.est.camera.describe(),
            # How the track file beside it is built: `smplestx export` of this file builds the same tracks.
            **({"tracks": track_settings(self.opt.smooth, self.opt.fill_gaps)}
               if self.opt.track and path.suffix.lower() in VIDEO_EXTENSIONS else {}),
        }

    def _one(self, path: Path, out: Path, name: str, summary: InputSummary) -> None:
        """Run one input, recording in ``summary`` how it went (also as far as it got when interrupted)."""
        is_video = summary.kind == "video"
        start = time.perf_counter()
        try:
            with open_source(path, start=self.opt.start, end=self.opt.end, stride=self.opt.stride) as source:
                results_path = out / f"{name}.npz"
                writer = ResultsWriter(results_path, meta=self._meta(path, source), write_json=self.opt.write_json,
                                       keep_vertices=self.opt.save_vertices)
                overlay = None
                source_fps = source.fps or 30.0  # track frames count source frames, also with --stride
                if is_video and self.opt.track:
                    from ..motion.sequences import FrameTracker, TrackBuilder

                    self._tracking = (FrameTracker(source_fps), TrackBuilder())
                    self._camera_motion = (None, [])
                if self.renderer is not None and is_video:
                    # At least 1 fps: a sparse --stride (say 1000000) still makes a playable overlay.
                    fps = max((source.fps or 30.0) / self.opt.stride, 1.0)
                    overlay = VideoWriter(out / f"{name}_overlay.mp4", fps, source.width, source.height)
                with writer:
                    if overlay is not None:
                        with overlay:
                            self._frames(source, writer, overlay, out, name, summary)
                    else:
                        self._frames(source, writer, None, out, name, summary)
                summary.outputs.append(str(results_path))
                if self._tracking is not None:
                    summary.outputs.append(str(self._write_tracks(out / f"{name}.tracks.npz", source_fps, path)))
                if self.opt.write_json:
                    summary.outputs.append(str(results_path.with_suffix(".json")))
                if overlay is not None:
                    summary.outputs.append(str(out / f"{name}_overlay.mp4"))
                if is_video:
                    self._check_video_read(path, source, summary, results_path)
        except (MediaError, OSError, ValueError) as exc:
            summary.ok = False
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                summary.error = (f"{path}: no space left on the device of {out} while writing its outputs "
                                 f"(free some space and rerun: finished inputs are kept)")
            else:
                summary.error = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            log.error("%s", summary.error)
            meshes = out / f"{name}_meshes"
            if meshes.is_dir() and not any(meshes.iterdir()):
                meshes.rmdir()
        finally:
            self._tracking = None
            self._camera_motion = None
            summary.seconds = time.perf_counter() - start

    def _check_video_read(self, path: Path, source, summary: InputSummary, results_path: Path) -> None:
        """A video that gave no frame, or far fewer than its header promised, is a failed (partial) input."""
        if summary.frames == 0:
            length = f" (the video is {source.duration_s:.1f} s long)" if getattr(source, "duration_s", None) else ""
            raise MediaError(f"{path}: no frames between --start and --end{length}")
        expected = getattr(source, "estimated_frames", None)
        if expected and summary.frames < expected - max(2, expected // 50):
            summary.ok = False
            summary.error = (f"{path}: the video ended after {summary.frames} of {expected} frames (truncated or "
                             f"corrupt?); the frames read are in {results_path.name}")
            log.error("%s", summary.error)
        listed = getattr(self.est.detector, "listed_frames", None)
        if listed is not None:
            beyond = [f for f in listed(path) if f > self._last_index]
            if beyond:
                log.warning("%s: the boxes file lists frames %d..%d, beyond the last frame read (%d); they were not used",
                            path, beyond[0], beyond[-1], self._last_index)

    def _frames(self, source, writer: ResultsWriter, overlay: VideoWriter | None, out: Path, name: str, summary: InputSummary) -> None:
        # The prefetch thread decodes ahead; the `with` stops it before the source closes.
        with prefetch(source) as frames:
            for frame, result in self.est.predict_frame_pairs(frames):
                self._frame(frame, result, writer, overlay, out, name, summary)

    def _frame(self, frame, result: FrameResult, writer: ResultsWriter, overlay: VideoWriter | None, out: Path,
               name: str, summary: InputSummary) -> None:
        """Write one frame's results, overlay and meshes."""
        if self._tracking is not None:
            self._tracking[0].update(result)
            self._tracking[1].add(result)
            self._follow_camera(frame.image, result)
        writer.add(result)
        self._last_index = result.index
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

    def _follow_camera(self, image: np.ndarray, result: FrameResult) -> None:
        """Feed the camera-motion estimator (``--camera moving|auto``) this frame, its people masked by their boxes."""
        estimator, frames = self._camera_motion
        frames.append(result.index)
        if self.opt.camera_motion == "static":
            return
        if estimator is None:
            from ..motion.camera_motion import CameraMotionEstimator

            height, width = image.shape[:2]
            focal, princpt = result.scene_focal, result.scene_princpt
            if focal is None or princpt is None:  # older results carry no scene camera: the default one of the frame
                focal, princpt = self.est.camera.resolve(width, height)
            estimator = CameraMotionEstimator(focal, princpt, mode=self.opt.camera_motion)
            self._camera_motion = (estimator, frames)
        boxes = np.stack([p.box_xyxy for p in result.people]) if result.people else np.zeros((0, 4))
        estimator.update(image, boxes)

    def draw(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """The overlay of one frame: meshes, then optional boxes and keypoints."""
        people = [p for p in result.people if p.vertices is not None]
        if self.renderer is None:
            return image
        tracked = any(p.track_id >= 0 for p in result.people)
        # Tracked people keep their colour from frame to frame; untracked ones cycle the palette by position.
        colors = overlay_colors([p.track_id for p in people])
        if result.scene_focal is not None and all(p.vertices_scene is not None for p in people):
            # One camera per frame: people occlude each other by their depths in the scene camera.
            canvas = self.renderer.render(image, [p.vertices_scene for p in people], [result.scene_focal] * len(people),
                                          [result.scene_princpt] * len(people), colors=colors)
        else:
            canvas = self.renderer.render(image, [p.vertices for p in people], [p.focal for p in people],
                                          [p.princpt for p in people], colors=colors)
        if (self.opt.draw_boxes or tracked) and result.people:
            canvas = draw_boxes(canvas, np.stack([p.box_xyxy for p in result.people]),
                                [f"{p.score:.2f}" if p.track_id < 0 else f"#{p.track_id} {p.score:.2f}" for p in result.people],
                                colors=[track_color(p.track_id) for p in result.people] if tracked else None,
                                labels_only=not self.opt.draw_boxes)
            # SMPLer-X people also carry their predicted hand and face boxes.
            parts = [(getattr(p, k), label) for p in result.people for k, label in _PART_LABELS if getattr(p, k) is not None]
            if parts and self.opt.draw_boxes:
                canvas = draw_boxes(canvas, np.stack([b for b, _ in parts]), [label for _, label in parts], color=(240, 160, 40), thickness=1)
        if self.opt.draw_keypoints:
            for p in result.people:
                canvas = draw_keypoints(canvas, p.joints_2d)
        return canvas

    def _write_tracks(self, path: Path, fps: float, source: Path) -> Path:
        """Smooth the collected tracks, place them in the world and write the track file."""
        from ..motion.tracks import save_tracks

        estimator, frames = self._camera_motion
        motion = estimator.result() if estimator is not None and frames else None
        trackset = video_tracks(self._tracking[1], fps, str(source), frames, motion, self.est.model.body,
                                smoothing=self.opt.smooth, fill_gaps=self.opt.fill_gaps, feet=self.opt.feet)
        log.info("%s: %d tracks (%s)", source, len(trackset.tracks), trackset.smoothing)
        return save_tracks(path, trackset)

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


def video_tracks(builder: TrackBuilder, fps: float, source: str, camera_frames: Sequence[int],
                 motion: CameraMotion | None, body: BodyModel, *, smoothing: str = "gaussian", fill_gaps: int = 0,
                 feet: str = "pin") -> TrackSet:
    """The track file's track set of one video: tracks built, smoothed, feet pinned, placed in the world.

    A moving camera (``motion.moving``): the tracks are built unsmoothed and placed with the camera path as
    estimated (smoothed by the estimator), then every world root is smoothed as a trajectory of its own, the
    camera-frame roots are made from it and the feet pinned in the world, last
    (:func:`~smplestx.motion.world_frame.place_moving_camera`). Otherwise the tracks are smoothed
    and pinned in the camera frame and placed with a static camera over every frame of ``camera_frames``, on the
    floor the feet found (y up, floor at y = 0) when there is one, else in the camera. A cut between shots
    (``motion.segments``) splits every track crossing it before anything is filled, smoothed or pinned.
    """
    from ..motion.camera_motion import start_pose
    from ..motion.smoothing import smooth
    from ..motion.tracks import segments_in_frames
    from ..motion.world_frame import place_moving_camera, place_tracks, split_at_cuts

    frames = np.asarray(camera_frames, np.int64)
    segments = segments_in_frames(frames, motion.segments) if motion is not None and motion.segments else None
    raw = builder.build(fps, source=source)
    if segments is not None and len(segments) > 1:
        raw = split_at_cuts(raw, segments)  # before gap filling too: no filled frame bridges two shots
    if motion is not None and motion.moving:
        # Smoothing a camera-frame root would blur the camera's shake into the body: the root is smoothed in the world.
        raw = smooth(raw, "none", fill_gaps_frames=fill_gaps) if fill_gaps else raw
        return place_moving_camera(raw, body, frames, motion, pin=feet == "pin", smoothing=smoothing)
    trackset = smooth(raw, smoothing, fill_gaps_frames=fill_gaps) if smoothing != "none" or fill_gaps else raw
    if feet == "pin":
        from ..motion.feet import pin_feet

        trackset = pin_feet(trackset, body)
    if not len(frames):
        return trackset
    r0, t0 = start_pose(trackset.floor)
    n = len(frames)
    return place_tracks(trackset, body, frames, np.repeat(r0[None], n, 0), np.repeat(t0[None], n, 0), moving=False,
                        segments=segments)


def input_weight(path: Path, start: float | None = None, end: float | None = None, stride: int = 1) -> float:
    """How many frames an input will give: 1 for an image, the frames read of a video (from its header)."""
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        return 1.0
    try:
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 30)
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / 1_000_000
            else:
                seconds = (stream.frames or 1) / rate
    except Exception as exc:  # an unreadable video still needs a deterministic place; its run reports the error
        log.debug("%s: no duration in the header (%s); weighed as one frame", path, exc)
        return 1.0
    lo = max(start or 0.0, 0.0)
    hi = seconds if end is None else min(end, seconds)
    return max(1.0, math.ceil(max(hi - lo, 0.0) * rate / max(stride, 1)))


def summary_name(shard: Shard) -> str:
    """``summary.json`` for a whole run, ``summary.shard-I-of-N.json`` for one share of it."""
    return f"summary.{shard.tag}.json" if shard.is_split else "summary.json"


def merge_summaries(folder: Path) -> tuple[RunSummary, list[int]]:
    """Join the shard summaries of an output folder into one; also returns the shards that are missing."""
    parts = sorted(folder.glob("summary.shard-*-of-*.json"))
    if not parts:
        raise FileNotFoundError(f"{folder}: no summary.shard-*-of-*.json files to merge (was the run sharded?)")
    merged = RunSummary()
    counts: set[int] = set()
    seen: set[int] = set()
    for part in parts:
        try:
            data = json.loads(part.read_text(encoding="utf-8"))
            shard, inputs = data["shard"], data["inputs"]
            index, count = int(shard["index"]), int(shard["count"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{part}: not a smplestx shard summary ({exc})") from None
        counts.add(count)
        seen.add(index)
        merged.inputs.extend(InputSummary(**{k: v for k, v in item.items() if k in InputSummary.__dataclass_fields__})
                             for item in inputs)
        merged.seconds = max(merged.seconds, float(data.get("seconds", 0.0)))
        merged.interrupted |= bool(data.get("interrupted", False))
    if len(counts) != 1:
        raise UsageError(f"{folder}: shard summaries of different splits ({sorted(counts)} shares); remove the stale ones")
    count = counts.pop()
    merged.inputs.sort(key=lambda s: s.path)
    merged.failures = count_failures(merged.inputs)
    merged.skipped = sum(s.skipped for s in merged.inputs)
    merged.frames = sum(s.frames for s in merged.inputs)
    merged.people = sum(s.people for s in merged.inputs)
    merged.frames_per_second = merged.frames / merged.seconds if merged.seconds > 0 else 0.0
    merged.shard = {"index": 0, "count": count, "origin": "merged"}
    return merged, sorted(set(range(count)) - seen)


def count_failures(inputs: list[InputSummary]) -> int:
    """Inputs that failed; one an interruption cut short is partial, not failed."""
    return sum(not s.ok and not s.partial for s in inputs)


def _write_json_atomic(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2))
