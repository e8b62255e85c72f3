"""`smplestx synthetic-body`, `synthetic-media`, `synthetic-data`: license-free bodies, media, data sets."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from .common import _number, _POSITIVE_INT


def _cmd_synthetic_body(args: argparse.Namespace) -> int:
    from ..synthetic.smplx_model import write_synthetic_body

    folder = write_synthetic_body(args.output, seed=args.seed)
    print(f"wrote a synthetic (license-free) SMPL-X model to {folder}")
    return 0


def _cmd_synthetic_media(args: argparse.Namespace) -> int:
    from ..synthetic.scene import write_demo_media
    from ..user_config import find_body_models

    args.body_models = find_body_models(args.body_models)
    if args.walk:
        from ..synthetic.walks import write_walk_media

        media, boxes, truth = write_walk_media(args.output, args.body_models, scenario=args.walk, frames=args.frames,
                                               width=args.width, height=args.height, fps=args.fps, seed=args.seed,
                                               camera=args.camera)
        print(f"wrote {media}, its true boxes {boxes} and ground truth {truth}")
        return 0
    if args.camera:
        raise UsageError(f"synthetic-media: --camera {args.camera} films a walk; add --walk crossing or --walk hard")
    media, boxes, truth = write_demo_media(args.output, args.body_models, people=args.people, frames=args.frames,
                                           width=args.width, height=args.height, fps=args.fps, seed=args.seed)
    print(f"wrote {media}, its true person boxes {boxes} (use --detector boxes:{boxes}) and ground truth {truth}")
    return 0


def _cmd_synthetic_data(args: argparse.Namespace) -> int:
    from ..synthetic.dataset import write_synthetic_dataset

    if args.num < 1:
        raise UsageError("--num must be >= 1")
    annot = write_synthetic_dataset(args.output, args.num, seed=args.seed, split=args.split,
                                    body_models=args.body_models, image_size=(args.width, args.height),
                                    people_per_image=(args.min_people, args.max_people),
                                    genders=tuple(args.genders.split(",")), truncation=args.truncation,
                                    occlusion=args.occlusion)
    print(f"wrote {args.num} images and their HumanData {annot}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("synthetic-body", help="write a license-free synthetic SMPL-X model folder")
    p.add_argument("output", help="folder to create; the model goes to OUTPUT/smplx/")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.set_defaults(func=_cmd_synthetic_body)
    p = sub.add_parser("synthetic-media", help="render an image or video of mannequins (for demos and benchmarks), "
                       "with their true boxes OUTPUT.boxes.json and ground truth OUTPUT.truth.npz")
    p.add_argument("output", help="an image (.png, .jpg) or video (.mp4, ...) path")
    p.add_argument("--body-models", help="an SMPL-X model folder, e.g. from synthetic-body (default: "
                   "$SMPLESTX_BODY_MODELS or body_models in the user config file)")
    p.add_argument("--people", type=_number(int, 0, 64), default=2)
    p.add_argument("--frames", type=_number(int, 1, 100000), default=30, help="video frames")
    p.add_argument("--width", type=_number(int, 16, 16384), default=640)
    p.add_argument("--height", type=_number(int, 16, 16384), default=480)
    p.add_argument("--fps", type=_number(float, 0.0, 1000.0, lo_open=True), default=10.0)
    p.add_argument("--walk", choices=("crossing", "hard"),
                   help="a video of people walking on crossing paths (hard: three people, occlusions, one leaves and "
                        "comes back); their truth adds foot contacts and the floor")
    p.add_argument("--camera", choices=("static", "pan", "follow", "orbit", "handheld"),
                   help="with --walk: film a textured world (floor and backdrop) from this camera path; the truth "
                        "gains the camera path and the world bodies (default: the plain backdrop, a static camera)")
    p.add_argument("--seed", type=int, default=0, help="the scene: 0 is the fixed default, other seeds other scenes")
    p.set_defaults(func=_cmd_synthetic_media)
    p = sub.add_parser("synthetic-data", help="render a synthetic HumanData dataset (training / evaluation checks)")
    p.add_argument("output", help="folder to create: images/, annotations/synthetic_SPLIT.npz (+ body_models/)")
    p.add_argument("--num", type=_POSITIVE_INT, default=64, help="number of images")
    p.add_argument("--split", default="train", help="split name in the file name (train, test, ...)")
    p.add_argument("--seed", type=int, default=0, help="random seed (image i depends only on seed and i)")
    p.add_argument("--body-models", help="SMPL-X model folder to render with (default: a synthetic one written to "
                   "OUTPUT/body_models, never $SMPLESTX_BODY_MODELS: the data set carries the body it was made with)")
    p.add_argument("--width", type=_number(int, 16, 16384), default=640)
    p.add_argument("--height", type=_number(int, 16, 16384), default=480)
    p.add_argument("--min-people", type=_number(int, 0, 64), default=1, help="people per image, at least")
    p.add_argument("--max-people", type=_number(int, 1, 64), default=2, help="people per image, at most")
    p.add_argument("--genders", default="neutral", help="comma-separated genders to draw from")
    p.add_argument("--truncation", type=_number(float, 0, 1), default=0.0,
                   help="chance that a person is cut by an image border (default 0.0)")
    p.add_argument("--occlusion", type=_number(float, 0, 1), default=0.0,
                   help="chance that the people of an image overlap, one in front of the other (default 0.0)")
    p.set_defaults(func=_cmd_synthetic_data)
