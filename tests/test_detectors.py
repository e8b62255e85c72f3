"""Person boxes: NMS, selection, the boxes file format, detector specs and their errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from smplestx.pipeline.detectors import (
    BoxesFileDetector,
    DetectorError,
    Detections,
    FullFrameDetector,
    make_detector,
    nms,
    select_people,
)


def dets(boxes, scores, tracks=None) -> Detections:
    n = len(scores)
    return Detections(np.array(boxes, np.float32).reshape(n, 4), np.array(scores, np.float32),
                      np.array(tracks if tracks is not None else [-1] * n, np.int64))


def test_nms_matches_brute_force():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (60, 2))
    wh = rng.uniform(10, 60, (60, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.uniform(0, 1, 60)
    keep = nms(boxes, scores, 0.4)

    def iou(a, b):
        lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
        inter = np.prod(np.clip(rb - lt, 0, None))
        return inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)

    expected = []
    for i in np.argsort(-scores):
        if all(iou(boxes[i], boxes[j]) <= 0.4 for j in expected):
            expected.append(i)
    assert keep.tolist() == expected


def test_select_threshold_nms_max_people_and_largest():
    d = dets([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 100, 150], [200, 0, 230, 40]], [0.9, 0.8, 0.7, 0.3])
    assert len(select_people(d, score_threshold=0.5)) == 2  # threshold, then the 0.8 box overlaps the 0.9 one
    assert len(select_people(d, score_threshold=0.5, nms_iou=None)) == 3
    largest = select_people(d, score_threshold=0.0, largest=True)
    np.testing.assert_array_equal(largest.boxes_xyxy, [[50, 50, 100, 150]])  # by area, not by score
    two = select_people(d, score_threshold=0.0, max_people=2)
    assert len(two) == 2 and two.scores[0] == pytest.approx(0.7)
    assert len(select_people(Detections.empty())) == 0


def test_full_frame():
    d = FullFrameDetector().detect(np.zeros((48, 64, 3), np.uint8), 0, None)
    np.testing.assert_array_equal(d.boxes_xyxy, [[0, 0, 64, 48]])


def test_boxes_file_formats(tmp_path: Path):
    f = tmp_path / "boxes.json"
    f.write_text(json.dumps({
        "frames": [[[0, 0, 10, 20]], [], [{"box": [1, 2, 3, 4], "score": 0.7, "track_id": 5}]],
        "files": {"clip.mp4": {"frames": {"3": [[5, 5, 9, 9]]}}},
    }))
    det = BoxesFileDetector(f)
    img = np.zeros((4, 4, 3), np.uint8)
    assert len(det.detect(img, 0, Path("a.jpg"))) == 1 and len(det.detect(img, 1, None)) == 0
    d2 = det.detect(img, 2, None)
    assert d2.scores[0] == pytest.approx(0.7) and d2.track_ids[0] == 5
    assert len(det.detect(img, 99, None)) == 0  # unlisted frame: nobody
    assert len(det.detect(img, 3, Path("/videos/clip.mp4"))) == 1
    assert len(det.detect(img, 0, Path("/videos/clip.mp4"))) == 0


@pytest.mark.parametrize(
    "content,needle",
    [
        ("not json", "not a valid JSON"),
        ("[1, 2]", "'frames' or 'files'"),
        ('{"frames": {"x": []}}', "frame numbers"),
        ('{"frames": [[[0, 0, 10]]]}', "[x1, y1, x2, y2]"),
        ('{"frames": [[[10, 0, 0, 10]]]}', "x2 < x1"),
        ('{"frames": [[{"box": [0, 0, 1, 1], "score": "high"}]]}', "score"),
    ],
)
def test_boxes_file_errors_name_the_file(tmp_path: Path, content: str, needle: str):
    f = tmp_path / "b.json"
    f.write_text(content)
    with pytest.raises(DetectorError) as err:
        BoxesFileDetector(f)
    assert "b.json" in str(err.value) and needle in str(err.value)


def test_specs_and_their_errors(tmp_path: Path):
    assert make_detector("full").name == "full"
    with pytest.raises(DetectorError, match="not found"):
        make_detector(f"boxes:{tmp_path / 'missing.json'}")
    with pytest.raises(DetectorError, match="boxes:FILE"):
        make_detector("boxes")
    with pytest.raises(DetectorError, match="yolo:WEIGHTS"):
        make_detector("yolo")
    with pytest.raises(DetectorError, match="not found"):
        make_detector(f"yolo:{tmp_path / 'yolov8n.pt'}")
    with pytest.raises(DetectorError, match="unknown detector"):
        make_detector("magic")


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers is not installed here")
def test_auto_offline_without_cached_weights_is_one_clear_line(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(DetectorError) as err:
        make_detector("auto")
    msg = str(err.value)
    assert "rtdetr-r18" in msg and "HF_HUB_OFFLINE" in msg and "--detector full" in msg and "boxes:FILE" in msg
    assert len(msg.splitlines()) == 1


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed here")
def test_torchvision_missing_says_how_to_install():
    with pytest.raises(DetectorError, match="pip install torchvision"):
        make_detector("torchvision")


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers is not installed here")
def test_rtdetr_keeps_the_person_class_in_image_pixels():
    import types

    import torch

    from smplestx.pipeline.rtdetr import RTDetrDetector

    class Fake(torch.nn.Module):
        config = types.SimpleNamespace(id2label={0: "bicycle", 1: "person"})

        def forward(self, pixel_values):
            assert pixel_values.shape == (1, 3, 640, 640) and 0 <= pixel_values.min() and pixel_values.max() <= 1
            logits = torch.full((1, 3, 2), -10.0)
            logits[0, 0, 1] = 2.0  # a person
            logits[0, 1, 0] = 5.0  # a bicycle: not a person
            logits[0, 2, 1] = -1.0  # a doubtful person
            boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.4], [0.1, 0.1, 0.1, 0.1], [0.25, 0.75, 0.5, 0.5]]])
            return types.SimpleNamespace(logits=logits, pred_boxes=boxes)

    det = RTDetrDetector(Fake())
    out = det.detect(np.zeros((480, 320, 3), np.uint8), 0, None)
    np.testing.assert_allclose(out.boxes_xyxy, [[128, 144, 192, 336], [0, 240, 160, 480]], atol=1e-4)
    np.testing.assert_allclose(out.scores, [1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(1.0))], rtol=1e-6)
    assert out.track_ids.tolist() == [-1, -1]
