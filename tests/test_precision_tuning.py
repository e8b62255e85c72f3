"""`--dtype auto` by measurement: the calibration picks the fastest precision within the accuracy bound, caches it
per machine and torch version, prunes what cannot run, and never picks a mode slower than fp32.

Nothing here times anything real: ``time_call`` is replaced by fake timings and the models by fake predictions
whose errors are set exactly.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import smplestx.models.loading as model_mod
import smplestx.models.precision_tuning as pt
from smplestx.body import BodyModel
from smplestx.body.joint_sets import CONTOUR_LANDMARKS_START, SMPLX_137
from smplestx.models.smplest_x import SMPLestXConfig

CONTOUR = np.flatnonzero(np.asarray(SMPLX_137.index_in_144) >= CONTOUR_LANDMARKS_START)


@pytest.fixture(scope="module")
def body(parity_body) -> BodyModel:
    return BodyModel.from_dir(parity_body)


def _prediction(shift_m: float = 0.0, *, worst_m: float = 0.0, contour_m: float = 0.0, yaw: float = 0.0):
    """A fake CropPrediction of 2 crops: every vertex moved ``shift_m`` in x, one vertex ``worst_m`` more."""
    g = torch.Generator().manual_seed(0)
    vertices = torch.rand(2, 50, 3, generator=g, dtype=torch.float64)
    joints = torch.rand(2, 137, 3, generator=g, dtype=torch.float64)
    vertices[..., 0] += shift_m
    joints[:, 1:, 0] += shift_m  # joint 0 is the root: root-relative errors are measured from it
    vertices[0, 7, 1] += worst_m
    joints[:, CONTOUR, 2] += contour_m
    orient = torch.zeros(2, 3, dtype=torch.float64)
    orient[:, 1] = yaw  # turns the head: the face-contour joints' bin follows it
    return SimpleNamespace(vertices=vertices, joints_cam=joints, global_orient=orient,
                           body_pose=torch.zeros(2, 21, 3, dtype=torch.float64))


class FakeMachine:
    """Fake timings (seconds per label) and fake models (predictions by precision); counts what was built.

    bf16 is timed with two attention kernels: "bf16 (bf16 attention) model" falls back to "bf16 model"'s time
    unless a test sets it, and both kernels give the precision's prediction.
    """

    def __init__(self, seconds: dict[str, float], predictions: dict[str, SimpleNamespace]) -> None:
        self.seconds, self.predictions, self.built = seconds, predictions, []
        self.kernels: list[tuple[str, str]] = []

    def time_call(self, label, fn, reps, *, warmup=False, max_s=float("inf")):
        fn()  # the calibration's own closure: it must run the model it names
        if label not in self.seconds and " (" in label:
            return self.seconds[label.split(" (")[0] + " model"]
        return self.seconds[label]

    def build(self, precision, attention):
        self.built.append(precision)
        self.kernels.append((precision, attention))
        return lambda crops: self.predictions[precision]

    def install(self, monkeypatch, precisions):
        monkeypatch.setattr(pt, "time_call", self.time_call)
        monkeypatch.setattr(pt, "candidates", lambda device, backend="torch": list(precisions))
        monkeypatch.setattr(pt, "calibration_crops", lambda body, config, num: torch.zeros(num, 3, 8, 6))


def _timings(**model_s: float) -> dict[str, float]:
    """Model timings by precision (``int8_fbgemm`` for int8-fbgemm); every matmul probe 2x faster than fp32's."""
    out = {"fp32 matmul": 1.0}
    for name, s in model_s.items():
        name = name.replace("_", "-")
        out[f"{name} model"] = s
        out.setdefault(f"{name} matmul", 0.5)
    return out


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SMPLESTX_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "precision"


CONFIG = SMPLestXConfig()


def _tune(machine: FakeMachine, body: BodyModel, **kw) -> pt.Tuning:
    return pt.tune(machine.build, body, CONFIG, "cpu", batch_size=8, **kw)


def test_fastest_within_the_bound_is_picked_and_cached(monkeypatch, body, cache):
    machine = FakeMachine(_timings(fp32=1.0, bf16=0.6, int8_fbgemm=0.4),
                          {"fp32": _prediction(), "bf16": _prediction(0.001), "int8-fbgemm": _prediction(0.002)})
    machine.install(monkeypatch, ["fp32", "bf16", "int8-fbgemm"])
    tuning = _tune(machine, body)
    assert tuning.picked == "int8-fbgemm" and not tuning.cached
    rows = {t.precision: t for t in tuning.trials}
    assert rows["int8-fbgemm"].speedup == pytest.approx(2.5) and rows["bf16"].accepted
    assert rows["int8-fbgemm"].mean_mm == pytest.approx(2.0, rel=0.01)  # all points moved 2 mm but the root
    assert len(list(cache.glob("*.json"))) == 1
    # Second use: read back, nothing built or timed.
    machine.built.clear()
    again = _tune(machine, body)
    assert again.cached and again.picked == "int8-fbgemm" and machine.built == []
    # doctor --tune (redo) measures again.
    assert not _tune(machine, body, redo=True).cached and "fp32" in machine.built


def test_a_candidate_outside_the_bound_is_refused(monkeypatch, body, cache):
    preds = {"fp32": _prediction(), "bf16": _prediction(0.001),  # 1 mm: fine
             "int8": _prediction(0.006),  # mean 6 mm > 5 mm
             "int8-fbgemm": _prediction(0.001, worst_m=0.030)}  # one vertex 31 mm off > 20 mm
    machine = FakeMachine(_timings(fp32=1.0, bf16=0.8, int8=0.3, int8_fbgemm=0.2), preds)
    machine.install(monkeypatch, ["fp32", "bf16", "int8", "int8-fbgemm"])
    tuning = _tune(machine, body)
    rows = {t.precision: t for t in tuning.trials}
    assert tuning.picked == "bf16"
    assert not rows["int8"].accepted and "bound" in rows["int8"].note and rows["int8"].mean_mm > 5
    assert not rows["int8-fbgemm"].accepted and rows["int8-fbgemm"].worst_mm > 20
    table = pt.format_table(tuning)
    assert "PICKED" in table.splitlines()[2] and "outside the bound" in table


def test_never_slower_than_fp32(monkeypatch, body, cache):
    preds = {"fp32": _prediction(), "bf16": _prediction(0.001), "int8-fbgemm": _prediction(0.001)}
    # bf16 slower, int8-fbgemm 2 % faster: within timing noise, so fp32 stays.
    machine = FakeMachine(_timings(fp32=1.0, bf16=1.6, int8_fbgemm=0.98), preds)
    machine.install(monkeypatch, ["fp32", "bf16", "int8-fbgemm"])
    tuning = _tune(machine, body)
    assert tuning.picked == "fp32"
    assert all(not t.accepted for t in tuning.trials if t.precision != "fp32")


def test_a_kernel_slower_than_fp32_in_the_probe_is_not_timed(monkeypatch, body, cache):
    seconds = _timings(fp32=1.0, bf16=0.5, int8=0.3)
    seconds["int8 matmul"] = 40.0  # int8 through torch._int_mm without VNNI
    seconds["bf16 matmul"] = 1.2  # a little slower in the probe: within timing noise, so still timed
    machine = FakeMachine(seconds, {"fp32": _prediction(), "bf16": _prediction(0.001), "int8": _prediction()})
    machine.install(monkeypatch, ["fp32", "bf16", "int8"])
    tuning = _tune(machine, body)
    assert tuning.picked == "bf16" and "int8" not in machine.built
    assert "40.0x fp32's" in {t.precision: t for t in tuning.trials}["int8"].note


def test_bf16_is_timed_with_both_attention_kernels_and_the_faster_is_picked(monkeypatch, body, cache):
    """Which bf16 attention kernel is faster depends on the CPU (fused on AMX, textbook without): measured."""
    preds = {"fp32": _prediction(), "bf16": _prediction(0.001), "int8": _prediction(0.001)}
    for fused, textbook, expected in ((0.3, 0.4, "sdpa"), (0.4, 0.3, "bf16")):
        seconds = _timings(fp32=1.0, bf16=fused, int8=0.6)
        seconds["bf16 (bf16 attention) model"] = textbook
        machine = FakeMachine(seconds, preds)
        machine.install(monkeypatch, ["fp32", "bf16", "int8"])
        tuning = _tune(machine, body, redo=True)
        assert (tuning.picked, tuning.attention) == ("bf16", expected)
        # fp32 and int8 (float32 activations) keep the fused kernel; bf16 tries both.
        assert sorted(set(machine.kernels)) == [("bf16", "bf16"), ("bf16", "sdpa"), ("fp32", "sdpa"), ("int8", "sdpa")]
        rows = {(t.precision, t.attention): t for t in tuning.trials}
        assert rows[("bf16", "bf16")].speedup == pytest.approx(1 / textbook)
        picked_rows = [line for line in pt.format_table(tuning).splitlines() if "PICKED" in line]
        assert len(picked_rows) == 1 and picked_rows[0].split()[:3] == ["bf16", "torch", expected]
        again = _tune(machine, body)  # the cache keeps the kernel
        assert again.cached and again.attention == expected


def test_an_explicit_attention_kernel_is_the_only_one_timed(monkeypatch, body, cache):
    machine = FakeMachine(_timings(fp32=1.0, bf16=0.5), {"fp32": _prediction(), "bf16": _prediction(0.001)})
    machine.install(monkeypatch, ["fp32", "bf16"])
    tuning = _tune(machine, body, attention="eager")
    assert set(machine.kernels) == {("fp32", "eager"), ("bf16", "eager")}
    assert (tuning.picked, tuning.attention) == ("bf16", "eager") and tuning.key["attention"] == "eager"
    assert pt.cache_file(tuning.key) != pt.cache_file(pt.tuning_key(CONFIG, 8))  # auto's table is another file


def test_a_probe_pruned_precision_prunes_every_attention_kernel(monkeypatch, body, cache):
    seconds = _timings(fp32=1.0, bf16=0.5)
    seconds["bf16 matmul"] = 20.0  # emulated bf16 (AVX2-only CPUs)
    machine = FakeMachine(seconds, {"fp32": _prediction(), "bf16": _prediction(0.001)})
    machine.install(monkeypatch, ["fp32", "bf16"])
    tuning = _tune(machine, body)
    assert tuning.picked == "fp32" and machine.built == ["fp32"]
    bf16 = [t for t in tuning.trials if t.precision == "bf16"]
    assert {t.attention for t in bf16} == {"sdpa", "bf16"} and all("20.0x" in t.note for t in bf16)


def test_stale_cache_is_redone_after_a_torch_upgrade(monkeypatch, body, cache):
    machine = FakeMachine(_timings(fp32=1.0, bf16=0.5), {"fp32": _prediction(), "bf16": _prediction(0.001)})
    machine.install(monkeypatch, ["fp32", "bf16"])
    monkeypatch.setattr(torch, "__version__", "2.13.0+cpu")
    assert _tune(machine, body).picked == "bf16"
    machine.seconds["bf16 model"] = 2.0  # the new torch makes bf16 slow here
    monkeypatch.setattr(torch, "__version__", "2.14.0+cpu")
    tuning = _tune(machine, body)
    assert not tuning.cached and tuning.picked == "fp32" and tuning.key["torch"] == "2.14.0+cpu"
    assert len(list(cache.glob("*.json"))) == 2
    # A cache file whose key does not match what it is filed under (edited, or another version's) is redone too.
    path = pt.cache_file(tuning.key)
    path.write_text(path.read_text().replace("2.14.0+cpu", "2.12.0"))
    assert not _tune(machine, body).cached
    path.write_text("{not json")
    assert not _tune(machine, body).cached


def test_the_key_names_cpu_versions_model_and_batch_bucket():
    key = pt.tuning_key(CONFIG, 8)
    assert {"cpu", "cpu_flags", "torch", "onnxruntime", "family", "size", "batch", "backend"} <= set(key)
    assert key["size"] == f"{CONFIG.encoder.embed_dim}x{CONFIG.encoder.depth}" and key["batch"] == "5-16"
    assert [pt.batch_bucket(b) for b in (1, 2, 4, 5, 16, 17, 500)] == ["1", "2-4", "2-4", "5-16", "5-16", "17+", "17+"]
    assert pt.cache_file(key) != pt.cache_file({**key, "batch": "1"})


def test_an_instruction_set_cap_is_another_machine(monkeypatch):
    for name in pt.ISA_CAPS:
        monkeypatch.delenv(name, raising=False)
    plain = pt.tuning_key(CONFIG, 8)
    assert plain["isa_caps"] == {}
    # oneDNN capped below AVX512-BF16 emulates bf16 (20x slower here): the uncapped calibration must not be reused.
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI")
    capped = pt.tuning_key(CONFIG, 8)
    assert capped["isa_caps"] == {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI"}
    assert pt.cache_file(capped) != pt.cache_file(plain)


def test_candidates_are_pruned_only_where_they_cannot_run(monkeypatch):
    monkeypatch.undo()  # the suite's autouse fixture offers fp32 only; here the real pruning is under test
    monkeypatch.setattr(pt, "_bf16_matmul_works", lambda: True)
    monkeypatch.setattr(pt, "_int8_matmul_works", lambda: True)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr("smplestx.nn.int8.fbgemm_available", lambda: True)
    assert pt.candidates("cpu") == ["fp32", "bf16", "int8", "int8-fbgemm"]
    # fbgemm's kernels need AVX2: a CPU without it (or a torch without torch.ao) cannot run int8-fbgemm.
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    assert pt.candidates("cpu") == ["fp32", "bf16", "int8"]
    monkeypatch.setattr(pt, "_bf16_matmul_works", lambda: False)
    monkeypatch.setattr(pt, "_int8_matmul_works", lambda: False)
    assert pt.candidates("cpu") == ["fp32"]
    # GPUs keep fp32; ONNX networks choose between ONNX Runtime's fp32 and int8.
    assert pt.candidates("cuda") == ["fp32"] and pt.candidates("mps") == ["fp32"]
    assert pt.candidates("cpu", "onnxruntime")[0] == "fp32"


def test_face_contour_joints_count_only_where_both_runs_share_a_bin(body):
    ref = _prediction()
    # Contour joints 0.2 m away in both: with the same head angle that is an error, ...
    _, worst = pt.errors_m(ref, _prediction(contour_m=0.2), body)
    assert worst == pytest.approx(0.2)
    # ... with the head turned across a bin edge they are other vertices, not an error.
    turned = _prediction(contour_m=0.2, yaw=1.2)
    bins = [body.face_contour_bins(p.global_orient, p.body_pose) for p in (ref, turned)]
    assert not torch.equal(*bins)
    mean, worst = pt.errors_m(ref, turned, body)
    assert worst == 0.0 and mean == 0.0
    nan = _prediction()
    nan.vertices[0, 0, 0] = float("nan")
    assert pt.errors_m(ref, nan, body) == (float("inf"), float("inf"))  # a NaN never passes the bound


def test_load_model_auto_runs_what_the_calibration_picked(tiny_ckpt, tiny_config, parity_body, monkeypatch):
    picks = []

    from smplestx.nn.attention import Attention

    picked = ("int8-fbgemm", "sdpa")

    def fake_tune(build, body, config, device, *, batch_size, backend="torch", attention="auto", redo=False):
        model = build("int8-fbgemm", "eager")  # the calibration builds each candidate from the loaded fp32 network
        assert model_mod.network_precision(model.net) == "int8-fbgemm"
        assert {m.kind for m in model.net.modules() if isinstance(m, Attention)} == {"eager"}
        picks.append(batch_size)
        return pt.Tuning(key={}, picked=picked[0], attention=picked[1])

    def kinds(model) -> set[str]:
        return {m.kind for m in model.net.modules() if isinstance(m, Attention)}

    monkeypatch.setattr(pt, "tune", fake_tune)
    model = model_mod.load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="auto", batch_size=3)
    assert model_mod.network_precision(model.net) == "int8-fbgemm" and picks == [3]
    # The attention kernel measured with the precision is the one loaded.
    picked = ("bf16", "bf16")
    model = model_mod.load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="auto", batch_size=3)
    assert model_mod.network_precision(model.net) == "bf16" and kinds(model) == {"bf16"}
    picked = ("bf16", "sdpa")
    model = model_mod.load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="auto", batch_size=3)
    assert kinds(model) == {"sdpa"}
    picks.clear()
    # Explicit precisions and GPUs are never calibrated.
    assert model_mod.network_precision(
        model_mod.load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="fp32").net) == "fp32"
    assert picks == []


def test_calibration_end_to_end_on_the_tiny_model(tiny_ckpt, tiny_config, parity_body, monkeypatch, cache):
    """Real models and real accuracy on random crops (timings faked): the table is complete and self-consistent."""
    seconds = _timings(fp32=1.0, int8_fbgemm=0.5)
    monkeypatch.setattr(pt, "time_call", lambda label, fn, reps, **kw: seconds[label])
    monkeypatch.setattr(pt, "candidates", lambda device, backend="torch": ["fp32", "int8-fbgemm"])
    monkeypatch.setattr(pt, "calibration_crops",
                        lambda body, config, num: torch.rand(num, 3, *config.input_img_shape,
                                                             generator=torch.Generator().manual_seed(0)))
    model = model_mod.load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="auto", batch_size=2)
    tuning = pt.load_cached(pt.tuning_key(model.config, 2))
    assert tuning is not None and [t.precision for t in tuning.trials] == ["fp32", "int8-fbgemm"]
    row = tuning.trials[1]
    assert 0 < row.mean_mm < row.worst_mm < 1000
    within = row.mean_mm <= 5 and row.worst_mm <= 20
    assert (row.speedup == pytest.approx(2.0)) if within else (row.speedup is None and "bound" in row.note)
    assert tuning.picked == ("int8-fbgemm" if within else "fp32") == model_mod.network_precision(model.net)


def test_doctor_tune_prints_the_table(tiny_ckpt, tiny_config, parity_body, monkeypatch, capsys, cache):
    from smplestx.cli import main

    canned = pt.Tuning(key=pt.tuning_key(SMPLestXConfig(), 16), picked="int8-fbgemm", attention="sdpa", seconds=4.2,
                       trials=[
        pt.Trial("fp32", attention="sdpa", ms=100.0, speedup=1.0, mean_mm=0.0, worst_mm=0.0, accepted=True),
        pt.Trial("bf16", attention="bf16", ms=60.0, speedup=1.67, mean_mm=1.0, worst_mm=3.0, accepted=True),
        pt.Trial("int8", attention="sdpa", note="its matmul takes 40.0x fp32's: not timed"),
        pt.Trial("int8-fbgemm", attention="sdpa", ms=45.0, speedup=2.22, mean_mm=1.2, worst_mm=6.0, accepted=True)])
    calls = []
    monkeypatch.setattr(pt, "tune", lambda build, body, config, device, *, batch_size, backend="torch",
                        attention="auto", redo=False: calls.append(redo) or canned)
    monkeypatch.setenv("SMPLESTX_BODY_MODELS", str(parity_body))
    main(["doctor", "--tune", "--checkpoint", str(tiny_ckpt), "--config", str(tiny_config)])
    out = capsys.readouterr().out
    assert calls == [True]
    assert "int8-fbgemm  torch       sdpa" in out and "PICKED" in out and "2.22x" in out and "40.0x fp32's" in out
    assert "bf16         torch       bf16" in out
    assert "--dtype auto on" in out and "int8-fbgemm with sdpa attention" in out


def test_calibration_crops_are_a_fixed_set_of_synthetic_people(body):
    a = pt.calibration_crops(body, CONFIG, 2)
    assert a.shape == (2, 3, *CONFIG.input_img_shape) and a.dtype == torch.float32
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    assert torch.equal(a, pt.calibration_crops(body, CONFIG, 2))  # the same people every time
    assert not torch.equal(a[0], a[1])
