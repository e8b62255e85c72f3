"""Person detectors behind one small interface, chosen with a spec string (``--detector``).

- ``boxes:FILE``   boxes supplied by the user (JSON, see ``docs/detectors.md``)
- ``full``         the whole frame is one person
- ``torchvision[:WEIGHTS]``  a torchvision COCO person detector (optional extra)
- ``yolo:WEIGHTS`` ultralytics YOLO, if the user installed it (AGPL; weights always a local path)
- ``rtdetr[:NAME|FOLDER]`` RT-DETR (Apache-2.0) via transformers; weights downloaded once (rtdetr-r18)
- ``auto``         RT-DETR (the default), downloaded on first use
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import SmplestxError

log = logging.getLogger(__name__)

DETECTOR_CHOICES = "auto, full, boxes:FILE, rtdetr[:NAME|FOLDER], torchvision[:WEIGHTS], yolo:WEIGHTS"


class DetectorError(SmplestxError, ValueError):
    """A detector that cannot be built or a boxes file that cannot be read."""


@dataclass
class Detections:
    """Person boxes of one frame: xyxy pixels, scores in [0, 1], track ids (-1 = none)."""

    boxes_xyxy: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    track_ids: np.ndarray  # (N,) int64

    @classmethod
    def empty(cls) -> "Detections":
        """No person."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, keep: np.ndarray) -> "Detections":
        """The subset at indices ``keep`` (in that order)."""
        return Detections(self.boxes_xyxy[keep], self.scores[keep], self.track_ids[keep])


class Detector(Protocol):
    """Finds people in RGB frames."""

    name: str

    def detect(self, image: np.ndarray, frame_index: int, source: Path | None) -> Detections:
        """Boxes for one RGB uint8 frame (H, W, 3)."""
        ...


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices kept, highest score first."""
    order = np.argsort(-scores, kind="stable")
    boxes = boxes_xyxy.astype(np.float64)
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def select_people(
    det: Detections,
    *,
    score_threshold: float = 0.5,
    nms_iou: float | None = 0.5,
    max_people: int | None = None,
    largest: bool = False,
) -> Detections:
    """Threshold, NMS, then keep the ``max_people`` largest (``largest``: only the largest by area)."""
    if len(det) == 0:
        return det
    keep = np.flatnonzero(det.scores >= score_threshold)
    det = det.take(keep)
    if nms_iou is not None and len(det) > 1:
        det = det.take(nms(det.boxes_xyxy, det.scores, nms_iou))
    if largest or max_people is not None:
        b = det.boxes_xyxy
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        order = np.argsort(-area, kind="stable")
        det = det.take(order[: 1 if largest else max_people])
    return det


class FullFrameDetector:
    """The whole frame is one person (for single-person crops)."""

    name = "full"

    def detect(self, image: np.ndarray, frame_index: int, source: Path | None) -> Detections:
        """One box covering the frame."""
        h, w = image.shape[:2]
        return Detections(np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32), np.full(1, -1, np.int64))


# Far beyond any image: larger values are a broken file, not a person.
MAX_COORDINATE = 1e6


def _parse_box(item: Any, where: str) -> tuple[list[float], float, int]:
    if isinstance(item, dict):
        box, score, track = item.get("box", item.get("bbox")), item.get("score", 1.0), item.get("track_id", -1)
    else:
        box, score, track = item, 1.0, -1
    if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
        raise DetectorError(f"{where}: a box must be [x1, y1, x2, y2] or {{\"box\": [...], \"score\": s, \"track_id\": k}}")
    if not isinstance(score, (int, float)) or not isinstance(track, int):
        raise DetectorError(f"{where}: score must be a number and track_id an integer")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) and abs(v) <= MAX_COORDINATE for v in (x1, y1, x2, y2)):
        raise DetectorError(f"{where}: box {box} has a coordinate that is not a finite pixel position "
                            f"(NaN, Infinity or beyond +-{MAX_COORDINATE:g})")
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        raise DetectorError(f"{where}: score {score} is not in [0, 1]")
    if x2 < x1 or y2 < y1:
        raise DetectorError(f"{where}: box {box} has x2 < x1 or y2 < y1 (boxes are x1, y1, x2, y2)")
    return [x1, y1, x2, y2], float(score), track


def _parse_frames(frames: Any, where: str) -> dict[int, Detections]:
    if isinstance(frames, list):
        items = list(enumerate(frames))
    elif isinstance(frames, dict):
        try:
            items = [(int(k), v) for k, v in frames.items()]
        except ValueError:
            raise DetectorError(f"{where}: frame keys must be frame numbers") from None
        negative = [k for k, _ in items if k < 0]
        if negative:
            raise DetectorError(f"{where}: frame {negative[0]} is negative (frames are numbered from 0)")
    else:
        raise DetectorError(f"{where}: 'frames' must be a list or an object keyed by frame number")
    out: dict[int, Detections] = {}
    for index, boxes in items:
        if not isinstance(boxes, list):
            raise DetectorError(f"{where}: frame {index} must hold a list of boxes")
        parsed = [_parse_box(b, f"{where} frame {index}") for b in boxes]
        if parsed:
            out[index] = Detections(
                np.array([p[0] for p in parsed], np.float32),
                np.array([p[1] for p in parsed], np.float32),
                np.array([p[2] for p in parsed], np.int64),
            )
        else:
            out[index] = Detections.empty()
    return out


class BoxesFileDetector:
    """Boxes given by the user in a JSON file (per frame, xyxy with optional score and track id)."""

    name = "boxes"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DetectorError(f"{self.path}: boxes file not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DetectorError(f"{self.path}: not a valid JSON boxes file ({exc})") from None
        if not isinstance(data, dict) or not ("frames" in data or "files" in data):
            raise DetectorError(f"{self.path}: expected an object with 'frames' or 'files' (see docs/detectors.md)")
        self.default = _parse_frames(data["frames"], str(self.path)) if "frames" in data else None
        self.per_file: dict[str, dict[int, Detections]] = {}
        for name, entry in (data.get("files") or {}).items():
            if not isinstance(entry, dict) or "frames" not in entry:
                raise DetectorError(f"{self.path}: files[{name!r}] must be an object with 'frames'")
            self.per_file[name] = _parse_frames(entry["frames"], f"{self.path} files[{name!r}]")

    def _table(self, source: Path | None) -> dict[int, Detections] | None:
        if source is not None:
            for key in (str(source), source.name):
                if key in self.per_file:
                    return self.per_file[key]
        return self.default

    def listed_frames(self, source: Path | None) -> list[int]:
        """The frame numbers the file lists for ``source`` (to tell the user about frames never reached)."""
        table = self._table(source)
        return sorted(table) if table else []

    def detect(self, image: np.ndarray, frame_index: int, source: Path | None) -> Detections:
        """The boxes listed for this frame (none if the frame is not listed)."""
        table = self._table(source)
        if table is None:
            return Detections.empty()
        return table.get(frame_index, Detections.empty())


class TorchvisionDetector:
    """torchvision's Faster R-CNN (COCO), person class only; an optional extra."""

    name = "torchvision"

    def __init__(self, weights: str | Path | None = None, device: str = "cpu") -> None:
        try:
            import torch
            from torchvision.models import detection
        except ImportError:
            raise DetectorError("the torchvision detector needs `pip install torchvision` (see the README)") from None
        self.device = device
        self._torch = torch
        if weights is not None:
            path = Path(weights)
            if not path.is_file():
                raise DetectorError(f"{path}: detector weights not found")
            model = detection.fasterrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None)
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        else:
            try:
                model = detection.fasterrcnn_resnet50_fpn_v2(weights="DEFAULT")
            except Exception as exc:  # noqa: BLE001 - torchvision raises many kinds on a failed download
                raise DetectorError(
                    f"torchvision detector weights are not cached and could not be downloaded ({exc}); "
                    "pass them with --detector torchvision:PATH"
                ) from None
        self.model = model.eval().to(device)

    def detect(self, image: np.ndarray, frame_index: int, source: Path | None) -> Detections:
        """COCO label 1 (person) boxes."""
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255).to(self.device)
        with torch.inference_mode():
            out = self.model([x])[0]
        person = (out["labels"] == 1).cpu().numpy()
        boxes = out["boxes"].cpu().numpy()[person].astype(np.float32)
        scores = out["scores"].cpu().numpy()[person].astype(np.float32)
        return Detections(boxes, scores, np.full(len(scores), -1, np.int64))


class YoloDetector:
    """ultralytics YOLO (AGPL, installed by the user); weights are always a local file."""

    name = "yolo"

    def __init__(self, weights: str | Path, device: str = "cpu") -> None:
        path = Path(weights)
        if not path.is_file():
            raise DetectorError(f"{path}: YOLO weights not found (give a local .pt file; nothing is downloaded)")
        try:
            from ultralytics import YOLO
        except ImportError:
            raise DetectorError("the yolo detector needs `pip install ultralytics` (AGPL-3.0: your choice)") from None
        self.model = YOLO(str(path))
        self.device = device

    def detect(self, image: np.ndarray, frame_index: int, source: Path | None) -> Detections:
        """COCO class 0 (person) boxes."""
        res = self.model.predict(image[:, :, ::-1], classes=[0], device=self.device, verbose=False)[0]
        boxes = res.boxes.xyxy.cpu().numpy().astype(np.float32)
        scores = res.boxes.conf.cpu().numpy().astype(np.float32)
        return Detections(boxes, scores, np.full(len(scores), -1, np.int64))


def make_detector(spec: str, device: str = "cpu") -> Detector:
    """Build a detector from its spec string (``--detector``)."""
    kind, _, arg = spec.partition(":")
    if kind == "full" and not arg:
        return FullFrameDetector()
    if kind == "boxes":
        if not arg:
            raise DetectorError("boxes detector needs a file: --detector boxes:FILE")
        return BoxesFileDetector(arg)
    if kind == "torchvision":
        return TorchvisionDetector(arg or None, device)
    if kind == "yolo":
        if not arg:
            raise DetectorError("yolo detector needs local weights: --detector yolo:WEIGHTS.pt")
        return YoloDetector(arg, device)
    if kind == "rtdetr" or (kind == "auto" and not arg):
        from .rtdetr import RTDetrDetector

        if kind == "auto" and importlib.util.find_spec("transformers") is None:
            raise DetectorError(
                "the default detector (RT-DETR) needs `pip install transformers`; or choose one of "
                f"{DETECTOR_CHOICES} (e.g. --detector full for single-person crops)"
            )
        return RTDetrDetector(arg or "rtdetr-r18", device)
    raise DetectorError(f"unknown detector {spec!r}; choose one of {DETECTOR_CHOICES}")
