"""`smplestx export`: tracked people as animation files."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import SmplestxError, UsageError


def _default_output(path: str) -> str:

    return str(Path(path).resolve().parent)


def _cmd_export(args: argparse.Namespace) -> int:
    from ..export import export_animation
    from ..user_config import find_body_models

    args.body_models = find_body_models(args.body_models)
    track_ids = None
    if args.track:
        try:
            track_ids = [int(x) for x in args.track]
        except ValueError:
            raise UsageError(f"--track takes integer track ids, got {' '.join(args.track)}") from None
    try:
        report = export_animation(args.input, args.format, args.body_models,
                                  args.output if args.output else _default_output(args.input),
                                  track_ids=track_ids, fps=args.fps, gender=args.gender, smooth=args.smooth,
                                  feet=args.feet, frame=args.frame)
    except RuntimeError as exc:  # Blender missing or failing while converting to FBX: one line, not a traceback
        raise SmplestxError(str(exc)) from exc
    for tid, files in report.files.items():
        names = ", ".join(str(p) for p in files.values())
        err = report.skinning_error.get(tid)
        skin = f" (4-influence skin: max {err['max_m'] * 1000:.2f} mm from full LBS)" if err else ""
        print(f"track {tid}: {names}{skin}")
    if report.scene is not None:
        print(f"scene: {report.scene}")
    print(f"exported {len(report.files)} track(s) in {report.seconds:.1f} s")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("export", help="export tracked people as animations: glTF (.glb), BVH, AMASS-style npz, FBX, "
                                      "Meshcapade .smpl/.mcs")
    p.add_argument("input", metavar="INPUT", help="a results file of `smplestx infer` (.npz/.json), a .tracks.npz, "
                                                  "or a Meshcapade .smpl/.mcs or AMASS SMPL-X .npz")
    p.add_argument("--format", default="glb,bvh,amass",
                   help="comma-separated: glb, bvh, amass, fbx, smpl, mcs (default glb,bvh,amass)")
    p.add_argument("--body-models", help="folder holding smplx/SMPLX_NEUTRAL.npz, or the smplx/ folder (default: "
                   "$SMPLESTX_BODY_MODELS or body_models in the user config file)")
    p.add_argument("--output", help="output folder (default: the input's folder)")
    p.add_argument("--track", action="append", metavar="ID", help="export only this track id (repeatable)")
    p.add_argument("--fps", type=float, help="frame rate (default: the input's, else 30)")
    p.add_argument("--gender", choices=("neutral", "male", "female"), help="body model (default: the input's)")
    p.add_argument("--smooth", metavar="METHOD", help="temporal smoothing before export (smplestx.motion), e.g. gaussian")
    p.add_argument("--feet", choices=("pin", "none"),
                   help="foot cleanup before export: pin (planted feet stay put; the default, except for .smpl/.mcs/"
                        "AMASS inputs, converted as they are; skipped when the input is already pinned) | none")
    p.add_argument("--frame", choices=("world", "camera"),
                   help="world: each root in the track file's world (y up, floor at y = 0; a walker filmed by a "
                        "panning camera walks a straight line) and the .glb/.mcs gain the moving camera | camera: the "
                        "filming camera's frame (default: world when the input has one, i.e. a track file of "
                        "`infer --camera static|moving|auto`)")
    p.set_defaults(func=_cmd_export)
