"""`smplestx overlay`: a track file's bodies drawn over its video, the world ones seen again through the camera path."""

from __future__ import annotations

import argparse
from pathlib import Path


def _default_output(tracks: str, frame: str) -> Path:
    name = Path(tracks).name
    stem = name[: -len(".tracks.npz")] if name.endswith(".tracks.npz") else Path(name).stem
    return Path(tracks).resolve().parent / f"{stem}_{frame}_overlay.mp4"


def _cmd_overlay(args: argparse.Namespace) -> int:
    from ..motion.reprojection import overlay_track_file
    from ..user_config import find_body_models

    output = Path(args.output) if args.output else _default_output(args.tracks, args.frame)
    report = overlay_track_file(args.tracks, args.video, output, find_body_models(args.body_models), args.frame,
                                args.floor_grid)
    print(f"{report.path}: {report.frames} frames, {report.bodies} bodies drawn in {report.frames_with_bodies} "
          f"frames ({args.frame} frame)")
    px = report.consistency_px
    if px is not None and len(px):
        print(f"world vs camera-frame joints: mean {px.mean():.2f} px, worst {px.max():.2f} px "
              f"(frame {int(report.consistency_frames[px.argmax()])})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("overlay", help="draw a track file's bodies over its video: the world bodies reprojected "
                                       "through the estimated camera path (a check of the world frame you can see)")
    p.add_argument("tracks", metavar="TRACKS", help="a .tracks.npz of `smplestx infer`")
    p.add_argument("--video", required=True, help="the video the track file was made from")
    p.add_argument("--output", help="output video (default: TRACKS' folder, NAME_{world|camera}_overlay.mp4)")
    p.add_argument("--frame", choices=("world", "camera"), default="world",
                   help="world: each body posed in the world (global_orient_world, transl_world) and moved into every "
                        "frame's camera by the camera path | camera: the camera-frame bodies, as infer's overlay")
    p.add_argument("--floor-grid", action="store_true",
                   help="also draw a 0.5 m grid on the world floor (y = 0) through the camera path: it stays on the "
                        "video's floor when the camera path is right and slides over it where the path is wrong (the "
                        "bodies cannot show that: infer makes their world poses from that same path)")
    p.add_argument("--body-models", help="folder holding smplx/SMPLX_NEUTRAL.npz, or the smplx/ folder (default: "
                   "$SMPLESTX_BODY_MODELS or body_models in the user config file)")
    p.set_defaults(func=_cmd_overlay)
