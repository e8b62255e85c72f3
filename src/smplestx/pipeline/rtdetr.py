"""RT-DETR (Apache-2.0) person detector through ``transformers``: the default (``auto``) detector.

Weights download once into the Hugging Face cache (``smplestx.models.zoo.DETECTORS``); a local folder
holding ``config.json`` and ``model.safetensors`` works too. Only safetensors are read.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .detectors import DetectorError, Detections

log = logging.getLogger(__name__)

#: RT-DETR's input: the frame resized (aspect not kept) to this square, RGB scaled to [0, 1], no mean/std.
INPUT_SIZE = 640


def _person_class(config: Any) -> int:
    labels = {str(v).lower(): int(k) for k, v in (getattr(config, "id2label", None) or {}).items()}
    return labels.get("person", 0)


class RTDetrDetector:
    """RT-DETR COCO detector, person class only."""

    name = "rtdetr"

    def __init__(self, model: str | Path | Any = "rtdetr-r18", device: str = "cpu") -> None:
        try:
            from transformers import RTDetrForObjectDetection
        except ImportError:
            raise DetectorError("the RT-DETR detector needs `pip install transformers` "
                                "(or choose --detector full / boxes:FILE)") from None
        if isinstance(model, torch.nn.Module):
            net = model  # an already built network (tests, custom weights)
        else:
            folder = Path(model).expanduser()
            if not folder.is_dir():
                from ..models.zoo import resolve_detector

                from ..models.zoo import ModelDownloadError

                try:
                    folder = resolve_detector(str(model)).checkpoint.parent
                except ModelDownloadError as exc:
                    raise DetectorError(f"{exc}; or use --detector full (one person per frame) or boxes:FILE") from None
            if not (folder / "model.safetensors").is_file():
                raise DetectorError(f"{folder}: no model.safetensors (RT-DETR weights in transformers format)")
            net = RTDetrForObjectDetection.from_pretrained(str(folder), use_safetensors=True)
        self.model = net.eval().to(device)
        self.device = device
        self.person = _person_class(self.model.config)

    def detect(self, image: np.ndarray, frame_index: int, source: Path | None) -> Detections:
        """Person boxes of one RGB uint8 frame (unfiltered scores; the pipeline thresholds them)."""
        h, w = image.shape[:2]
        x = cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        x = torch.from_numpy(x).permute(2, 0, 1)[None].float().div_(255).to(self.device)
        with torch.inference_mode():
            out = self.model(pixel_values=x)
        scores = out.logits[0, :, self.person].float().sigmoid().cpu().numpy()
        cxcywh = out.pred_boxes[0].float().cpu().numpy()
        boxes = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
        boxes = (boxes * np.array([w, h, w, h])).astype(np.float32)
        keep = scores >= 0.05  # the 300 queries are mostly empty; the user's --score-threshold applies later
        return Detections(boxes[keep], scores[keep].astype(np.float32), np.full(int(keep.sum()), -1, np.int64))
