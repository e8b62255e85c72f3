"""`smplestx models` and `smplestx download`: the model table and its downloads."""

from __future__ import annotations

import argparse

from ..errors import UsageError


def _cmd_models(args: argparse.Namespace) -> int:
    from ..models.zoo import DEFAULT_DETECTOR, DETECTORS, MODELS, hub_cache_dir

    print(f"{'name':22s} {'size':>9s}  {'sha256':9s} source")
    for m in MODELS.values():
        size = f"~{m.approx_bytes / 2**30:.1f} GiB" if m.approx_bytes else "?"
        if m.packaged and (shipped := m.shipped_path) is not None and shipped.is_file():
            size = f"{shipped.stat().st_size / 2**20:.1f} MiB"
        print(f"{m.name:22s} {size:>9s}  {'yes' if m.sha256 else 'not yet':9s} {m.source}")
    print(f"detectors: {', '.join(DETECTORS)} (default {DEFAULT_DETECTOR})")
    print(f"downloads go to the Hugging Face cache: {hub_cache_dir()}; fetch ahead with `smplestx download NAME "
          "[--detector]`; licences: `smplestx models --licences`")
    if args.licences:
        for m in MODELS.values():
            print(f"{m.name}: {m.licence}")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from ..models.zoo import DEFAULT_DETECTOR, download, hub_cache_dir, zoo_entry

    names = list(args.names) + ([DEFAULT_DETECTOR] if args.detector else [])
    if not names:
        raise UsageError("download: name a model (see `smplestx models`) or give --detector")
    for name in names:
        zoo_entry(name)  # every name checked before the first byte moves
    for name in names:
        got = download(name)
        print(f"{got.entry.name if got.entry else name}: " + ", ".join(str(f) for f in (got.checkpoint, got.config) if f))
    print(f"in the Hugging Face cache {hub_cache_dir()} (moved by HF_HOME or HF_HUB_CACHE); later runs use it, "
          "offline too (HF_HUB_OFFLINE=1)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("models", help="list the models that --model NAME downloads on first use")
    p.add_argument("-l", "--licences", action="store_true", help="also print each model's licence")
    p.set_defaults(func=_cmd_models)
    p = sub.add_parser("download", help="fetch models (and the detector) into the cache now, e.g. on a login node")
    p.add_argument("names", nargs="*", metavar="NAME", help="model names of `smplestx models` (or detector names)")
    p.add_argument("--detector", action="store_true", help="also fetch the default person detector (RT-DETR)")
    p.set_defaults(func=_cmd_download)
