"""`smplestx merge-summaries`: join the shares of a sharded infer or eval run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path



def _cmd_merge_summaries(args: argparse.Namespace) -> int:
    from ..pipeline.run import _write_json_atomic, merge_summaries

    folder = Path(args.output)
    if list(folder.glob("per_sample.shard-*-of-*.csv")):
        from ..evaluate.runner import merge_eval_shards

        report, missing = merge_eval_shards(folder)
        print(f"{report.evaluated} samples -> {folder / 'per_sample.csv'}, {folder / 'summary.json'}")
        for mode, values in (("corrected", report.corrected), ("reference", report.reference)):
            print(f"  {mode}: " + ", ".join(f"{k} {v:.2f}" for k, v in values.items()))
        if missing:
            print(f"smplestx: missing shards {missing}: rerun them (finished samples are kept)", file=sys.stderr)
            return 1
        return 0
    merged, missing = merge_summaries(folder)
    _write_json_atomic(folder / "summary.json", merged.to_dict())
    print(
        f"{len(merged.inputs)} inputs from {merged.shard['count'] - len(missing)} of {merged.shard['count']} shards, "
        f"{merged.frames} frames, {merged.failures} failed, {merged.skipped} skipped -> {folder / 'summary.json'}"
    )
    if missing:
        print(f"smplestx: missing shards {missing}: rerun them (finished inputs are skipped)", file=sys.stderr)
        return 1
    return 1 if merged.failures else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("merge-summaries", help="join the per-shard results of a sharded infer or eval run")
    p.add_argument("output", help="the output folder the shards wrote to")
    p.set_defaults(func=_cmd_merge_summaries)
