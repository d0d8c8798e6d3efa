"""Supervised training of the pose estimator on render sets: AdamW, cosine learning rate over a number of
steps or a time budget (whichever ends first), TensorBoard, checkpoints every few hundred steps, resume
from the last one.

Steps, not epochs: the training set may still be rendering, so the manifest is reread every
`reload_every` steps and new shards join the sampling pool.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data import PooledFrames
from .pose_net import LossWeights, PoseNet, PoseNetConfig, pose_loss

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class VisionTrainConfig:
    data: str
    run_dir: str
    steps: int = 20000
    batch_size: int = 64
    learning_rate: float = 1e-3
    final_learning_rate_fraction: float = 0.05
    weight_decay: float = 1e-5
    reload_every: int = 200  # steps between rereads of the (possibly growing) training manifest
    checkpoint_every: int = 250
    validation_data: str | None = None  # a held-out render set, logged to TensorBoard (not used for selection)
    validation_every: int = 1000
    validation_sets: int = 256
    max_minutes: float | None = None  # stop (with a checkpoint) after this long, to be resumed later
    seed: int = 0
    threads: int | None = None
    bfloat16: bool | None = None  # autocast the conv tower to bfloat16; None: only where the CPU has it natively
    on_bad_shard: str = "error"
    network: PoseNetConfig = field(default_factory=PoseNetConfig)
    loss: LossWeights = field(default_factory=LossWeights)


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 / AMX). Autocast is 2-3x faster there and
    about 15x slower where bfloat16 is emulated (AVX2-only CPUs), so `bfloat16=None` follows this."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def learning_rate(config: VisionTrainConfig, step: int, time_fraction: float = 0.0) -> float:
    """Cosine decay over the run: progress is the larger of the step fraction and the fraction of
    `max_minutes` used, so a run that a time budget cuts short still ends at the low learning rate."""
    progress = min(max(step / max(config.steps, 1), time_fraction), 1.0)
    low = config.final_learning_rate_fraction
    return config.learning_rate * (low + (1 - low) * 0.5 * (1 + math.cos(math.pi * progress)))


def _config_dict(config: VisionTrainConfig) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def load_checkpoint(path: str | Path) -> tuple[PoseNet, dict]:
    """The network of a checkpoint (eval mode) and the checkpoint's other contents."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    network = PoseNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["network"].items()})
    model = PoseNet(network)
    model.load_state_dict(state["model"])
    return model.eval(), state


def train(config: VisionTrainConfig, resume: bool = True, show_progress: bool = True) -> dict:
    """Train (or continue) the run in `config.run_dir`; returns a summary with the loss history."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    if config.threads:
        torch.set_num_threads(config.threads)
    if config.bfloat16 is None:
        config = dataclasses.replace(config, bfloat16=native_bfloat16())
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model = PoseNet(config.network)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    step, elapsed, history = 0, 0.0, []
    checkpoint_path = run_dir / CHECKPOINT
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, history = state["step"], state["elapsed_s"], state["history"]
        torch.set_rng_state(state["torch_rng"])
    rng = np.random.default_rng([config.seed, step])
    (run_dir / "config.json").write_text(json.dumps(_config_dict(config), indent=1))

    data = PooledFrames(Path(config.data), config.network, config.on_bad_shard)
    log = (lambda line: tqdm.write(line, file=sys.stderr)) if show_progress else (lambda line: None)
    data.refresh()
    for reason in data.skipped:
        log(f"skipped bad shard {reason}")
    validation = None
    if config.validation_data:
        validation = PooledFrames(Path(config.validation_data), config.network, config.on_bad_shard)
        validation.refresh()

    writer = SummaryWriter(str(run_dir))
    bar = tqdm(total=config.steps, initial=step, unit="step", desc="train-vision", disable=not show_progress,
               file=sys.stderr, dynamic_ncols=True)
    session_start = time.perf_counter()

    def save() -> None:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    "elapsed_s": elapsed + time.perf_counter() - session_start, "history": history,
                    "torch_rng": torch.get_rng_state(), "network": dataclasses.asdict(config.network),
                    "train_config": _config_dict(config), "train_sets": len(data), "train_shards": sorted(data.loaded)},
                   checkpoint_path.with_suffix(".tmp"))
        checkpoint_path.with_suffix(".tmp").replace(checkpoint_path)

    model.train()
    stopped_early = False
    while step < config.steps:
        if step % config.reload_every == 0 and step > 0:
            added = data.refresh()
            if added:
                log(f"step {step}: {added} new frame sets, {len(data)} in all")
        images, positions, quaternions = data.tensors()
        batch = torch.from_numpy(rng.integers(0, len(positions), config.batch_size))
        time_fraction = (time.perf_counter() - session_start) / (60 * config.max_minutes) if config.max_minutes else 0.0
        lr = learning_rate(config, step, time_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bfloat16):
            position, quaternion = model.forward_pooled(images[batch])
        loss, position_error, angle = pose_loss(position.float(), quaternion.float(), positions[batch], quaternions[batch],
                                                config.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        record = {"step": step, "loss": loss.item(), "position_mm": position_error.detach().mean().item() * 1000,
                  "orientation_deg": float(np.degrees(angle.detach().mean().item()))}
        history.append(record)
        if step % 20 == 0:
            for key in ("loss", "position_mm", "orientation_deg"):
                writer.add_scalar(f"train/{key}", record[key], step)
            writer.add_scalar("train/learning_rate", lr, step)
            writer.add_scalar("data/frame_sets", len(data), step)
            bar.set_postfix(loss=f"{record['loss']:.3f}", mm=f"{record['position_mm']:.1f}",
                            deg=f"{record['orientation_deg']:.1f}", sets=len(data))
        bar.update(1)
        if validation is not None and step % config.validation_every == 0:
            metrics = validate(model, validation, config.validation_sets)
            for key, value in metrics.items():
                writer.add_scalar(f"validation/{key}", value, step)
            log(f"step {step}: validation " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
            model.train()
        if step % config.checkpoint_every == 0:
            save()
        if config.max_minutes and time.perf_counter() - session_start > 60 * config.max_minutes:
            stopped_early = True
            break
    save()
    bar.close()
    writer.close()
    return {"steps": step, "stopped_early": stopped_early, "train_sets": len(data), "history": history,
            "elapsed_s": elapsed + time.perf_counter() - session_start, "checkpoint": str(checkpoint_path)}


@torch.no_grad()
def validate(model: PoseNet, frames: PooledFrames, limit: int) -> dict[str, float]:
    model.eval()
    images, positions, quaternions = frames.tensors()
    errors, angles = [], []
    for start in range(0, min(limit, len(positions)), 64):
        stop = min(start + 64, limit, len(positions))
        position, quaternion = model.forward_pooled(images[start:stop])
        _, e, a = pose_loss(position, quaternion, positions[start:stop], quaternions[start:stop])
        errors.append(e)
        angles.append(a)
    e, a = torch.cat(errors).numpy() * 1000, np.degrees(torch.cat(angles).numpy())
    return {"position_mm_median": float(np.median(e)), "orientation_deg_median": float(np.median(a)),
            "position_mm_mean": float(e.mean()), "orientation_deg_mean": float(a.mean())}
