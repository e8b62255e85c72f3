"""Results files (.npz / .json) and mesh files (OBJ / PLY / GLB): round trips, atomicity, memory."""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from smplestx.io.meshes import write_glb, write_obj, write_ply
from smplestx.io.results import (FORMAT_NAME, PART_BOX_FIELDS, PERSON_FIELDS, SCENE_PERSON_FIELDS, FrameResult, Person,
                                 ResultsWriter, load_results)

W, H = 640, 480
META = {"source": "clip.mp4", "checkpoint": "smplest_x_h.safetensors", "fps": 25.0, "joint_names": ["a", "b"]}


def make_person(rng: np.random.Generator, num_vertices: int | None = None, track_id: int = -1) -> Person:
    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    return Person(
        box_xyxy=(rng.uniform(0, 400, 4)).astype(np.float32),
        score=float(np.float32(rng.uniform())),
        track_id=track_id,
        crop_box_xywh=r(4),
        global_orient=r(3),
        body_pose=r(21, 3),
        left_hand_pose=r(15, 3),
        right_hand_pose=r(15, 3),
        jaw_pose=r(3),
        betas=r(10),
        expression=r(10),
        transl=r(3),
        focal=r(2) * 1000,
        princpt=r(2) * 100,
        joints_3d=r(137, 3),
        joints_2d=r(137, 2) * 300,
        vertices=None if num_vertices is None else r(num_vertices, 3),
    )


def make_frames(counts: list[int], seed: int = 0, num_vertices: int | None = None, scene: bool = False) -> list[FrameResult]:
    rng = np.random.default_rng(seed)
    frames = []
    for i, n in enumerate(counts):
        people = [make_person(rng, num_vertices, track_id=k if i % 2 else -1) for k in range(n)]
        frame = FrameResult(index=3 * i + 7, time_s=(3 * i + 7) / 29.97, width=W, height=H, people=people)
        if scene:
            frame.scene_focal = np.array([801.5, 799.25], np.float32)
            frame.scene_princpt = np.array([320.5, 241.0], np.float32)
            for p in people:
                p.transl_scene = rng.standard_normal(3).astype(np.float32)
                p.joints_3d_scene = rng.standard_normal((137, 3)).astype(np.float32)
                if p.vertices is not None:
                    p.vertices_scene = rng.standard_normal(p.vertices.shape).astype(np.float32)
        frames.append(frame)
    return frames


def write(path: Path, frames: list[FrameResult], **kw) -> None:
    kw.setdefault("meta", META)
    with ResultsWriter(path, **kw) as w:
        for f in frames:
            w.add(f)


def assert_same_frames(got: list[FrameResult], want: list[FrameResult], vertices: bool) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.index, g.time_s, g.width, g.height) == (w.index, w.time_s, w.width, w.height)
        for name in ("scene_focal", "scene_princpt"):
            if getattr(w, name) is None:
                assert getattr(g, name) is None, name
            else:
                np.testing.assert_array_equal(getattr(g, name), getattr(w, name), err_msg=name)
        assert len(g.people) == len(w.people)
        for gp, wp in zip(g.people, w.people):
            for f in dataclasses.fields(Person):
                a, b = getattr(gp, f.name), getattr(wp, f.name)
                if f.name in ("vertices", "vertices_scene") and not vertices or b is None:
                    assert a is None, f.name
                elif f.name == "track_id":
                    assert type(a) is int and a == b
                elif f.name == "score":
                    assert isinstance(a, float) and a == b  # b is float32-representable
                else:
                    assert a.dtype == np.float32, f.name
                    np.testing.assert_array_equal(a, b, err_msg=f.name)  # float32 round trip is exact


def test_person_fields_cover_the_record() -> None:
    assert [*PERSON_FIELDS, "vertices", *SCENE_PERSON_FIELDS, "vertices_scene", *PART_BOX_FIELDS] == \
        [f.name for f in dataclasses.fields(Person)]


@pytest.mark.parametrize("keep_vertices", [False, True])
def test_scene_camera_round_trips_in_npz_and_json(tmp_path, keep_vertices) -> None:
    frames = make_frames([2, 0, 3], seed=5, num_vertices=20 if keep_vertices else None, scene=True)
    write(tmp_path / "r.npz", frames, write_json=True, keep_vertices=keep_vertices)
    for suffix in (".npz", ".json"):
        res = load_results(tmp_path / f"r{suffix}")
        np.testing.assert_array_equal(res.scene_focal, [801.5, 799.25])
        np.testing.assert_array_equal(res.scene_princpt, [320.5, 241.0])
        assert res.arrays["joints_3d_scene"].shape == (5, 137, 3)
        assert_same_frames(res.frames, frames, vertices=keep_vertices)


def test_files_without_a_scene_camera_still_load(tmp_path) -> None:
    frames = make_frames([1, 2])
    write(tmp_path / "r.npz", frames, write_json=True)
    for suffix in (".npz", ".json"):
        res = load_results(tmp_path / f"r{suffix}")
        assert res.scene_focal is None and res.frames[0].people[0].transl_scene is None


def test_scene_camera_must_be_constant_and_complete(tmp_path) -> None:
    frames = make_frames([1, 1], scene=True)
    frames[1].scene_focal = np.array([900.0, 900.0], np.float32)
    with pytest.raises(ValueError, match="scene camera changed"):
        write(tmp_path / "a.npz", frames)
    frames = make_frames([1], scene=True)
    frames[0].people[0].transl_scene = None
    with pytest.raises(ValueError, match="transl_scene"):
        write(tmp_path / "b.npz", frames)
    frames = make_frames([1, 1], scene=True)
    frames[1].scene_focal = None
    with pytest.raises(ValueError, match="some frames have a scene camera"):
        write(tmp_path / "c.npz", frames)
    assert not (tmp_path / "a.npz").exists() and not (tmp_path / "b.npz").exists()


@pytest.mark.parametrize("keep_vertices", [False, True])
@pytest.mark.parametrize("ext", ["npz", "json"])
def test_round_trip(tmp_path: Path, ext: str, keep_vertices: bool) -> None:
    frames = make_frames([2, 0, 1, 3, 0], num_vertices=50)
    out = tmp_path / "clip.npz"
    write(out, frames, write_json=True, keep_vertices=keep_vertices)
    res = load_results(out.with_suffix(f".{ext}"))
    assert res.meta == META
    assert res.image_size == (W, H)
    assert res.num_people == 6
    assert len(list(res.people())) == 6
    assert_same_frames(res.frames, frames, keep_vertices)
    assert res.arrays["joints_3d"].shape == (6, 137, 3)
    assert ("vertices" in res.arrays) == keep_vertices
    np.testing.assert_array_equal(res.arrays["person_frame"], [0, 0, 2, 3, 3, 3])
    # The JSON is plain, readable JSON with the documented layout.
    if ext == "json":
        doc = json.loads(out.with_suffix(".json").read_text())
        assert (doc["format"], doc["version"], doc["meta"], doc["image_size"]) == (FORMAT_NAME, 1, META, [W, H])
        assert [f["index"] for f in doc["frames"]] == [f.index for f in frames]
        assert doc["frames"][0]["people"][0]["track_id"] == -1
        assert len(doc["frames"][0]["people"][0]["body_pose"]) == 21


def test_npz_layout_loads_without_pickle(tmp_path: Path) -> None:
    frames = make_frames([1, 0, 2], num_vertices=50)
    out = tmp_path / "a.npz"
    write(out, frames, keep_vertices=True)
    with np.load(out, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    expected = {
        "frame_index": ((3,), np.int64),
        "frame_time_s": ((3,), np.float64),
        "frame_num_people": ((3,), np.int32),
        "frame_first_person": ((3,), np.int64),
        "person_frame": ((3,), np.int64),
        "box_xyxy": ((3, 4), np.float32),
        "score": ((3,), np.float32),
        "track_id": ((3,), np.int64),
        "crop_box_xywh": ((3, 4), np.float32),
        "global_orient": ((3, 3), np.float32),
        "body_pose": ((3, 21, 3), np.float32),
        "left_hand_pose": ((3, 15, 3), np.float32),
        "right_hand_pose": ((3, 15, 3), np.float32),
        "jaw_pose": ((3, 3), np.float32),
        "betas": ((3, 10), np.float32),
        "expression": ((3, 10), np.float32),
        "transl": ((3, 3), np.float32),
        "focal": ((3, 2), np.float32),
        "princpt": ((3, 2), np.float32),
        "joints_3d": ((3, 137, 3), np.float32),
        "joints_2d": ((3, 137, 2), np.float32),
        "vertices": ((3, 50, 3), np.float32),
        "image_size": ((2,), np.int64),
    }
    assert set(d) == {*expected, "meta_json"}
    for k, (shape, dtype) in expected.items():
        assert d[k].shape == shape and d[k].dtype == dtype, k
    np.testing.assert_array_equal(d["frame_index"], [7, 10, 13])
    np.testing.assert_array_equal(d["frame_num_people"], [1, 0, 2])
    np.testing.assert_array_equal(d["frame_first_person"], [0, 1, 1])
    np.testing.assert_array_equal(d["person_frame"], [0, 2, 2])
    np.testing.assert_array_equal(d["image_size"], [W, H])
    np.testing.assert_array_equal(d["vertices"][2], frames[2].people[1].vertices)
    assert d["meta_json"].shape == () and d["meta_json"].dtype.kind == "U"
    assert json.loads(str(d["meta_json"])) == {"format": FORMAT_NAME, "version": 1, **META}


@pytest.mark.parametrize("counts", [[], [0, 0, 0]])
@pytest.mark.parametrize("keep_vertices", [False, True])
def test_empty_results(tmp_path: Path, counts: list[int], keep_vertices: bool) -> None:
    out = tmp_path / "empty.npz"
    write(out, make_frames(counts), write_json=True, keep_vertices=keep_vertices, image_size=(W, H))
    for path in (out, out.with_suffix(".json")):
        res = load_results(path)
        assert len(res.frames) == len(counts) and res.num_people == 0
        assert res.image_size == (W, H)
        assert res.arrays["body_pose"].shape == (0, 21, 3)
        assert res.arrays["frame_index"].shape == (len(counts),)
    with np.load(out, allow_pickle=False) as z:
        assert z["joints_2d"].shape == (0, 137, 2)
        assert ("vertices" in z.files) == keep_vertices


def test_compressed_npz(tmp_path: Path) -> None:
    frames = make_frames([1, 2])
    write(tmp_path / "c.npz", frames, compress=True)
    with zipfile.ZipFile(tmp_path / "c.npz") as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    assert_same_frames(load_results(tmp_path / "c.npz").frames, frames, False)


def test_meta_is_serialised_and_reserved_keys_refused(tmp_path: Path) -> None:
    meta = {"source": tmp_path / "x.mp4", "fps": np.float32(30), "size": np.array([1, 2])}
    write(tmp_path / "m.npz", [], meta=meta)
    assert load_results(tmp_path / "m.npz").meta == {"source": str(tmp_path / "x.mp4"), "fps": 30.0, "size": [1, 2]}
    for bad in ({"format": "x"}, {"version": 2}):
        with pytest.raises(ValueError, match="reserved"):
            ResultsWriter(tmp_path / "r.npz", meta=bad)
    with pytest.raises(ValueError, match="JSON"):
        ResultsWriter(tmp_path / "r.npz", meta={"x": object()})
    with pytest.raises(ValueError, match=".npz"):
        ResultsWriter(tmp_path / "r.json", meta={})
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_bad_people_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    writer = ResultsWriter(tmp_path / "v.npz", meta={}, keep_vertices=True)
    with pytest.raises(ValueError, match="no vertices"), writer as w:
        w.add(FrameResult(0, 0.0, W, H, [make_person(rng)]))
    bad = make_person(rng)
    bad.body_pose = np.zeros((22, 3), np.float32)
    with pytest.raises(ValueError, match="body_pose"), ResultsWriter(tmp_path / "b.npz", meta={}) as w:
        w.add(FrameResult(0, 0.0, W, H, [bad]))
    with pytest.raises(ValueError, match="one media size"), ResultsWriter(tmp_path / "s.npz", meta={}) as w:
        w.add(FrameResult(0, 0.0, W, H))
        w.add(FrameResult(1, 0.1, W + 1, H))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_atomic_on_error(tmp_path: Path, exc: type[BaseException]) -> None:
    frames = make_frames([1, 2, 1])
    out = tmp_path / "clip.npz"
    with pytest.raises(exc), ResultsWriter(out, meta=META, write_json=True) as w:
        w.add(frames[0])
        raise exc("boom")
    assert os.listdir(tmp_path) == []

    # An older result of the same name stays untouched until a new one is complete.
    write(out, frames[:1], write_json=True)
    old_npz, old_json = out.read_bytes(), out.with_suffix(".json").read_bytes()
    with pytest.raises(exc), ResultsWriter(out, meta=META, write_json=True) as w:
        for f in frames:
            w.add(f)
        assert out.read_bytes() == old_npz
        raise exc("boom")
    assert sorted(os.listdir(tmp_path)) == ["clip.json", "clip.npz"]
    assert out.read_bytes() == old_npz and out.with_suffix(".json").read_bytes() == old_json

    write(out, frames, write_json=True)
    assert sorted(os.listdir(tmp_path)) == ["clip.json", "clip.npz"]
    assert_same_frames(load_results(out).frames, frames, False)
    assert_same_frames(load_results(out.with_suffix(".json")).frames, frames, False)


def test_abandoned_writer_leaves_no_temporaries(tmp_path: Path) -> None:
    w = ResultsWriter(tmp_path / "x.npz", meta={}, write_json=True)
    w.add(make_frames([1])[0])
    assert len(os.listdir(tmp_path)) == 1  # the spool folder
    del w
    assert os.listdir(tmp_path) == []


def test_close_is_idempotent_and_add_after_close_fails(tmp_path: Path) -> None:
    w = ResultsWriter(tmp_path / "x.npz", meta={})
    w.close()
    w.close()
    with pytest.raises(RuntimeError):
        w.add(make_frames([0])[0])
    assert os.listdir(tmp_path) == ["x.npz"]


def test_foreign_files_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    np.savez(tmp_path / "wrong.npz", meta_json=np.array(json.dumps({"format": "something.else", "version": 1})))
    (tmp_path / "garbage.npz").write_bytes(b"not a zip at all")
    np.save(tmp_path / "single.npy", np.zeros(3))
    os.replace(tmp_path / "single.npy", tmp_path / "single.npz")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{")
    for name in ("other.npz", "wrong.npz", "garbage.npz", "single.npz", "other.json", "list.json", "broken.json"):
        with pytest.raises(ValueError, match="not a smplestx results file") as info:
            load_results(tmp_path / name)
        assert name in str(info.value)
    with pytest.raises(FileNotFoundError):
        load_results(tmp_path / "missing.npz")


def test_newer_version_refused(tmp_path: Path) -> None:
    write(tmp_path / "r.npz", make_frames([1]), write_json=True)
    doc = json.loads((tmp_path / "r.json").read_text())
    doc["version"] = 2
    (tmp_path / "r.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"r\.json.*version 2.*upgrade"):
        load_results(tmp_path / "r.json")
    with np.load(tmp_path / "r.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["meta_json"] = np.array(json.dumps({"format": FORMAT_NAME, "version": 7}))
    np.savez(tmp_path / "r.npz", **arrays)
    with pytest.raises(ValueError, match=r"r\.npz.*version 7"):
        load_results(tmp_path / "r.npz")


def test_json_keeps_non_finite_and_extreme_floats(tmp_path: Path) -> None:
    frames = make_frames([1])
    p = frames[0].people[0]
    p.body_pose[0] = [np.nan, np.inf, -np.inf]
    p.body_pose[1] = [np.float32(1e-38), np.float32(3.4e38), -0.0]
    write(tmp_path / "n.npz", frames, write_json=True)
    got = load_results(tmp_path / "n.json").frames[0].people[0].body_pose
    np.testing.assert_array_equal(got, p.body_pose)


def _peak_bytes(path: Path, frames: list[FrameResult], **kw) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        with ResultsWriter(path, meta=META, **kw) as w:
            for f in frames:
                w.add(f)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("num_frames", "write_json"), [(300, True), (3000, False)])
def test_memory_is_flat_in_the_number_of_frames(tmp_path: Path, num_frames: int, write_json: bool) -> None:
    rng = np.random.default_rng(0)
    person = make_person(rng)

    def frames(n: int) -> list[FrameResult]:
        return [FrameResult(i, i / 25, W, H, [person, person]) for i in range(n)]  # the same objects, re-used

    data_bytes = 2 * num_frames * sum(4 * int(np.prod(s)) + 4 for s, _ in PERSON_FIELDS.values())
    peak_short = _peak_bytes(tmp_path / "s.npz", frames(30), write_json=write_json)
    peak_long = _peak_bytes(tmp_path / "l.npz", frames(num_frames), write_json=write_json)
    # Bounded by the spool buffers and the 256 KiB copy chunk, not by the data (2.2 MB / 22 MB).
    assert peak_long < peak_short + 2**19, (peak_short, peak_long)
    assert peak_long < data_bytes / 3, (peak_long, data_bytes)
    assert load_results(tmp_path / "l.npz").num_people == 2 * num_frames
    if write_json:
        assert load_results(tmp_path / "l.json").num_people == 2 * num_frames


def test_memory_is_flat_with_full_size_vertices(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    person = make_person(rng, num_vertices=10475)
    peaks = [
        _peak_bytes(tmp_path / f"{n}.npz", [FrameResult(i, 0.0, W, H, [person]) for i in range(n)], keep_vertices=True)
        for n in (10, 60)
    ]
    assert peaks[1] < peaks[0] + 2**19, peaks  # 60 frames of vertices = 7.5 MB
    with np.load(tmp_path / "60.npz", allow_pickle=False) as z:
        assert z["vertices"].shape == (60, 10475, 3)
        np.testing.assert_array_equal(z["vertices"][59], person.vertices)


# ---------------------------------------------------------------------------------------------
# Meshes
# ---------------------------------------------------------------------------------------------


def small_mesh(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((50, 3)).astype(np.float32) + np.float32([0, 0, 3])
    f = rng.integers(0, 50, size=(80, 3))
    return v, f


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    v, f = [], []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            v.append([float(x) for x in parts[1:4]])
        elif parts and parts[0] == "f":
            f.append([int(x.split("/")[0]) - 1 for x in parts[1:4]])
    return np.array(v, np.float32), np.array(f, np.int64)


def read_ply(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    assert header[:2] == ["ply", "format binary_little_endian 1.0"]
    nv = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    nf = int(next(h for h in header if h.startswith("element face")).split()[-1])
    props = [h.split()[-1] for h in header if h.startswith("property") and "list" not in h]
    vdt = [(p, "<f4" if p in "xyz" else "u1") for p in props]
    verts = np.frombuffer(data, dtype=vdt, count=nv, offset=end)
    faces = np.frombuffer(data, dtype=[("n", "u1"), ("i", "<i4", (3,))], count=nf, offset=end + verts.nbytes)
    assert end + verts.nbytes + faces.nbytes == len(data)
    assert (faces["n"] == 3).all()
    xyz = np.stack([verts["x"], verts["y"], verts["z"]], axis=1)
    rgb = np.stack([verts["red"], verts["green"], verts["blue"]], axis=1) if "red" in props else None
    return xyz, faces["i"].astype(np.int64), rgb


def test_obj_round_trip(tmp_path: Path) -> None:
    v, f = small_mesh()
    write_obj(tmp_path / "m.obj", v, f)
    gv, gf = read_obj(tmp_path / "m.obj")
    np.testing.assert_allclose(gv, v, atol=1e-6)
    np.testing.assert_array_equal(gf, f)
    lines = (tmp_path / "m.obj").read_text().splitlines()
    assert min(int(x) for line in lines if line.startswith("f ") for x in line.split()[1:]) >= 1  # 1-based


@pytest.mark.parametrize("color", [None, (1.0, 0.5, 0.0), (255, 128, 0), "per-vertex"])
def test_ply_round_trip(tmp_path: Path, color) -> None:
    v, f = small_mesh()
    if color == "per-vertex":
        color = np.random.default_rng(0).integers(0, 256, (50, 3)).astype(np.uint8)
    write_ply(tmp_path / "m.ply", v, f, color=color)
    gv, gf, rgb = read_ply(tmp_path / "m.ply")
    np.testing.assert_array_equal(gv, v)
    np.testing.assert_array_equal(gf, f)
    if color is None:
        assert rgb is None
    elif isinstance(color, np.ndarray):
        np.testing.assert_array_equal(rgb, color)
    else:
        np.testing.assert_array_equal(rgb, np.broadcast_to([255, 128, 0], (50, 3)))


def test_mesh_writers_validate_and_stay_atomic(tmp_path: Path) -> None:
    v, f = small_mesh()
    for fn, name in ((write_obj, "m.obj"), (write_ply, "m.ply"), (write_glb, "m.glb")):
        args = ([v], f) if fn is write_glb else (v, f)
        fn(tmp_path / name, *args)
        before = (tmp_path / name).read_bytes()
        bad = ([v], f + 50) if fn is write_glb else (v, f + 50)
        with pytest.raises(ValueError, match="face indices"):
            fn(tmp_path / name, *bad)
        assert (tmp_path / name).read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.glb", "m.obj", "m.ply"]


def test_glb_structure(tmp_path: Path) -> None:
    pygltflib = pytest.importorskip("pygltflib")
    (v0, f), (v1, _) = small_mesh(0), small_mesh(1)
    out = write_glb(tmp_path / "s.glb", [v0, v1], f, colors=[(1.0, 0.0, 0.0), (0, 255, 0, 128)], names=["alice", "bob"])
    data = out.read_bytes()
    magic, version, length = struct.unpack("<4sII", data[:12])
    assert (magic, version, length) == (b"glTF", 2, len(data))

    g = pygltflib.GLTF2.load_binary(str(out))
    blob = g.binary_blob()
    assert len(g.buffers) == 1 and g.buffers[0].byteLength == len(blob) and len(blob) % 4 == 0
    assert [n.name for n in g.nodes] == ["alice", "bob"]
    assert g.scenes[g.scene].nodes == [0, 1]
    assert len(g.meshes) == 2 and len(g.materials) == 2

    def read(acc_index: int, dtype: str, width: int) -> np.ndarray:
        acc = g.accessors[acc_index]
        view = g.bufferViews[acc.bufferView]
        assert view.byteOffset % 4 == 0 and view.byteOffset + view.byteLength <= len(blob)
        arr = np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=view.byteOffset + (acc.byteOffset or 0))
        return arr.reshape(acc.count, width) if width > 1 else arr

    for mesh, v, rgba in zip(g.meshes, (v0, v1), ([1, 0, 0, 1], [0, 1, 0, 128 / 255])):
        prim = mesh.primitives[0]
        mat = g.materials[prim.material]
        np.testing.assert_allclose(mat.pbrMetallicRoughness.baseColorFactor, rgba)
        pos_acc = g.accessors[prim.attributes.POSITION]
        assert pos_acc.componentType == pygltflib.FLOAT and pos_acc.type == "VEC3" and pos_acc.count == len(v)
        pos = read(prim.attributes.POSITION, "<f4", 3)
        np.testing.assert_array_equal(pos, v * np.float32([1, -1, -1]))  # OpenCV -> glTF: y and z flipped
        np.testing.assert_array_equal(pos_acc.min, pos.min(axis=0))
        np.testing.assert_array_equal(pos_acc.max, pos.max(axis=0))
        nrm = read(prim.attributes.NORMAL, "<f4", 3)
        np.testing.assert_allclose(np.linalg.norm(nrm, axis=1), 1.0, atol=1e-5)
        idx_acc = g.accessors[prim.indices]
        assert idx_acc.componentType == pygltflib.UNSIGNED_INT and idx_acc.count == f.size
        np.testing.assert_array_equal(read(prim.indices, "<u4", 1).reshape(-1, 3), f)
        assert g.bufferViews[idx_acc.bufferView].target == pygltflib.ELEMENT_ARRAY_BUFFER


def test_glb_normals_point_outward(tmp_path: Path) -> None:
    pygltflib = pytest.importorskip("pygltflib")
    # A tetrahedron with outward counter-clockwise faces, at z = 3 m in front of the camera.
    v = np.float32([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]) + np.float32([0, 0, 3])
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    write_glb(tmp_path / "t.glb", [v], f)
    g = pygltflib.GLTF2.load_binary(str(tmp_path / "t.glb"))
    blob = g.binary_blob()
    prim = g.meshes[0].primitives[0]

    def read(i: int) -> np.ndarray:
        view = g.bufferViews[g.accessors[i].bufferView]
        return np.frombuffer(blob, "<f4", count=12, offset=view.byteOffset).reshape(4, 3)

    pos, nrm = read(prim.attributes.POSITION), read(prim.attributes.NORMAL)
    assert (np.sum((pos - pos.mean(axis=0)) * nrm, axis=1) > 0).all()
