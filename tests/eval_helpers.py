"""What the evaluation tests of both families share."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from smplestx.data import HumanData, write_humandata
from smplestx.evaluate.benchmarks import get_benchmark


def write_agora_test_annotation(data_dir: Path, path: Path) -> Path:
    """The synthetic set's images and boxes as an AGORA-test annotation: no ground truth, as the real test split."""
    hd = HumanData.open(get_benchmark("synthetic").annotation_path(data_dir))
    write_humandata(path, {"image_path": hd.image_path, "bbox_xywh": np.asarray(hd.bbox_xywh),
                           "meta": {"height": hd.meta["height"], "width": hd.meta["width"]}})
    return path
