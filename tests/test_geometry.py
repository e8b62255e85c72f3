"""Box processing, crops and the crop camera against the reference's crop.npz."""

from __future__ import annotations

import numpy as np
import pytest

from smplestx.geometry.crops import crop_image, process_box, sanitize_box

from smplestx.geometry.cameras import crop_camera, project_points


# Bilinear warps of the same image under the same affine map differ across OpenCV builds. OpenCV 5
# interpolates with float weights, and its builds differ only in SIMD summation order: a few pixels move
# by a few thousandths of a grey level (5.0 vs 5.1: max 0.0098, 0.6 % of values). OpenCV 4 quantised
# sub-pixel positions to 1/32 px and is off by up to 4.4 grey levels at edges (4.10), hence
# opencv-python-headless>=5 in pyproject.toml. A wrong map, border rule or interpolation moves whole
# regions by grey levels; the maps themselves are pure arithmetic and are compared tightly.
PIXEL_MAX_DIFF = 0.05  # grey levels (0-255)
PIXEL_MEAN_DIFF = 1e-3


def assert_same_warp(ours: np.ndarray, reference: np.ndarray) -> None:
    """Pixels of a bilinear crop equal the reference's up to what OpenCV builds differ by."""
    assert ours.shape == reference.shape and ours.dtype == reference.dtype
    diff = np.abs(ours.astype(np.float64) - reference)
    assert diff.max() <= PIXEL_MAX_DIFF, f"max |diff| {diff.max():.4f} grey levels"
    assert diff.mean() <= PIXEL_MEAN_DIFF, f"mean |diff| {diff.mean():.2e} grey levels"


@pytest.fixture(scope="module")
def case(parity_dir):
    return dict(np.load(parity_dir / "cases" / "crop.npz"))


def test_process_box_matches_reference(case):
    h, w = case["image"].shape[:2]
    for i, box in enumerate(case["boxes_xywh"]):
        out = process_box(box, w, h, ratio=1.2)
        assert (out is not None) == bool(case["valid"][i])
        if out is not None:
            np.testing.assert_allclose(out, case["process_bbox"][i], rtol=1e-6, atol=1e-5)


def test_sanitize_shifts_instead_of_cutting():
    """Reference behaviour: a box above the image is moved down, keeping its height."""
    np.testing.assert_allclose(sanitize_box(np.array([540, -60, 180, 320.0]), 640, 480), [540, 0, 99, 319])
    assert sanitize_box(np.array([300, 120, 0, 200.0]), 640, 480) is None
    assert sanitize_box(np.array([700, 10, 50, 50.0]), 640, 480) is None  # fully right of the image


def test_crops_and_camera_match_reference(case):
    h, w = case["image"].shape[:2]
    image = case["image"].astype(np.float32)
    for j, i in enumerate(case["valid_idx"]):
        box = process_box(case["boxes_xywh"][i], w, h, ratio=1.2)
        crop = crop_image(image, box)
        assert_same_warp(crop.patch, case["patch"][j])
        np.testing.assert_allclose(crop.trans, case["trans"][j], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(crop.inv_trans, case["inv_trans"][j], rtol=1e-6, atol=1e-6)
        focal, princpt = crop_camera(box)
        np.testing.assert_allclose(focal, case["infer_focal"][j], rtol=1e-6)
        np.testing.assert_allclose(princpt, case["infer_princpt"][j], rtol=1e-6)


def test_augmented_crop_matches_reference(case):
    h, w = case["image"].shape[:2]
    box = process_box(case["boxes_xywh"][int(case["aug_box_idx"])], w, h, ratio=1.2)
    crop = crop_image(case["image"].astype(np.float32), box, scale=float(case["aug_scale"]),
                      rot_deg=float(case["aug_rot"]), flip=bool(case["aug_do_flip"]))
    assert_same_warp(crop.patch, case["aug_patch"])
    np.testing.assert_allclose(crop.trans, case["aug_trans"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(crop.inv_trans, case["aug_inv_trans"], rtol=1e-6, atol=1e-6)


def test_inverse_affine_maps_crop_back_to_box():
    box = np.array([100.0, 50.0, 150.0, 200.0], dtype=np.float32)
    crop = crop_image(np.zeros((400, 400, 3), np.float32), box)
    corners = np.array([[0, 0, 1], [384, 512, 1]], dtype=np.float64)
    back = corners @ crop.inv_trans.T
    np.testing.assert_allclose(back, [[100, 50], [250, 250]], atol=1e-3)


def test_camera_projection_puts_centre_on_box_centre():
    box = np.array([10.0, 20.0, 192.0 * 2, 256.0 * 2])
    focal, princpt = crop_camera(box)
    np.testing.assert_allclose(project_points(np.array([0.0, 0.0, 5.0]), focal, princpt), [10 + 192, 20 + 256])


def test_device_crops_equal_opencv_crops_within_one_grey_level():
    """crop_images_torch (the GPU path) uses the same maps; only OpenCV's 1/32-pixel grid differs."""
    import cv2
    import torch

    from smplestx.geometry.crops import crop_images_torch

    rng = np.random.default_rng(0)
    for image in (cv2.GaussianBlur((rng.random((480, 640, 3)) * 255).astype(np.uint8), (0, 0), 2),
                  (rng.random((480, 640, 3)) * 255).astype(np.uint8)):
        boxes = [process_box(np.array(b, float), 640, 480)
                 for b in ([100, 50, 120, 300], [-30, -20, 200, 200], [500, 300, 300, 400], [10.3, 20.7, 33.1, 80.9])]
        ours = crop_images_torch(torch.from_numpy(image), boxes).permute(0, 2, 3, 1).numpy()
        cv = np.stack([crop_image(image, b).patch for b in boxes])
        diff = np.abs(ours - cv)
        assert ours.shape == cv.shape == (4, 512, 384, 3)
        # Whole grey levels like OpenCV's uint8 crops; at most one level apart, and rarely (measured 0.02-0.06 %).
        assert np.array_equal(ours, np.round(ours)) and diff.max() <= 1.0 and (diff > 0).mean() < 2e-3
        # The black border (boxes leaving the image) is where OpenCV puts it.
        assert np.array_equal(ours[1] == 0, cv[1] == 0) or (np.logical_xor(ours[1] == 0, cv[1] == 0).mean() < 1e-3)
    assert crop_images_torch(torch.from_numpy(image), []).shape == (0, 3, 512, 384)


def test_estimator_crops_on_the_device_give_the_same_people(tiny_ckpt, tiny_config, parity_body):
    """The Estimator's device-crop path (default on GPUs) against its OpenCV path, on CPU here."""
    from smplestx.errors import UsageError
    from smplestx.models.loading import load_model
    from smplestx.pipeline.estimator import Estimator

    model = load_model(tiny_ckpt, config=tiny_config, body_models=parity_body)
    rng = np.random.default_rng(1)
    import cv2

    image = cv2.GaussianBlur((rng.random((360, 480, 3)) * 255).astype(np.uint8), (0, 0), 3)
    people = {}
    for mode in ("opencv", "torch"):
        est = Estimator(model=model, detector="full", crop_device=mode, device="cpu")
        people[mode] = est.predict(image)
    a, b = people["opencv"], people["torch"]
    assert len(a) == len(b) == 1
    np.testing.assert_array_equal(a[0].crop_box_xywh, b[0].crop_box_xywh)
    # One grey level on 0.1 % of the pixels moves the random tiny network's joints by well under a millimetre.
    rel = lambda p: p.joints_3d - p.joints_3d[:1]  # noqa: E731
    assert np.abs(rel(a[0]) - rel(b[0])).max() < 1e-3, np.abs(rel(a[0]) - rel(b[0])).max()
    with pytest.raises(UsageError, match="crop_device 'gpu'"):
        Estimator(model=model, detector="full", crop_device="gpu")
