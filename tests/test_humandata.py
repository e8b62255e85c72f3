"""HumanData (.npz) reader and writer: round trip, laziness, safety and one clear error per malformed case."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import numpy.lib.format as npformat
import pytest

import smplestx.data.humandata as hdmod
from smplestx.data import HumanData, HumanDataError, write_humandata

N = 7
K = 137


def _sample(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    mask = np.ones(K, dtype=np.float32)
    mask[[3, 10, 50, 100, 136]] = 0
    kps2d = rng.normal(size=(N, K, 3)).astype(np.float32)
    kps2d[:, mask == 0] = 0
    boxes = lambda: np.concatenate([rng.uniform(0, 100, (N, 4)), np.ones((N, 1))], 1).astype(np.float32)  # noqa: E731
    return {
        "image_path": [f"images/seq{i // 3}/frame_{i:05d}.jpg" for i in range(N)],
        "bbox_xywh": boxes(),
        "lhand_bbox_xywh": boxes(),
        "rhand_bbox_xywh": boxes(),
        "face_bbox_xywh": boxes(),
        "keypoints2d_smplx": kps2d,
        "keypoints2d_smplx_mask": mask,
        "config": "synthetic",
        "smplx": {
            "global_orient": rng.normal(size=(N, 3)).astype(np.float32),
            "body_pose": rng.normal(size=(N, 21, 3)).astype(np.float32),
            "betas": rng.normal(size=(N, 10)).astype(np.float32),
            "transl": rng.normal(size=(N, 3)).astype(np.float32),
            "left_hand_pose": rng.normal(size=(N, 15, 3)).astype(np.float32),
            "right_hand_pose": rng.normal(size=(N, 45)).astype(np.float32),
            "jaw_pose": rng.normal(size=(N, 3)).astype(np.float32),
            "expression": rng.normal(size=(N, 10)).astype(np.float32),
        },
        "meta": {
            "gender": ["male", "female", "neutral", "male", "female", "neutral", "male"],
            "height": [480] * N,
            "width": np.full(N, 640),
            "focal_length": np.full((N, 2), 5000.0, dtype=np.float32),
            "principal_point": np.full((N, 2), 320.0, dtype=np.float32),
            "dataset": "synthetic",
        },
    }


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path: Path, compress: bool) -> None:
    data = _sample()
    path = write_humandata(tmp_path / "set.npz", data, compress_keypoints=compress)
    hd = HumanData.open(path).require_smplx().validate()
    assert len(hd) == N
    assert hd.keypoints_compressed is compress
    stored = hd.shape_of("keypoints2d_smplx")
    assert stored == ((N, K - 5, 3) if compress else (N, K, 3))
    np.testing.assert_array_equal(hd.keypoints("keypoints2d_smplx"), data["keypoints2d_smplx"])
    np.testing.assert_array_equal(hd.keypoints_mask("keypoints2d_smplx"), data["keypoints2d_smplx_mask"])
    assert list(hd.image_path) == data["image_path"]
    np.testing.assert_array_equal(hd["bbox_xywh"], data["bbox_xywh"])
    np.testing.assert_array_equal(hd.face_bbox_xywh, data["face_bbox_xywh"])
    assert hd.config == "synthetic"
    assert set(hd.smplx) == set(data["smplx"])
    for k, v in data["smplx"].items():
        np.testing.assert_array_equal(hd.smplx[k], v)
    assert hd.smpl is None and hd.smplh is None
    assert hd.meta["gender"] == data["meta"]["gender"] and hd.meta["dataset"] == "synthetic"
    # the real format: dict entries are 0-d object arrays, which numpy itself refuses without pickles
    with np.load(path, allow_pickle=False) as npz:
        assert npz["__keypoints_compressed__"] == compress and npz["__data_len__"] == N
        with pytest.raises(ValueError):
            npz["smplx"]

    inst = hd.instance(-2)
    assert inst.index == N - 2 and inst.image_path == data["image_path"][N - 2]
    np.testing.assert_array_equal(inst.keypoints["keypoints2d_smplx"], data["keypoints2d_smplx"][N - 2])
    np.testing.assert_array_equal(inst.smplx["body_pose"], data["smplx"]["body_pose"][N - 2])
    np.testing.assert_array_equal(inst.rhand_bbox_xywh, data["rhand_bbox_xywh"][N - 2])
    assert inst.meta["gender"] == "neutral" and inst.meta["height"] == 480 and inst.meta["width"] == 640
    assert inst.meta["dataset"] == "synthetic"
    inst.smplx["betas"][:] = 0  # copies: the file's cache is untouched
    assert np.abs(hd.smplx["betas"][N - 2]).sum() > 0
    with pytest.raises(IndexError):
        hd.instance(N)


def test_lazy_and_memory_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _sample()
    data["keypoints3d"] = np.arange(N * 20000 * 4, dtype=np.float32).reshape(N, 20000, 4)  # 2.2 MB
    reads: list[str] = []
    real = hdmod._read_member

    def spy(hd, zf, m):
        reads.append(m.key)
        return real(hd, zf, m)

    monkeypatch.setattr(hdmod, "_read_member", spy)
    for zip_compression in (True, False):
        reads.clear()
        path = write_humandata(tmp_path / f"big{zip_compression}.npz", data, zip_compression=zip_compression)
        hd = HumanData.open(path)
        assert "keypoints3d" not in reads and "smplx" not in reads and "meta" not in reads
        assert "__data_len__" in reads and "keypoints2d_smplx_mask" in reads
        assert hd.shape_of("keypoints3d") == (N, 20000, 4) and len(hd) == N
        kps = hd.keypoints("keypoints3d")
        assert reads.count("keypoints3d") == 1
        np.testing.assert_array_equal(kps, data["keypoints3d"])
        assert isinstance(kps, np.memmap) is (not zip_compression)
        assert hd.is_memory_mappable("keypoints3d") is (not zip_compression)
        assert not kps.flags.writeable
        hd.keypoints("keypoints3d")
        assert reads.count("keypoints3d") == 1  # cached
        assert "smplx" not in reads
        hd.instance(3)
        assert "smplx" in reads


def _expect(path: Path, match: str, *, action=lambda hd: hd) -> HumanDataError:
    with pytest.raises(HumanDataError, match=match) as info:
        action(HumanData.open(path))
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return info.value


def test_missing_bbox(tmp_path: Path) -> None:
    data = _sample()
    del data["bbox_xywh"]
    path = write_humandata(tmp_path / "a.npz", data)
    _expect(path, r"required key 'bbox_xywh' is missing", action=lambda hd: hd.require_smplx())
    with pytest.raises(KeyError):
        HumanData.open(path)["bbox_xywh"]


def test_missing_smplx_pose_key(tmp_path: Path) -> None:
    data = _sample()
    del data["smplx"]["jaw_pose"]
    path = write_humandata(tmp_path / "a.npz", data)
    _expect(path, r"'smplx' lacks required parameter\(s\) jaw_pose", action=lambda hd: hd.require_smplx())


def test_wrong_first_dimension(tmp_path: Path) -> None:
    data = _sample()
    data["bbox_xywh"] = np.zeros((N + 1, 5), np.float32)
    _expect(write_humandata(tmp_path / "a.npz", data), rf"'bbox_xywh' has shape \({N + 1}, 5\).*N = {N}")
    data = _sample()
    data["smplx"]["betas"] = np.zeros((N - 1, 10), np.float32)
    hd_path = write_humandata(tmp_path / "b.npz", data)
    HumanData.open(hd_path)  # dict entries are checked when first read
    _expect(hd_path, rf"'smplx.betas' has shape \({N - 1}, 10\).*N = {N}", action=lambda hd: hd.smplx)


def test_wrong_trailing_shape(tmp_path: Path) -> None:
    data = _sample()
    data["bbox_xywh"] = np.zeros((N, 3), np.float32)
    _expect(write_humandata(tmp_path / "a.npz", data), r"'bbox_xywh' has shape \(7, 3\), expected \(N, 4\) or \(N, 5\)")
    data = _sample()
    data["smplx"]["body_pose"] = np.zeros((N, 22, 3), np.float32)
    _expect(write_humandata(tmp_path / "b.npz", data), r"'smplx.body_pose' has shape \(7, 22, 3\), expected "
            r"\(N, 21, 3\) or \(N, 63\)", action=lambda hd: hd.require_smplx())
    data = _sample()
    data["keypoints2d_smplx"] = data["keypoints2d_smplx"][:, :100]
    _expect(write_humandata(tmp_path / "c.npz", data), r"'keypoints2d_smplx' has shape \(7, 100, 3\), expected K = 137")


def test_nan_in_betas_and_bbox(tmp_path: Path) -> None:
    data = _sample()
    data["smplx"]["betas"][4, 2] = np.nan
    path = write_humandata(tmp_path / "a.npz", data)
    HumanData.open(path).require_smplx()  # presence is fine; values are checked by validate()
    _expect(path, r"'smplx.betas' holds NaN or inf, first at instance 4", action=lambda hd: hd.validate())
    data = _sample()
    data["bbox_xywh"][2, 0] = np.inf
    _expect(write_humandata(tmp_path / "b.npz", data), r"'bbox_xywh' holds NaN or inf, first at instance 2",
            action=lambda hd: hd.validate())


def test_truncated_corrupt_and_not_zip(tmp_path: Path) -> None:
    path = write_humandata(tmp_path / "a.npz", _sample())
    raw = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(raw[: len(raw) // 2])
    _expect(cut, r"not a readable \.npz \(zip\) archive")
    text = tmp_path / "text.npz"
    text.write_text("image_path,bbox\n")
    _expect(text, r"not a readable \.npz \(zip\) archive")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    _expect(empty, r"not a readable")
    with pytest.raises(HumanDataError, match="does not exist"):
        HumanData.open(tmp_path / "missing.npz")
    # damaged member data with an intact directory: found when the member is read
    data = _sample()
    data["keypoints3d"] = np.random.default_rng(1).normal(size=(N, 3000, 4)).astype(np.float32)
    path = write_humandata(tmp_path / "b.npz", data)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("keypoints3d.npy")
    raw = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + 20  # inside the compressed data
    raw[start + 200: start + 400] = bytes(200)
    path.write_bytes(bytes(raw))
    _expect(path, r"entry 'keypoints3d' cannot be read", action=lambda hd: hd.keypoints("keypoints3d"))


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_object_entry_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    data = _sample()
    arrays = {k: np.asarray(v) for k, v in data.items() if not isinstance(v, dict)}
    meta = np.empty((), dtype=object)
    meta[()] = {"gender": ["male"] * N, "payload": _Evil(marker)}
    np.savez_compressed(path, meta=meta, **arrays)
    hd = HumanData.open(path)  # opening does not touch object entries
    err = _expect(path, r"entry 'meta' was refused for safety: its pickle references (posix|os|nt)\.system",
                  action=lambda hd: hd.meta)
    assert "nothing was executed" in str(err)
    assert not marker.exists()
    with pytest.raises(HumanDataError, match="refused for safety"):
        hd.instance(0)
    assert not marker.exists()
    # a top-level object array pickling a function directly is refused too
    evil = tmp_path / "evil2.npz"
    np.savez(evil, image_path=np.array([print] * N, dtype=object), bbox_xywh=np.zeros((N, 4)))
    _expect(evil, r"entry 'image_path' was refused for safety: .*builtins\.print", action=lambda hd: hd.image_path)


def test_meta_with_strings_and_object_arrays(tmp_path: Path) -> None:
    data = _sample()
    data["meta"] = {
        "gender": np.array(["male", "female", "male", "female", "male", "female", "neutral"]),
        "subject": np.array(["a", None, "c", "d", "e", "f", "g"], dtype=object),
        "notes": {"source": "synthetic", "version": 2},
    }
    data["image_path"] = np.array(data["image_path"], dtype=object)
    hd = HumanData.open(write_humandata(tmp_path / "a.npz", data)).validate()
    assert hd.meta["gender"][6] == "neutral" and hd.meta["notes"]["version"] == 2
    assert hd.image_path.dtype.kind == "U" and hd.image_path[1] == data["image_path"][1]
    inst = hd.instance(1)
    assert inst.meta["gender"] == "female" and inst.meta["subject"] is None and inst.image_path.endswith("01.jpg")


def test_numpy_savez_file_and_pickling(tmp_path: Path) -> None:
    """A file written by plain np.savez_compressed(**dict) (how mmhuman3d dumps) reads the same way."""
    data = _sample()
    path = tmp_path / "np.npz"
    np.savez_compressed(path, __keypoints_compressed__=False, __data_len__=N,
                        **{k: v for k, v in data.items()})
    hd = HumanData.open(path).require_smplx().validate()
    np.testing.assert_array_equal(hd.smplx["jaw_pose"], data["smplx"]["jaw_pose"])
    clone = pickle.loads(pickle.dumps(hd))
    np.testing.assert_array_equal(clone.bbox_xywh, data["bbox_xywh"])


def test_writer_is_atomic_and_derives_masks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _sample()
    del data["keypoints2d_smplx_mask"]
    path = write_humandata(tmp_path / "a.npz", data, compress_keypoints=True)
    hd = HumanData.open(path)
    assert hd.shape_of("keypoints2d_smplx") == (N, K - 5, 3)
    np.testing.assert_array_equal(hd.keypoints("keypoints2d_smplx"), data["keypoints2d_smplx"])
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(npformat, "write_array", boom)
    with pytest.raises(RuntimeError):
        write_humandata(path, _sample(1))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]


def test_changed_file_is_refused(tmp_path: Path) -> None:
    data = _sample()
    path = write_humandata(tmp_path / "a.npz", data)
    hd = HumanData.open(path)
    data["bbox_xywh"] = data["bbox_xywh"][:, :4]
    data["image_path"] = data["image_path"] + ["x.jpg"]
    write_humandata(path, data)
    os.utime(path, ns=(1, 1))
    with pytest.raises(HumanDataError, match="changed on disk"):
        hd.smplx
