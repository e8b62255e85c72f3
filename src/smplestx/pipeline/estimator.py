"""The Estimator: frames in, people (SMPL-X, joints, camera) out, with crops batched across frames."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..body import SMPLX_PARAM_NAMES
from ..models.smplest_x import SMPLestXConfig
from ..errors import UsageError
from ..geometry.crops import box_to_crop_affine, crop_image, crop_images_torch, process_box
from ..geometry.cameras import crop_camera, project_points
from ..io.results import FrameResult, Person
from ..models.loading import load_model, network_precision, pick_device, pick_dtype
from ..models.smplest_x import SMPLestX  # noqa: F401 - re-exported
from ..geometry.scene_camera import SceneCamera, express_in_scene, load_intrinsics
from .detectors import Detections, Detector, make_detector, select_people
from .sources import Frame, open_source, read_image

log = logging.getLogger(__name__)

_OUTPUT_FIELDS = (*SMPLX_PARAM_NAMES, "joints_cam")

@dataclass
class _PendingFrame:
    """A frame whose crops are waiting for the network."""

    result: FrameResult
    dets: Detections
    boxes: list[np.ndarray]  # processed crop boxes (x, y, w, h), one per kept detection
    crops: torch.Tensor | None = None  # (N, 3, 512, 384) float32 0..255 on the crop device, one per box

class Estimator:
    """SMPLest-X on whole images and videos: detection, crops, batched network, full-image camera.

    ``camera`` picks the scene camera every person is also expressed in (``transl_scene`` ...): a
    :class:`~smplestx.geometry.scene_camera.SceneCamera` (``focal=``, ``fov_deg=`` or ``intrinsics=``), the
    path of an intrinsics JSON file, or None for the default (focal = image diagonal, centred).
    """

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        body_models: str | Path | None = None,
        *,
        model: SMPLestX | None = None,
        config: str | Path | SMPLestXConfig | None = None,
        detector: str | Detector = "auto",
        device: str = "auto",
        dtype: str | torch.dtype = "fp32",
        batch_size: int = 16,
        score_threshold: float = 0.5,
        nms_iou: float | None = 0.5,
        max_people: int | None = None,
        largest: bool = False,
        keep_vertices: bool = True,
        backend: str = "auto",
        camera: SceneCamera | str | Path | None = None,
        crop_device: str = "auto",
    ) -> None:
        if batch_size < 1:
            raise UsageError("batch_size must be >= 1")
        self.device = pick_device(device)
        if crop_device not in ("auto", "opencv", "torch"):
            raise UsageError(f"crop_device {crop_device!r}: expected auto, opencv or torch")
        # On a GPU the frame goes up once and is cut there (grid_sample): no per-crop upload, no CPU warp.
        self.crops_on_device = crop_device == "torch" or (crop_device == "auto" and self.device != "cpu")
        self.dtype = pick_dtype(dtype, self.device)
        if model is None:
            if checkpoint is None:
                raise UsageError("give checkpoint= (a model name or a file; or an already loaded model=)")
            # The name goes through: load_model resolves "auto" knowing the backend (ONNX graphs are float32).
            model = load_model(checkpoint, body_models=body_models, config=config, device=self.device,
                               dtype=dtype, backend=backend, batch_size=batch_size)
        self.model = model
        #: The network's float dtype as loaded ("auto" resolved; a given model's own; float32 around int8 layers).
        self.dtype = next((p.dtype for p in model.net.parameters()), self.dtype)
        #: The precision the network runs in: a name of ``model.PRECISIONS`` ("int8", "bf16", ...).
        self.precision = network_precision(model.net)
        self.detector = make_detector(detector, self.device) if isinstance(detector, str) else detector
        self.batch_size = batch_size
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.max_people = max_people
        self.largest = largest
        self.keep_vertices = keep_vertices
        self.max_pending_frames = max(batch_size, 8)
        #: The scene camera every person is also expressed in (default: see scene_camera).
        if camera is None:
            camera = SceneCamera()
        elif isinstance(camera, (str, Path)):
            camera = load_intrinsics(camera)
        elif not isinstance(camera, SceneCamera):
            raise TypeError(f"camera must be a SceneCamera or an intrinsics JSON path, got {type(camera).__name__}")
        self.camera = camera

    @property
    def faces(self) -> np.ndarray:
        """Mesh triangles (F, 3) of the body model."""
        return self.model.body.faces_np

    # ------------------------------------------------------------------------------------------ public API

    def predict(self, image: np.ndarray | str | Path) -> list[Person]:
        """People in one image (RGB uint8 array or a file path)."""
        source = Path(image) if isinstance(image, (str, Path)) else None
        rgb = read_image(source) if source is not None else _as_rgb(image)
        frame = Frame(image=rgb, index=0, time_s=0.0, source=source)
        return next(iter(self.predict_frames([frame]))).people

    def predict_video(
        self, path: str | Path, *, start: float | None = None, end: float | None = None, stride: int = 1
    ) -> Iterator[FrameResult]:
        """Per-frame results of a video, streamed (constant memory)."""
        with open_source(path, start=start, end=end, stride=stride) as source:
            yield from self.predict_frames(source)

    def predict_frames(self, frames: Iterable[Frame]) -> Iterator[FrameResult]:
        """Results for a stream of frames, in order; crops of consecutive frames share batches."""
        for _, result in self.predict_frame_pairs(frames):
            yield result

    def predict_frame_pairs(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, FrameResult]]:
        """Like predict_frames, but yields each input frame with its result (for overlays)."""
        pending: deque[tuple[Frame, _PendingFrame]] = deque()
        queued = 0
        for frame in frames:
            item = self._prepare(frame)
            pending.append((frame, item))
            queued += len(item.boxes)
            # Flush on a full batch, and also after many empty frames so memory stays bounded.
            if queued >= self.batch_size or len(pending) >= self.max_pending_frames:
                self._run([p for _, p in pending])
                queued = 0
                while pending:
                    f, p = pending.popleft()
                    yield f, p.result
        self._run([p for _, p in pending])
        while pending:
            f, p = pending.popleft()
            yield f, p.result

    # ------------------------------------------------------------------------------------------ internals

    def _prepare(self, frame: Frame) -> _PendingFrame:
        h, w = frame.image.shape[:2]
        dets = self.detector.detect(frame.image, frame.index, frame.source)
        dets = select_people(
            dets, score_threshold=self.score_threshold, nms_iou=self.nms_iou, max_people=self.max_people, largest=self.largest
        )
        boxes, keep = [], []
        ratio = self.model.config.bbox_ratio
        for i, (x1, y1, x2, y2) in enumerate(dets.boxes_xyxy):
            box = process_box(np.array([x1, y1, x2 - x1, y2 - y1], np.float64), w, h, ratio, self.model.config.input_img_shape)
            if box is None:
                log.debug("frame %d: box %s has no area inside the image; skipped", frame.index, dets.boxes_xyxy[i])
                continue
            boxes.append(box)
            keep.append(i)
        crops = self._crops(frame.image, boxes) if boxes else None
        return _PendingFrame(FrameResult(frame.index, frame.time_s, w, h), dets.take(np.array(keep, np.int64)), boxes, crops)

    def _crops(self, image: np.ndarray, boxes: list[np.ndarray]) -> torch.Tensor:
        """The frame's crops (N, 3, H, W) float32 0..255 on the network's device."""
        shape = self.model.config.input_img_shape
        if self.crops_on_device:
            frame = torch.from_numpy(np.ascontiguousarray(image))
            if self.device.startswith("cuda"):
                frame = frame.pin_memory()
            return crop_images_torch(frame.to(self.device, non_blocking=True), boxes, shape)
        patches = np.stack([crop_image(image, b, shape).patch for b in boxes])
        return torch.from_numpy(patches).permute(0, 3, 1, 2).to(self.device)

    def _run(self, pending: Iterable[_PendingFrame]) -> None:
        """Run the network over all queued crops (in chunks of batch_size) and fill in the people."""
        pending = list(pending)
        items = [p for p in pending if p.crops is not None]
        if not items:
            express_in_scene([p.result for p in pending], self.camera)
            return
        crops = torch.cat([p.crops for p in items]) if len(items) > 1 else items[0].crops
        names = list(_OUTPUT_FIELDS) + (["vertices"] if self.keep_vertices else [])
        outputs: list[dict[str, np.ndarray]] = []
        for start in range(0, len(crops), self.batch_size):
            x = crops[start : start + self.batch_size].float().div(255.0)
            pred = self.model.predict_crops(x)
            # SMPLer-X also predicts hand and face boxes (crop pixels); SMPLest-X leaves them None.
            arrays = {k: v.float().cpu().numpy() for k in (*names, *_PART_BOXES) if (v := getattr(pred, k, None)) is not None}
            outputs.extend({k: v[i] for k, v in arrays.items()} for i in range(len(x)))
        it = iter(outputs)
        for p in items:
            for j, box in enumerate(p.boxes):
                p.result.people.append(self._person(next(it), p.dets, j, box))
            p.crops = None
        express_in_scene([p.result for p in pending], self.camera)

    def _person(self, out: dict[str, np.ndarray], dets: Detections, j: int, box: np.ndarray) -> Person:
        cfg = self.model.config
        focal, princpt = crop_camera(box, cfg.focal, cfg.princpt, cfg.input_body_shape)
        joints = out["joints_cam"]
        return Person(
            box_xyxy=dets.boxes_xyxy[j].astype(np.float32),
            score=float(dets.scores[j]),
            track_id=int(dets.track_ids[j]),
            crop_box_xywh=box.astype(np.float32),
            global_orient=out["global_orient"],
            body_pose=out["body_pose"],
            left_hand_pose=out["left_hand_pose"],
            right_hand_pose=out["right_hand_pose"],
            jaw_pose=out["jaw_pose"],
            betas=out["betas"],
            expression=out["expression"],
            transl=out["transl"],
            focal=focal.astype(np.float32),
            princpt=princpt.astype(np.float32),
            joints_3d=joints,
            joints_2d=project_points(joints.astype(np.float64), focal, princpt).astype(np.float32),
            vertices=out.get("vertices"),
            **{k: _crop_box_to_image(out[k], box, cfg.input_img_shape) for k in _PART_BOXES if k in out},
        )


#: Optional CropPrediction fields carried to Person in image pixels.
_PART_BOXES = ("lhand_box", "rhand_box", "face_box")


def _crop_box_to_image(box_crop: np.ndarray, crop_box_xywh: np.ndarray, crop_shape: tuple[int, int]) -> np.ndarray:
    """x1, y1, x2, y2 in crop pixels -> image pixels, through the inverse of the affine the crop was cut with."""
    x, y, w, h = (float(v) for v in crop_box_xywh)
    inv = box_to_crop_affine((x + 0.5 * w, y + 0.5 * h), (w, h), crop_shape, inverse=True).astype(np.float64)
    corners = np.asarray(box_crop, np.float64).reshape(2, 2)
    return (corners @ inv[:, :2].T + inv[:, 2]).reshape(4).astype(np.float32)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Validate an in-memory image: (H, W) grey or (H, W, 3|4) RGB(A), uint8 or uint16."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise UsageError("image must be a numpy array (H, W), (H, W, 3) or (H, W, 4), RGB")
    if image.dtype == np.uint16:
        image = np.round(image / 257.0).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise UsageError(f"image must be uint8 or uint16, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if image.shape[2] != 3:
        raise UsageError(f"image must have 1, 3 or 4 channels, got {image.shape[2]}")
    return np.ascontiguousarray(image)
