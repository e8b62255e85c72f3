"""``export_animation``: tracks (or a results / tracks / motion file) to glTF, BVH, AMASS-style npz, FBX and Meshcapade
``.smpl`` (one file per track) and ``.mcs`` (one scene per input)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..body import BodyModel
from ..errors import UsageError
from ..motion.feet import check_feet_mode, pin_feet
from ..motion.tracks import TrackSet
from ..motion.world_frame import view_rotation, world_view
from .amass import write_amass
from .bvh import write_bvh
from .fbx import HOW_TO_GET_BPY, find_bpy_python, glb_to_fbx
from .gltf import WORLD_EXTRAS, WORLD_EXTRAS_NO_FLOOR, CameraPath, skinning_error, write_gltf_animation
from .inputs import load_animation_input
from .readers import is_motion_file
from .meshcapade import import_smplcodec, write_mcs, write_smpl
from .skeleton import build_skeleton, densify

log = logging.getLogger(__name__)

#: Format name -> file name suffix after ``<stem>_track<ID>``.
FORMATS: dict[str, str] = {"glb": ".glb", "bvh": ".bvh", "amass": ".amass.npz", "fbx": ".fbx", "smpl": ".smpl",
                           "mcs": "_scene.mcs"}
#: The frames an export can be in: the track file's world (y up, floor at y = 0) or the filming camera's.
FRAMES = ("world", "camera")


@dataclass
class ExportReport:
    """What :func:`export_animation` wrote: paths per track and format, and the skinning error per track."""

    files: dict[int, dict[str, Path]] = field(default_factory=dict)
    skinning_error: dict[int, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    scene: Path | None = None  # the .mcs holding every track, when asked for


def parse_formats(formats: str | Sequence[str]) -> list[str]:
    """``"glb,bvh"`` or a sequence of names -> validated, de-duplicated list (ValueError for unknown names)."""
    names = formats.split(",") if isinstance(formats, str) else list(formats)
    out: list[str] = []
    for n in (x.strip().lower() for x in names):
        if not n:
            continue
        if n not in FORMATS:
            raise UsageError(f"unknown animation format {n!r}; choose from {', '.join(FORMATS)}")
        if n not in out:
            out.append(n)
    if not out:
        raise UsageError(f"no animation format given; choose from {', '.join(FORMATS)}")
    return out


def _stem(path: Path) -> str:
    """``clip.tracks.npz`` -> ``clip``; ``a.b.npz`` -> ``a.b`` (only the known suffixes go)."""
    name = path.name
    for suffix in (".tracks.npz", ".npz", ".json", ".smpl", ".mcs"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return path.stem


def _smooth(ts: TrackSet, method: str, world: bool = False) -> TrackSet:
    """Apply the motion package's smoothing if this build has it (``world``: the world roots and camera path too)."""
    try:
        from ..motion.smoothing import smooth  # type: ignore[import-not-found]
    except ImportError:
        raise UsageError("smoothing is not available in this build of smplestx (no smplestx.motion.smoothing)") from None
    return smooth(ts, method, world=True) if world else smooth(ts, method)


def resolve_frame(ts: TrackSet, frame: str | None, where: str) -> str:
    """``"world"`` or ``"camera"``: ``frame`` checked against the input (None: world when it has one)."""
    if frame not in (None, *FRAMES):
        raise UsageError(f"unknown frame {frame!r}; choose {' or '.join(FRAMES)}")
    has_world = ts.camera_rotation is not None and bool(ts.tracks) and \
        all(t.global_orient_world is not None for t in ts.tracks)
    if frame == "world" and not has_world:
        raise UsageError(f"{where}: no world frame in this input (no camera path); infer the video with "
                         "--camera static|moving|auto, or export with --frame camera")
    if frame is None:
        frame = "world" if has_world else "camera"
        if not has_world:
            log.info("%s: no world frame in the input (no camera path): exporting in the camera frame", where)
    return frame


def export_animation(
    tracks_or_path: TrackSet | str | os.PathLike[str],
    formats: str | Sequence[str],
    body_models: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    track_ids: Sequence[int] | None = None,
    fps: float | None = None,
    stem: str | None = None,
    gender: str | None = None,
    smooth: str | None = None,
    feet: str | None = "none",
    frame: str | None = None,
    expressions: bool = True,
    device: str | torch.device = "cpu",
) -> ExportReport:
    """Export every (or the chosen) track as ``<stem>_track<ID>.<format>`` files in ``output_dir``.

    ``tracks_or_path``: a :class:`~smplestx.motion.tracks.TrackSet`, a ``.tracks.npz``, a results file of
    ``smplestx infer``, or a ``.smpl`` / ``.mcs`` / AMASS SMPL-X ``.npz`` (:mod:`.readers`). ``formats``: any of
    ``glb``, ``bvh``, ``amass``, ``fbx`` (FBX needs Blender's ``bpy``, see :mod:`.fbx`), ``smpl`` and ``mcs``
    (these need ``smplcodec``; ``mcs`` writes one ``<stem>_scene.mcs`` holding every chosen track).
    ``body_models``: the folder with ``smplx/SMPLX_<GENDER>.npz``. ``fps`` overrides the input's frame rate;
    ``gender`` the track set's. ``feet="pin"`` pins planted feet and keeps them above the floor
    (:mod:`smplestx.motion.feet`) unless the input is pinned already; ``feet=None`` (the CLI's default) pins
    too, except another tool's motion file (``.smpl``, ``.mcs``, AMASS), which is converted as it is. ``frame``:
    ``"world"`` (each root from ``global_orient_world`` / ``transl_world``: a walker filmed by a panning camera walks
    a straight line; the .glb, .fbx and .mcs gain the moving camera; feet are pinned in the world), ``"camera"`` (the
    filming camera's frame, as before the world existed) or None: world when the input has one. Every check (formats, ids, bpy, smplcodec, body model) runs before the first
    write, every write is atomic, and a failure part-way removes the files this call created.
    See ``docs/animation-export.md``.
    """
    start = time.perf_counter()
    names = parse_formats(formats)
    if feet is not None:
        check_feet_mode(feet)
    bpy_python = None
    if "fbx" in names:
        bpy_python = find_bpy_python()
        if bpy_python is None:
            raise UsageError(HOW_TO_GET_BPY)
    if "smpl" in names or "mcs" in names:
        import_smplcodec()
    input_path = None
    if isinstance(tracks_or_path, TrackSet):
        ts = tracks_or_path
        if stem is None:
            stem = "animation"
    else:
        path = input_path = Path(tracks_or_path)
        ts = load_animation_input(path, fps, body_models)
        if stem is None:
            stem = _stem(path)
    rate = float(fps if fps is not None else ts.fps)
    if not rate > 0:
        raise UsageError(f"fps must be positive, got {rate}")
    if track_ids is not None:
        known = {t.track_id for t in ts.tracks}
        missing = [i for i in track_ids if i not in known]
        if missing:
            raise UsageError(f"no track with id {missing[0]}; this input has tracks {sorted(known)}")
        chosen = [ts.track(i) for i in track_ids]
    else:
        chosen = list(ts.tracks)
    if not chosen:
        raise UsageError("the input has no tracks to export")
    frame = resolve_frame(ts, frame, str(input_path) if input_path is not None else ts.source or "the track set")
    world = frame == "world"
    if smooth:
        if world:
            ts = _smooth(replace(ts, tracks=chosen, fps=rate), smooth, world=True)
        else:
            ts = _smooth(TrackSet(tracks=chosen, fps=rate, smoothing=ts.smoothing, focal=ts.focal, princpt=ts.princpt,
                                  image_size=ts.image_size, source=ts.source, gender=ts.gender), smooth)
        chosen = list(ts.tracks)
    sex = (gender or ts.gender or "neutral").lower()
    body = BodyModel.from_dir(body_models, sex, dtype=torch.float64, device=device)
    camera = None
    if world:
        view = view_rotation(ts)
        camera = CameraPath.of(ts, view)
        ts = world_view(replace(ts, tracks=chosen), body)
        chosen = list(ts.tracks)
    if feet is None:
        feet = "none" if input_path is not None and is_motion_file(input_path) else "pin"
    if feet == "pin" and ts.feet != "pin":
        # A world on the floor has y up (seen by the level camera as -y): known, not guessed from the bodies.
        up = view @ np.array([0.0, 1.0, 0.0]) if world and ts.floor is not None else None
        ts = pin_feet(replace(ts, tracks=chosen), body, up=up)
        chosen = list(ts.tracks)

    out_dir = Path(output_dir)
    if input_path is not None:
        planned = [out_dir / f"{stem}_track{t.track_id}{FORMATS[n]}" for t in chosen for n in names if n != "mcs"]
        planned += [out_dir / f"{stem}{FORMATS['mcs']}"] if "mcs" in names else []
        if any(p.resolve() == input_path.resolve() for p in planned):
            raise UsageError(f"{input_path}: an output would overwrite the input; choose another --output folder")
    report = ExportReport()
    created: list[Path] = []
    try:
        _write_all(chosen, names, body, out_dir, stem, rate, sex, ts, expressions, bpy_python, report, created, camera)
    except BaseException:
        # Nothing half-written: the files this call created go (files it replaced keep their new content).
        for p in created:
            p.unlink(missing_ok=True)
        raise
    report.seconds = time.perf_counter() - start
    return report


def _write_all(chosen: list, names: list[str], body: BodyModel, out_dir: Path, stem: str, rate: float, sex: str,
               ts: TrackSet, expressions: bool, bpy_python: str | None, report: ExportReport,
               created: list[Path], camera: CameraPath | None = None) -> None:
    """Write every file of :func:`export_animation`; ``created`` collects the paths that did not exist before.

    ``camera``: the world-frame export's moving camera (the tracks are then the world seen by a level camera at its
    origin, :func:`~smplestx.motion.world_frame.world_view`); None in the camera frame."""

    def note(p: Path) -> Path:
        if not p.exists():
            created.append(p)
        return p

    skeletons = []
    for track in chosen:
        skel = build_skeleton(densify(track, body), body)
        files: dict[str, Path] = {}
        base = out_dir / f"{stem}_track{track.track_id}"

        def target(fmt: str) -> Path:
            return note(base.with_name(base.name + FORMATS[fmt]))

        glb = base.with_name(base.name + FORMATS["glb"])
        scratch = None
        if "glb" not in names and "fbx" in names:
            # FBX alone: the intermediate .glb goes to a private folder, never over a user's file.
            scratch = tempfile.TemporaryDirectory(prefix="smplestx-fbx-")
            glb = Path(scratch.name) / glb.name
        elif "glb" in names:
            note(glb)
        if "glb" in names or "fbx" in names:
            report.skinning_error[track.track_id] = err = skinning_error(skel)
            log.info("track %d: 4-influence skin vs full LBS: max %.2e m, mean %.2e m",
                     track.track_id, err["max_m"], err["mean_m"])
            extras = {"source": ts.source, "gender": sex, "smoothing": ts.smoothing,
                      "skin_4_influence_error_max_m": err["max_m"]}
            if camera is not None:
                on_floor = bool(np.allclose(camera.to_gltf, np.eye(3)))
                extras.update(WORLD_EXTRAS if on_floor else WORLD_EXTRAS_NO_FLOOR)
            write_gltf_animation(glb, skel, rate, expressions=expressions, extras=extras, camera=camera)
            files["glb"] = glb
        if "bvh" in names:
            files["bvh"] = write_bvh(target("bvh"), skel, rate)
        if "amass" in names:
            files["amass"] = write_amass(target("amass"), skel, rate, sex)
        if "smpl" in names:
            files["smpl"] = write_smpl(target("smpl"), skel, rate, sex)
        if "fbx" in names:
            try:
                files["fbx"] = glb_to_fbx(glb, target("fbx"), bpy_python)
            finally:
                if scratch is not None:
                    files.pop("glb", None)
                    scratch.cleanup()
        report.files[track.track_id] = files
        if "mcs" in names:
            skeletons.append(skel)
    if "mcs" in names:
        report.scene = write_mcs(note(out_dir / f"{stem}{FORMATS['mcs']}"), skeletons, rate, sex, ts, camera=camera)
