"""The track file (``NAME.tracks.npz``): round trip, schema keys, and validation of bad files."""

from __future__ import annotations

from dataclasses import replace
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


def _with_camera_path(segments: np.ndarray | None) -> TrackSet:
    """The track set with a camera path over source frames 0..6 (standing still) and these camera segments."""
    frames = np.arange(7)
    return replace(_trackset(), camera="moving", camera_frames=frames, camera_rotation=np.repeat(np.eye(3)[None], 7, 0),
                   camera_translation=np.zeros((7, 3)), camera_segments=segments)


def test_camera_segments_round_trip_and_default_to_one(tmp_path: Path) -> None:
    two = np.array([[0, 3], [3, 7]])
    back = load_tracks(save_tracks(tmp_path / "two.tracks.npz", _with_camera_path(two)))
    np.testing.assert_array_equal(back.camera_segments, two)
    assert back.camera_segments.dtype == np.int64
    # None with a camera path: one segment, written as such.
    one = save_tracks(tmp_path / "one.tracks.npz", _with_camera_path(None))
    with np.load(one, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["camera_segments"], [[0, 7]])
    # A file from before camera_segments reads as one segment, all of it.
    _rewrite(one, camera_segments=None)
    np.testing.assert_array_equal(load_tracks(one).camera_segments, [[0, 7]])
    # No camera path: no segments.
    assert load_tracks(save_tracks(tmp_path / "none.tracks.npz", _trackset())).camera_segments is None


@pytest.mark.parametrize(
    "segments, message",
    [
        (np.array([0, 7]), "camera_segments have shape"),
        (np.array([[0.0, 7.0]]), "camera_segments has dtype"),
        (np.array([[3, 7], [0, 3]]), "in order"),
        (np.array([[0, 4], [3, 7]]), "overlapping"),
        (np.array([[0, 3], [3, 3], [3, 7]]), "none empty"),
        (np.array([[0, 3], [4, 7]]), "cover every camera frame"),
        (np.array([[0, 7], [7, 9]]), "each hold one"),
    ],
)
def test_bad_camera_segments_raise_one_line(tmp_path: Path, segments: np.ndarray, message: str) -> None:
    path = save_tracks(tmp_path / "bad.tracks.npz", _with_camera_path(np.array([[0, 7]])))
    _rewrite(path, camera_segments=segments)
    with pytest.raises(ValueError, match=message) as e:
        load_tracks(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError, match="camera_segments without a camera path"):
        save_tracks(tmp_path / "s.tracks.npz", replace(_trackset(), camera_segments=np.array([[0, 7]])))


def test_split_at_segments_slices_every_per_frame_field() -> None:
    from smplestx.motion.tracks import split_at_segments

    ts = _trackset()
    ts.tracks[0].contacts = np.arange(16).reshape(4, 4) % 3 == 0
    ts.tracks[1].contacts = np.zeros((2, 4), bool)
    out, splits = split_at_segments(ts, np.array([[0, 2], [2, 5], [5, 9]]))
    # Track 3 (frames 0, 1, 2, 5) crosses two cuts; track 7 (2, 3) none. New ids come after every id in the set.
    assert [(t.track_id, t.frames.tolist()) for t in out.tracks] == [(3, [0, 1]), (8, [2]), (9, [5]), (7, [2, 3])]
    assert splits == [(3, 8, 2), (3, 9, 5)]
    whole = ts.tracks[0]
    for piece, rows in zip(out.tracks[:3], ([0, 1], [2], [3])):
        for name in ("body_pose", "transl", "expression", "contacts"):
            np.testing.assert_array_equal(getattr(piece, name), getattr(whole, name)[rows], err_msg=name)
        np.testing.assert_array_equal(piece.betas, whole.betas)
