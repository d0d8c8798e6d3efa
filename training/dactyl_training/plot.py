"""Training curves from a run's `progress.jsonl` (one JSON line per PPO iteration) as one PNG, for people
who would rather look than read TensorBoard's scalars: what the policy achieves, what the curriculum asks,
and how the optimisation and the machine behaved, all against env steps."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

ARCHIVE_NAME, LOG_NAME = "progress.jsonl.gz", "progress.jsonl"


def progress_files(path: str | Path) -> list[Path]:
    """The progress file itself, or a run (or checkpoint) directory's history oldest first: the archived
    `progress.jsonl.gz` (a committed checkpoint's whole log) and the `progress.jsonl` that a resumed run
    appends to, whichever of the two are there."""
    path = Path(path)
    if path.is_dir():
        files = [path / name for name in (ARCHIVE_NAME, LOG_NAME) if (path / name).is_file()]
        if not files:
            raise FileNotFoundError(f"{path} has no {LOG_NAME} or {ARCHIVE_NAME} (is it a `dactyl train --out` directory?)")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return [path]


def load_progress(path: str | Path) -> dict[str, np.ndarray]:
    """Every key of the iteration records as an array over iterations (NaN where an iteration lacks it).

    An iteration logged twice (a run resumed from a checkpoint older than its log's end repeats the
    iterations after it) keeps its later record, the one the checkpoint's history continues from."""
    files = progress_files(path)
    by_iteration: dict[int, dict] = {}
    for file in files:
        opener = gzip.open if file.suffix == ".gz" else open
        with opener(file, "rt") as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    by_iteration[record["iteration"]] = record
    if not by_iteration:
        raise ValueError(f"{' and '.join(map(str, files))} {'have' if len(files) > 1 else 'has'} no iterations yet")
    records = [by_iteration[i] for i in sorted(by_iteration)]
    keys = sorted({k for r in records for k in r})
    return {k: np.array([r.get(k, np.nan) for r in records], dtype=float) for k in keys}


def rolling_mean(values: np.ndarray, weights: np.ndarray, window: int) -> np.ndarray:
    """The `weights`-weighted mean of each iteration's last `window` values (for per-trial statistics the
    weights are the trials each iteration finished, so one that finished none adds nothing)."""
    values = np.nan_to_num(values) * weights
    kernel = np.ones(window)
    total = np.convolve(values, kernel)[: len(values)]
    weight = np.convolve(weights, kernel)[: len(weights)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def logged_directions(progress: dict[str, np.ndarray]) -> list[str]:
    """The directions of turn, +x ... -z, whose fraction of goals reached the run logged (runs since
    2026-12-03) with the number of goals it is out of."""
    from dactyl_core.task import SIGNED_AXES

    return [name for name in SIGNED_AXES if f"goals/reached_{name}" in progress and f"goals/ended_{name}" in progress]


def plot_training(progress: dict[str, np.ndarray], out: str | Path, title: str = "", window: int = 100) -> Path:
    """Successes (and the curriculum), drops, entropy and steps/s; below them, where the run logged them,
    the goals reached per direction of turn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = progress["env_steps"] / 1e6
    counts = np.nan_to_num(progress.get("episode/count", np.zeros_like(steps)))
    directions = logged_directions(progress)
    rows = 3 if directions else 2
    fig = plt.figure(figsize=(12, 3.5 * rows))
    grid = fig.add_gridspec(rows, 2)
    first = fig.add_subplot(grid[0, 0])
    axes = np.array([[first, fig.add_subplot(grid[0, 1], sharex=first)],
                     [fig.add_subplot(grid[1, c], sharex=first) for c in range(2)]])
    ax = axes[0, 0]
    ax.plot(steps, rolling_mean(progress.get("episode/successes", np.full_like(steps, np.nan)), counts, window),
            color="tab:blue")
    ax.set_ylabel(f"successes per finished trial\n(mean over {window} iterations)", color="tab:blue")
    if "curriculum/goal_angle" in progress:
        twin = ax.twinx()
        twin.plot(steps, progress["curriculum/goal_angle"], color="tab:orange", drawstyle="steps-post")
        twin.set_ylabel("curriculum goal angle (rad)", color="tab:orange")
    ax = axes[0, 1]
    ax.plot(steps, rolling_mean(progress.get("episode/drop_fraction", np.full_like(steps, np.nan)), counts, window),
            color="tab:red")
    ax.set_ylabel("drop fraction of finished trials")
    ax.set_ylim(0, 1)
    ax = axes[1, 0]
    ax.plot(steps, progress["loss/entropy"], color="tab:green", linewidth=0.8)
    ax.set_ylabel("policy entropy (nats, 20 actuators)")
    ax = axes[1, 1]
    rate = progress["perf/env_steps_per_s"]
    ax.plot(steps, rate, color="lightgray", linewidth=0.5)
    ax.plot(steps, rolling_mean(rate, np.ones_like(rate), window), color="black", linewidth=1)
    ax.set_ylabel(f"env steps/s (and its mean over {window} iterations)")
    bottom = list(axes[1])
    if directions:
        ax = fig.add_subplot(grid[2, :], sharex=first)
        for name in directions:  # each iteration weighs by the goals of that direction that ended in it
            ended = np.nan_to_num(progress[f"goals/ended_{name}"])
            ax.plot(steps, rolling_mean(progress[f"goals/reached_{name}"], ended, window), label=name, linewidth=1)
        ax.set_ylabel(f"goals reached, by the way they\nturn the object (mean over {window} iterations)")
        ax.set_ylim(0, 1)
        ax.legend(ncol=6, loc="upper left", fontsize="small")
        bottom = [ax]
    for ax in bottom:
        ax.set_xlabel("env steps (millions)")
    for ax in fig.axes:
        ax.grid(alpha=0.3)
    hours = progress["wall_time"][-1] / 3600  # the checkpoint's clock: iterations only, across resumes
    fig.suptitle(f"{title}{': ' if title else ''}{int(progress['iteration'][-1])} iterations, "
                 f"{progress['env_steps'][-1] / 1e6:.1f} M env steps, {hours:.1f} h of iterations")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
