"""Training throughput benchmark: PPO env steps/s against the batched environment's own stepping rate,
measured in the same run (the machine is shared and noisy, so only ratios are meaningful).

    env_rate       the environment stepped with random action bins, nothing else (the ceiling)
    train_rate     whole PPO iterations, rollout (policy + value inference) and learning, single process
    ray scaling    the same with 1..N Ray rollout workers, each with the config's environments
    peak RSS       of a separate single-process training run of the config (maximum resident set)
"""
from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from dactyl_core.config import merge, to_dict

from .config import TrainConfig
from .ppo import make_env


@dataclass
class TrainBenchmark:
    env_rate: list[float] = field(default_factory=list)
    train_rate: list[float] = field(default_factory=list)
    rollout_fraction: list[float] = field(default_factory=list)
    ray_rates: dict[int, float] = field(default_factory=dict)
    peak_rss_gb: float | None = None

    @property
    def ratio(self) -> float:
        return float(np.median(self.train_rate) / np.median(self.env_rate))


def measure_env_rate(config: TrainConfig, steps: int) -> float:
    env = make_env(config, seed=0)
    rng = np.random.default_rng(0)
    env.reset()
    bins = env.config.actions.num_bins
    actions = [rng.integers(0, bins, (env.num_envs, 20)) for _ in range(steps)]
    started = time.perf_counter()
    for action in actions:
        env.step(action)
    elapsed = time.perf_counter() - started
    env.close()
    return env.num_envs * steps / elapsed


def measure_train_rate(config: TrainConfig, iterations: int, address: str | None = None) -> tuple[float, float]:
    """(env steps/s, fraction of the time spent collecting) over `iterations` after one warm-up iteration."""
    from .train import Trainer

    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, out, address=address, progress=False)
        try:
            trainer.run(max_iterations=1)
            steps, wall = trainer.env_steps, trainer.wall_time
            summary = trainer.run(max_iterations=iterations)
            return (trainer.env_steps - steps) / (trainer.wall_time - wall), summary["perf/rollout_fraction"]
        finally:
            trainer.close()


def measure_peak_rss_gb(config: TrainConfig, iterations: int) -> float:
    """Peak resident memory of a fresh process that trains `iterations` iterations of `config`."""
    program = (
        "import sys, tempfile, yaml\n"
        "from dactyl_training.config import load_train_config\n"
        "from dactyl_training.train import Trainer\n"
        "config = load_train_config(yaml.safe_load(sys.stdin.read()))\n"
        "with tempfile.TemporaryDirectory() as out:\n"
        f"    trainer = Trainer(config, out, progress=False); trainer.run(max_iterations={iterations}); trainer.close()\n"
    )
    import yaml

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-c", program], input=yaml.safe_dump(to_dict(config)), text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(after, before) / 1024 / 1024  # ru_maxrss is in KiB on Linux


def run(config: TrainConfig, iterations: int, rounds: int, workers: list[int], address: str | None,
        rss: bool, progress=print) -> TrainBenchmark:
    single = merge(config, {"run": {"workers": 0}})
    steps = config.ppo.rollout_steps * iterations
    result = TrainBenchmark()
    for round_index in range(rounds):  # interleaved, so that load changes hit both alike
        result.env_rate.append(measure_env_rate(single, steps))
        rate, fraction = measure_train_rate(single, iterations)
        result.train_rate.append(rate)
        result.rollout_fraction.append(fraction)
        progress(f"round {round_index + 1}/{rounds}: env {result.env_rate[-1]:.0f} steps/s, "
                 f"training {rate:.0f} steps/s ({rate / result.env_rate[-1]:.0%}), rollout share {fraction:.0%}")
    if workers:
        import ray

        for count in workers:
            rate, _ = measure_train_rate(merge(config, {"run": {"workers": count}}), iterations, address)
            result.ray_rates[count] = rate
            progress(f"ray, {count} rollout worker(s): {rate:.0f} steps/s")
        ray.shutdown()
    if rss:
        result.peak_rss_gb = measure_peak_rss_gb(single, iterations)
        progress(f"peak RSS of a {iterations}-iteration single-process run: {result.peak_rss_gb:.2f} GB")
    return result
