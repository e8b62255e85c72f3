"""The training loop: one process or ``torchrun`` DDP, Adam + per-iteration cosine schedule, AMP, exact resume.

The schedule, optimizer and snapshot layout follow the reference's ``main/train.py`` / ``main/base.py``:
Adam over all encoder and decoder parameters at ``train.lr``; ``CosineAnnealingLR`` stepped once per iteration
with ``T_max = end_epoch * ceil(len(trainset) / world_size / batch_size)`` and ``eta_min = min_lr``; the loss is
the sum of the per-term means; snapshots at the end of every ``save_every``-th epoch and of the last one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..body import BodyModel
from ..models import family_of_config
from ..models.checkpoint import build_network, check_state
from ..models.config import DTYPES, ConfigError
from ..io.atomic import write_text
from ..progress import ProgressLine
from .config import TrainConfig, load_train_config, training_adapter
from .distributed import DistInfo, ShardedBatchSampler, barrier, init_distributed, mean_over_ranks, shutdown_distributed
from .aux_heatmap import AuxHeatmapHead, aux_heatmap_loss
from .pretrained import EncoderInitReport, FinetuneStart, freeze, load_finetune, load_vitpose_encoder
from .snapshot import ResumePoint, capture_rng, latest_snapshot, read_snapshot, restore_rng, snapshot_files, write_snapshot

log = logging.getLogger(__name__)

#: With several processes, a stop signal takes effect at the next step that is a multiple of this.
STOP_CHECK_EVERY = 10


@dataclass
class StepRecord:
    """One optimizer step, as handed to ``on_step`` callbacks (values of this rank)."""

    epoch: int
    epoch_iteration: int  # batches of this epoch done, this one included
    iteration: int  # optimizer steps done in total, this one included
    lr: float  # the learning rate this step used
    losses: dict[str, float]
    total: float
    indices: list[int]  # dataset indices of this rank's batch


@dataclass
class TrainResult:
    """What a run did."""

    output_dir: Path
    iteration: int
    epoch: int  # the epoch the run would continue in
    stopped_early: bool  # max_steps or a signal ended it before end_epoch
    last_snapshot: Path | None
    signal: int | None = None  # the signal that stopped it, if one did
    encoder_init: EncoderInitReport | None = None
    frozen: list[str] = field(default_factory=list)


def _no_buffer_sync() -> dict[str, bool]:
    """DDP keyword that stops the per-step buffer broadcast (renamed in recent torch)."""
    import inspect

    # SMPLest-X's only buffers are the body model's constants: nothing to sync every step. SMPLer-X's BatchNorm
    # running statistics stay per rank and rank 0's are saved, as the reference's DataParallel keeps replica 0's.
    params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def move_to(obj: Any, device: torch.device) -> Any:
    """Move every tensor inside nested dicts / lists / tuples to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: move_to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to(v, device) for v in obj)
    return obj


def build_train_set(cfg: TrainConfig) -> Dataset:
    """The mixed training set the config describes (registry names, sample intervals, mixing strategy)."""
    # Imported here: the data modules (OpenCV, HumanData) are not needed when a dataset object is passed in.
    from .mixing import build_mixed
    from .registry import build_dataset, get_spec
    from .samples import TargetSpace

    d, m = cfg.data, cfg.model
    space = TargetSpace(
        input_img_shape=tuple(m.input_img_shape),
        input_body_shape=tuple(m.input_body_shape),
        output_hm_shape=tuple(m.output_hm_shape),
        body_3d_size=m.body_3d_size,
        hand_3d_size=m.hand_3d_size,
        face_3d_size=m.face_3d_size,
        bbox_ratio=d.bbox_ratio,
        rot_factor=d.rot_factor,
    )
    try:
        for name in d.datasets:
            get_spec(name)
    except KeyError as exc:
        raise ConfigError(f"data.datasets: {exc.args[0]}") from None
    sets = [
        build_dataset(
            name,
            d.data_dir,
            sample_interval=d.interval(name),
            seed=cfg.train.seed,
            augment=not d.no_aug,
            body_models=m.body_models,
            space=space,
            fix_reference_quirks=d.fix_reference_quirks,
        )
        for name in d.datasets
    ]
    empty = [name for name, s in zip(d.datasets, sets) if len(s) == 0]
    if empty:
        raise ConfigError(f"training set(s) {', '.join(empty)} under {d.data_dir} have no usable annotation")
    weights = [d.weights.get(name, 0.0) for name in d.datasets] if d.strategy == "weighted" else None
    return build_mixed(sets, d.strategy, total_len=d.total_data_len, weights=weights, seed=cfg.train.seed)


class _StopFlag:
    """SIGTERM / SIGINT ask for a clean stop (snapshot, then exit); a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signum = signum
        log.warning("signal %d: stopping after this step and writing a snapshot (resume with --resume)", signum)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _ignore_stop_signals(_worker_id: int) -> None:
    """Loader workers leave SIGTERM / SIGINT to the main process, which stops cleanly (a scheduler signals all)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _truncate_jsonl(path: Path, iteration: int) -> None:
    """Keep only the lines of ``path`` up to ``iteration`` (a resumed run re-does what came after)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if int(json.loads(line).get("iteration", 0)) <= iteration:
                kept.append(line)
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
            continue  # a line half-written by a killed process
    write_text(path, "".join(x + "\n" for x in kept))


class Trainer:
    """Builds everything a run needs from a TrainConfig and runs the epochs."""

    def __init__(
        self,
        cfg: TrainConfig,
        *,
        dataset: Dataset | None = None,
        on_step: Callable[[StepRecord], None] | None = None,
        info: DistInfo | None = None,
    ) -> None:
        self.cfg = cfg
        self.on_step = on_step
        self.info = info or init_distributed(cfg.train.device)
        self.out = Path(cfg.train.output_dir)
        self.ckpt_dir = self.out / "checkpoints"
        self.model_config = cfg.model_config()
        # The family table says which family trains: its model wrapper, and its losses (train/family_*.py).
        self.family = family_of_config(self.model_config)
        self.training = training_adapter(self.family.name)
        self.resume_point = self._find_resume()
        self.dataset = dataset if dataset is not None else build_train_set(cfg)
        t = cfg.train
        self.sampler = ShardedBatchSampler(
            len(self.dataset), t.batch_size, rank=self.info.rank, world_size=self.info.world_size, seed=t.seed
        )
        # T_max as the reference computes it; the loader then runs floor(ceil(N / world) / batch) iterations per
        # epoch (drop_last), so when N is not a multiple the schedule ends just short of min_lr, as there.
        self.ref_iters_per_epoch = math.ceil(len(self.dataset) / self.info.world_size / t.batch_size)
        self.iters_per_epoch = len(self.sampler)
        self._build_model()

    # -- set-up -----------------------------------------------------------------------------------------------

    def _find_resume(self) -> ResumePoint | None:
        latest = latest_snapshot(self.ckpt_dir) if self.ckpt_dir.is_dir() else None
        if not self.cfg.train.resume:
            if latest is not None:
                raise ConfigError(
                    f"{self.out}: already holds a training run ({latest.name}); pass --resume to continue it "
                    "or choose another --output"
                )
            return None
        if latest is None:
            log.warning("resume asked but %s has no snapshot: starting from scratch", self.ckpt_dir)
            return None
        return read_snapshot(latest)

    def _build_model(self) -> None:
        cfg, info = self.cfg, self.info
        m = cfg.model
        # Same initial weights on every rank (DDP would broadcast rank 0's anyway; this keeps one process equal).
        seed_everything(cfg.train.seed)
        # The family follows the config: SMPLest-X's decoder head, or SMPLer-X's heat maps, boxes and hand crops.
        net = build_network(self.model_config).set_attention(m.attention).set_grad_checkpointing(m.grad_checkpointing)
        self.encoder_init: EncoderInitReport | None = None
        self.finetune: FinetuneStart | None = None
        if self.resume_point is None:
            if m.encoder_pretrained:
                self.encoder_init = load_vitpose_encoder(net.encoder, m.encoder_pretrained)
            if m.finetune_from:
                self.finetune = load_finetune(net, m.finetune_from)
        self.frozen = freeze(net, encoder=m.freeze_encoder, blocks=m.freeze_blocks)
        if self.frozen:
            log.info("frozen: %d tensors (%s ...)", len(self.frozen), ", ".join(self.frozen[:3]))
        body = BodyModel.from_dir(m.body_models, "neutral", dtype=torch.float32, device=info.device)
        self.net = net.to(info.device)
        wrapper = self.family.wrapper
        self.model = wrapper(self.net, body).to(info.device).train()
        # One parameter group over encoder + decoder in network order, as the reference's get_optimizer; frozen
        # tensors stay in it (they never get a gradient, so Adam skips them) to keep the state's indexing official.
        groups = [{"params": list(net.parameters()), "lr": cfg.train.lr}]
        # Training-only heat-map head (train.aux_heatmap_weight): its own group after the network's, so the
        # network's optimizer indexing stays the official one. It is saved in snapshots, never in weights files.
        self.aux_head: nn.Module | None = None
        if cfg.train.aux_heatmap_weight > 0:
            self.aux_head = AuxHeatmapHead(self.model_config.encoder.embed_dim).to(info.device).train()
            groups.append({"params": list(self.aux_head.parameters()), "lr": cfg.train.lr})
        self.optimizer = torch.optim.Adam(groups, lr=cfg.train.lr)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=cfg.train.end_epoch * self.ref_iters_per_epoch, eta_min=cfg.train.min_lr
        )
        self.scaler = torch.amp.GradScaler(info.device.type, enabled=cfg.train.amp == "fp16")
        self.iteration = 0
        self.epoch = 0
        self.epoch_iteration = 0
        if self.resume_point is not None:
            self._load_resume(self.resume_point)
        elif self.finetune is not None and not m.finetune_start_over:
            self._continue_official(self.finetune)
        if info.distributed:
            # Whether DDP must search for unused parameters: the family's losses say (train/family_*.py).
            every_param_used = self.training.every_param_used(cfg.train.loss_mode)
            self.ddp: nn.Module = nn.parallel.DistributedDataParallel(
                self.model,
                device_ids=[info.device.index] if info.device.type == "cuda" else None,
                find_unused_parameters=not every_param_used,
                **_no_buffer_sync(),
            )
        else:
            self.ddp = self.model
        self.aux_ddp = self.aux_head
        if info.distributed and self.aux_head is not None:
            self.aux_ddp = nn.parallel.DistributedDataParallel(
                self.aux_head, device_ids=[info.device.index] if info.device.type == "cuda" else None
            )

    def _trained_parameters(self) -> list[nn.Parameter]:
        """Every tensor the optimizer updates: the network's unfrozen ones and the auxiliary head's."""
        params = [p for p in self.net.parameters() if p.requires_grad]
        if self.aux_head is not None:
            params += list(self.aux_head.parameters())
        return params

    def _load_resume(self, rp: ResumePoint) -> None:
        s = rp.state
        state = {k.removeprefix("module."): v for k, v in s["network"].items()}
        check_state(self.net, state, f"{rp.path} (resume: is the config's model section the run's?)")
        self.net.load_state_dict(state)
        aux_state = s.get("aux_heatmap_head")
        if (aux_state is None) != (self.aux_head is None):
            raise ConfigError(
                f"{rp.path}: the run was {'not ' if aux_state is None else ''}trained with the auxiliary heat-map "
                "head; set train.aux_heatmap_weight as the run had it"
            )
        if self.aux_head is not None:
            self.aux_head.load_state_dict(aux_state)
        self.optimizer.load_state_dict(s["optimizer"])
        self.scheduler.load_state_dict(s["scheduler"])
        if s.get("grad_scaler"):
            self.scaler.load_state_dict(s["grad_scaler"])
        self.iteration = rp.iteration
        self.epoch = rp.resume_epoch
        self.epoch_iteration = rp.epoch_iteration
        old_world, old_batch = int(s["world_size"]), int(s["batch_size"])
        if (old_world, old_batch) != (self.info.world_size, self.cfg.train.batch_size):
            # Same samples seen so far, re-cut into the new batches; exact reproduction needs the old layout.
            done = self.epoch_iteration * old_world * old_batch
            self.epoch_iteration = done // (self.info.world_size * self.cfg.train.batch_size)
            log.warning(
                "resuming with %d process(es) x batch %d instead of %d x %d: the run continues but does not "
                "reproduce the uninterrupted one exactly", self.info.world_size, self.cfg.train.batch_size, old_world, old_batch
            )
        log.info("resuming from %s: epoch %d, batch %d of the epoch, iteration %d", rp.path, self.epoch, self.epoch_iteration, self.iteration)

    def _continue_official(self, ft: FinetuneStart) -> None:
        """Reference ``start_over = False``: take over the checkpoint's optimizer and continue after its epoch."""
        if ft.optimizer is None or ft.epoch is None:
            raise ConfigError(f"{ft.source}: model.finetune_start_over = false needs a .pth.tar with 'optimizer' and 'epoch'")
        self.optimizer.load_state_dict(ft.optimizer)
        self.epoch = ft.epoch + 1
        self.iteration = self.epoch * self.iters_per_epoch
        for group in self.optimizer.param_groups:
            # The schedule is this config's, replayed from its start (the file's lr is where its own run was).
            group["lr"] = group["initial_lr"] = self.cfg.train.lr
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()": fast-forwarding on purpose
            for _ in range(self.iteration):
                self.scheduler.step()

    # -- the loop -----------------------------------------------------------------------------------------------

    def _loader(self, epoch: int) -> DataLoader:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.sampler.set_position(self.epoch_iteration if epoch == self.epoch else 0)
        # A private generator: creating the loader must not draw from the global RNG (drop path uses it).
        g = torch.Generator()
        g.manual_seed(self.cfg.train.seed * 100_003 + epoch * 1_009 + self.info.rank)
        workers = self.cfg.train.num_workers
        return DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            num_workers=workers,
            pin_memory=self.info.device.type == "cuda",
            generator=g,
            worker_init_fn=_ignore_stop_signals,
            persistent_workers=False,  # fresh workers every epoch: they must see the dataset's set_epoch
            prefetch_factor=4 if workers > 0 else None,
        )

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        amp = self.cfg.train.amp
        if amp == "none":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.info.device.type, dtype=DTYPES[amp])

    def _snapshot(self, name: str, *, epoch_end: bool) -> Path | None:
        """Write a resumable snapshot on rank 0 (every rank contributes its RNG states)."""
        states = [capture_rng(self.info.device)]
        if self.info.distributed:
            gathered: list[Any] = [None] * self.info.world_size
            dist.all_gather_object(gathered, states[0])
            states = gathered
        path = None
        if self.info.is_main:
            extra = {
                "scheduler": self.scheduler.state_dict(),
                "grad_scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
                "iteration": self.iteration,
                "resume_epoch": self.epoch,
                "epoch_iteration": self.epoch_iteration,
                "world_size": self.info.world_size,
                "batch_size": self.cfg.train.batch_size,
                "rng": states,
                "config": self.cfg.to_json(),
            }
            if self.aux_head is not None:
                extra["aux_heatmap_head"] = self.aux_head.state_dict()
            path = write_snapshot(
                self.ckpt_dir, name, net=self.net, optimizer=self.optimizer, extra=extra,
                model_config=self.model_config, safetensors=epoch_end,
            )
            # A newer snapshot supersedes every mid-epoch one (they exist only for resuming).
            for old in snapshot_files(self.ckpt_dir, r"step_(\d+)\.pth\.tar"):
                if old != path:
                    old.unlink(missing_ok=True)
            if epoch_end and self.cfg.train.remove_old_snapshots:
                for old in snapshot_files(self.ckpt_dir, r"snapshot_(\d+)\.pth\.tar"):
                    if old != path:
                        old.unlink(missing_ok=True)
                        old.with_name(old.name.replace(".pth.tar", ".safetensors")).unlink(missing_ok=True)
        barrier(self.info)
        return path

    def _open_logs(self) -> None:
        info, t = self.info, self.cfg.train
        self.metrics_file = None
        self.samples_file = None
        self.tb = None
        if self.resume_point is not None:
            for p in [self.out / "metrics.jsonl", self.out / f"samples_rank{info.rank}.jsonl"]:
                if info.is_main or p.name.startswith("samples_"):
                    _truncate_jsonl(p, self.iteration)
        mode = "a" if self.resume_point is not None else "w"
        if info.is_main:
            self.metrics_file = open(self.out / "metrics.jsonl", mode, encoding="utf-8")  # noqa: SIM115 - closed in fit()
            if t.tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError:
                    log.info("TensorBoard logging off: the tensorboard package is not installed")
                else:
                    self.tb = SummaryWriter(str(self.out / "tensorboard"), purge_step=self.iteration + 1)
        if t.log_sample_indices:
            self.samples_file = open(self.out / f"samples_rank{info.rank}.jsonl", mode, encoding="utf-8")  # noqa: SIM115

    def _close_logs(self) -> None:
        for f in (self.metrics_file, self.samples_file):
            if f is not None:
                f.close()
        if self.tb is not None:
            self.tb.close()

    def _stop_requested(self, flag: _StopFlag) -> bool:
        if not self.info.distributed:
            return flag.requested
        # Every rank must stop at the same step, or the others would wait forever in the next all-reduce. The
        # agreement costs a device sync, so ranks compare flags every few steps only (the same steps everywhere).
        if self.iteration % STOP_CHECK_EVERY:
            return False
        t = torch.tensor([1.0 if flag.requested else 0.0], device=self.info.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def fit(self) -> TrainResult:
        """Train from the current position to ``end_epoch`` (or ``max_steps`` / a stop signal)."""
        cfg, info, t = self.cfg, self.info, self.cfg.train
        if info.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            write_text(self.out / "config.toml", cfg.to_toml())
            log.info(
                "training %s on %d sample(s), %d process(es) x batch %d: %d iterations per epoch, %d epochs",
                self.out, len(self.dataset), info.world_size, t.batch_size, self.iters_per_epoch, t.end_epoch,
            )
        barrier(info)
        self._open_logs()
        if self.resume_point is not None:
            rng = self.resume_point.state["rng"]
            if len(rng) == info.world_size:
                restore_rng(rng[info.rank], info.device)
            else:
                seed_everything(t.seed + info.rank + 7919 * self.iteration)
        else:
            # Per-rank streams (drop path, anything random in the model); the data has its own seeded generators.
            seed_everything(t.seed + info.rank)
        progress = ProgressLine(t.progress and info.is_main)
        last: Path | None = None
        stopped = False
        try:
            with _StopFlag() as flag:
                while self.epoch < t.end_epoch and not stopped:
                    stopped, saved = self._run_epoch(flag, progress)
                    last = saved or last
                    if stopped and self.epoch_iteration < self.iters_per_epoch:
                        break  # stopped mid-epoch: _run_epoch wrote the step snapshot
                    e = self.epoch
                    self.epoch += 1
                    self.epoch_iteration = 0
                    if e % t.save_every == 0 or e == t.end_epoch - 1:
                        last = self._snapshot(f"snapshot_{e}", epoch_end=True)
                    elif stopped:
                        last = self._snapshot(f"step_{self.iteration}", epoch_end=False)
        finally:
            progress.close()
            self._close_logs()
        early = stopped and self.epoch < t.end_epoch
        return TrainResult(self.out, self.iteration, self.epoch, early, last, flag.signum, self.encoder_init, self.frozen)

    def _run_epoch(self, flag: _StopFlag, progress: ProgressLine) -> tuple[bool, Path | None]:
        """One (possibly partial) epoch; returns (stop now, snapshot written at the stop)."""
        info, t = self.info, self.cfg.train
        loader = self._loader(self.epoch)
        batches = self.sampler.batches()
        window_start = time.perf_counter()
        window_data = 0.0
        window_steps = 0
        tick = time.perf_counter()
        for inputs, targets, meta in loader:
            data_time = time.perf_counter() - tick
            indices = batches[self.epoch_iteration]
            terms, loss, grad_norm, lr = self.train_step(inputs, targets, meta)
            self.iteration += 1
            self.epoch_iteration += 1
            window_steps += 1
            window_data += data_time

            if self.samples_file is not None:
                self.samples_file.write(json.dumps({"iteration": self.iteration, "epoch": self.epoch, "indices": indices}) + "\n")
                self.samples_file.flush()
            if self.on_step is not None:
                self.on_step(StepRecord(
                    self.epoch, self.epoch_iteration, self.iteration, lr,
                    {k: float(v.detach().float().mean()) for k, v in terms.items()}, float(loss.detach()), list(indices),
                ))
            if self.iteration % t.log_every == 0:
                if info.device.type == "cuda":
                    torch.cuda.synchronize(info.device)
                wall = time.perf_counter() - window_start
                progress.clear()
                self._log_step(terms, loss, lr, grad_norm, wall, window_data, window_steps)
                window_start, window_data, window_steps = time.perf_counter(), 0.0, 0
            if progress.due():
                progress.update(
                    f"epoch {self.epoch + 1}/{t.end_epoch} it {self.epoch_iteration}/{self.iters_per_epoch} "
                    f"loss {float(loss.detach()):.4f} lr {lr:.3g}"
                )
            if self._stop_requested(flag) or (t.max_steps and self.iteration >= t.max_steps):
                if self.epoch_iteration >= self.iters_per_epoch:
                    return True, None  # the epoch is complete: fit() writes the snapshot
                return True, self._snapshot(f"step_{self.iteration}", epoch_end=False)
            if t.save_every_steps and self.iteration % t.save_every_steps == 0 and self.epoch_iteration < self.iters_per_epoch:
                self._snapshot(f"step_{self.iteration}", epoch_end=False)
            tick = time.perf_counter()
        return False, None

    def train_step(
        self, inputs: dict[str, Any], targets: dict[str, Any], meta: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None, float]:
        """Forward, backward, optimizer and schedule step on one collated batch; (terms, loss, grad norm, lr used)."""
        t = self.cfg.train
        inputs, targets, meta = (move_to(x, self.info.device) for x in (inputs, targets, meta))
        lr = self.optimizer.param_groups[0]["lr"]
        with self._autocast():
            # Through the (DDP) wrapper's __call__, so that gradients are synchronised.
            out = self.ddp(inputs["img"], train=True)
            terms = self.training.loss_terms(out, targets, meta, self.model_config, t)
            if self.aux_ddp is not None:
                _, hh, hw = self.model_config.output_hm_shape
                heatmaps = self.aux_ddp(out.img_feat)
                terms["aux_heatmap"] = t.aux_heatmap_weight * aux_heatmap_loss(
                    heatmaps, targets["joint_img"], meta["joint_trunc"], (hh, hw)
                )
            loss = self.training.total_loss(terms)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        grad_norm = None
        if t.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(self._trained_parameters(), t.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        with warnings.catch_warnings():
            # fp16: the scaler skips the optimizer step when gradients overflow, and torch then warns about the
            # schedule running ahead; the schedule counts iterations, as the reference's does.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
            self.scheduler.step()
        return terms, loss, grad_norm, lr

    def _log_step(
        self, terms: dict[str, torch.Tensor], loss: torch.Tensor, lr: float, grad_norm: torch.Tensor | None,
        wall: float, data_time: float, steps: int,
    ) -> None:
        info, t = self.info, self.cfg.train
        values = {k: float(v.detach().float().mean()) for k, v in terms.items()}
        values = self.training.logged_terms(values)
        values["total"] = float(loss.detach())
        if grad_norm is not None:
            values["grad_norm"] = float(grad_norm)
        values = mean_over_ranks(values, info)
        if not info.is_main:
            return
        record = {
            "epoch": self.epoch,
            "iteration": self.iteration,
            "epoch_iteration": self.epoch_iteration,
            "iters_per_epoch": self.iters_per_epoch,
            "lr": lr,
            "total": values.pop("total"),
            "losses": {k: v for k, v in values.items() if k != "grad_norm"},
            "samples_per_s": steps * t.batch_size * info.world_size / max(wall, 1e-9),
            "data_time": data_time / steps,
            "step_time": (wall - data_time) / steps,
            "time": time.time(),
        }
        if "grad_norm" in values:
            record["grad_norm"] = values["grad_norm"]
        if not math.isfinite(record["total"]):
            log.warning("iteration %d: the loss is not finite (%s)", self.iteration, record["total"])
        assert self.metrics_file is not None
        self.metrics_file.write(json.dumps(record) + "\n")
        self.metrics_file.flush()
        log.info(
            "epoch %d/%d it %d/%d lr %.3g loss %.4f %.1f samples/s (data %.3fs, step %.3fs)",
            self.epoch + 1, t.end_epoch, self.epoch_iteration, self.iters_per_epoch, lr, record["total"],
            record["samples_per_s"], record["data_time"], record["step_time"],
        )
        if self.tb is not None:
            for k, v in record["losses"].items():
                self.tb.add_scalar(f"loss/{k}", v, self.iteration)
            for k in ("total", "lr", "samples_per_s", "data_time", "step_time"):
                self.tb.add_scalar(f"train/{k}", record[k], self.iteration)


def run_training(
    config: str | Path | TrainConfig | None,
    overrides: Sequence[str] = (),
    *,
    output: str | Path | None = None,
    resume: bool | None = None,
    dataset: Dataset | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
) -> TrainResult:
    """Load the config (with ``--set`` overrides), train, and return where everything went."""
    cfg = config if isinstance(config, TrainConfig) else load_train_config(config, overrides)
    if isinstance(config, TrainConfig) and overrides:
        raise ValueError("overrides apply to config files; change the TrainConfig object instead")
    t = cfg.train
    if output is not None or resume is not None:
        cfg = replace(cfg, train=replace(t, output_dir=str(output) if output is not None else t.output_dir,
                                         resume=t.resume if resume is None else resume))
    owns_group = not (dist.is_available() and dist.is_initialized())
    try:
        trainer = Trainer(cfg, dataset=dataset, on_step=on_step)
        return trainer.fit()
    finally:
        if owns_group:
            shutdown_distributed()

