"""The track file (``NAME.tracks.npz``): round trip, schema keys, and validation of bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import smplestx
from smplestx.motion.tracks import FORMAT_NAME, Track, TrackSet, load_tracks, save_tracks


def _track(track_id: int, frames: list[int], seed: int) -> Track:
    rng = np.random.default_rng(seed)
    t = len(frames)

    def r(*shape: int) -> np.ndarray:
        return rng.normal(size=shape).astype(np.float32)

    return Track(
        track_id=track_id,
        frames=np.asarray(frames, dtype=np.int64),
        global_orient=r(t, 3),
        body_pose=r(t, 21, 3),
        left_hand_pose=r(t, 15, 3),
        right_hand_pose=r(t, 15, 3),
        jaw_pose=r(t, 3),
        betas=r(10),
        expression=r(t, 10),
        transl=r(t, 3),
    )


def _trackset() -> TrackSet:
    return TrackSet(
        tracks=[_track(3, [0, 1, 2, 5], 0), _track(7, [2, 3], 1)],
        fps=29.97,
        smoothing="gaussian(sigma=2)",
        focal=np.array([1000.0, 1000.0], np.float32),
        princpt=np.array([320.0, 240.0], np.float32),
        image_size=np.array([640, 480]),
        source="walk.mp4",
    )


def test_round_trip_is_exact(tmp_path: Path) -> None:
    ts = _trackset()
    path = save_tracks(tmp_path / "walk.tracks.npz", ts)
    back = smplestx.load_tracks(path)
    assert [t.track_id for t in back.tracks] == [3, 7]
    assert back.fps == pytest.approx(29.97, abs=0) and back.smoothing == "gaussian(sigma=2)"
    assert back.source == "walk.mp4" and back.gender == "neutral"
    np.testing.assert_array_equal(back.image_size, [640, 480])
    np.testing.assert_array_equal(back.focal, ts.focal)
    for a, b in zip(ts.tracks, back.tracks):
        for name in ("frames", "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose",
                     "betas", "expression", "transl"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(b, "transl").dtype == np.float32 and b.frames.dtype == np.int64


def test_file_keys_follow_the_schema(tmp_path: Path) -> None:
    path = save_tracks(tmp_path / "a.tracks.npz", _trackset())
    with np.load(path, allow_pickle=False) as z:
        assert str(z["format"]) == FORMAT_NAME and int(z["version"]) == 1
        np.testing.assert_array_equal(z["track_ids"], [3, 7])
        np.testing.assert_array_equal(z["track_lengths"], [4, 2])
        np.testing.assert_array_equal(z["frames"], [0, 1, 2, 5, 2, 3])
        assert z["betas"].shape == (2, 10) and z["body_pose"].shape == (6, 21, 3)
        assert z["left_hand_pose"].shape == (6, 15, 3) and z["expression"].shape == (6, 10)


def test_empty_trackset_round_trips(tmp_path: Path) -> None:
    ts = _trackset()
    ts.tracks = []
    back = load_tracks(save_tracks(tmp_path / "e.tracks.npz", ts))
    assert back.tracks == []


def _rewrite(path: Path, **changes: np.ndarray) -> None:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    for k, v in list(arrays.items()):
        if v is None:
            del arrays[k]
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format": np.array("something-else")}, "not a smplestx track file"),
        ({"version": np.array(2)}, "version 2"),
        ({"body_pose": np.zeros((5, 21, 3), np.float32)}, "body_pose has shape"),
        ({"track_lengths": np.array([4, 3])}, "frames have shape"),
        ({"frames": np.array([0, 1, 1, 5, 2, 3])}, "not strictly increasing"),
        ({"transl": np.full((6, 3), np.nan, np.float32)}, "non-finite"),
        ({"image_size": np.array([0, 480])}, "image_size"),
        ({"betas": None}, "'betas' missing"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path: Path, change: dict, message: str) -> None:
    path = save_tracks(tmp_path / "bad.tracks.npz", _trackset())
    _rewrite(path, **change)
    with pytest.raises(ValueError, match=message) as e:
        load_tracks(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    path = save_tracks(tmp_path / "p.tracks.npz", _trackset())
    _rewrite(path, source=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=str(path).replace("\\", "\\\\")):
        load_tracks(path)


def test_not_an_npz_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.tracks.npz"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not a smplestx track file"):
        load_tracks(bad)
    with pytest.raises(FileNotFoundError):
        load_tracks(tmp_path / "missing.tracks.npz")


def test_save_refuses_inconsistent_tracks(tmp_path: Path) -> None:
    ts = _trackset()
    ts.tracks[0].transl = ts.tracks[0].transl[:2]
    with pytest.raises(ValueError, match="transl has shape"):
        save_tracks(tmp_path / "s.tracks.npz", ts)
    assert not list(tmp_path.iterdir())  # nothing half-written
