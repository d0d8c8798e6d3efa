"""Training throughput benchmark: PPO env steps/s against the batched environment's own stepping rate,
measured in the same run (the machine is shared and noisy, so only ratios are meaningful).

    env_rate       the environment stepped with random action bins, nothing else (the ceiling)
    train_rate     whole PPO iterations, rollout (policy + value inference) and learning, single process
    ray scaling    the same with 1..N Ray rollout workers, each with the config's environments, the learner in
                   this process; measured in the same rounds, so each count has its own ratio to env_rate
    peak RSS       of a separate single-process training run of the config (maximum resident set)
"""
from __future__ import annotations

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
    ray_rates: dict[int, list[float]] = field(default_factory=dict)  # Ray worker count -> one rate per round
    peak_rss_gb: float | None = None

    @property
    def ratio(self) -> float:
        """Median over rounds of training rate / environment rate (each round measures both)."""
        return self._median_ratio(self.train_rate)

    def ray_ratio(self, workers: int) -> float:
        """The same for training with `workers` Ray rollout workers."""
        return self._median_ratio(self.ray_rates[workers])

    def _median_ratio(self, rates: list[float]) -> float:
        return float(np.median(np.asarray(rates) / np.asarray(self.env_rate)))


class EnvStepper:
    """The batched environment alone, stepped with pre-drawn random action bins."""

    def __init__(self, config: TrainConfig):
        self.env = make_env(config, seed=0)
        self.env.reset()
        self.rng = np.random.default_rng(0)

    def rate(self, steps: int) -> float:
        env = self.env
        actions = [self.rng.integers(0, env.config.actions.num_bins, (env.num_envs, 20)) for _ in range(steps)]
        started = time.perf_counter()
        for action in actions:
            env.step(action)
        return env.num_envs * steps / (time.perf_counter() - started)

    def close(self) -> None:
        self.env.close()


class TrainingStepper:
    """Whole PPO iterations of a live trainer (the first one, which warms up, is not measured)."""

    def __init__(self, config: TrainConfig, address: str | None = None):
        from .train import Trainer

        self.out = tempfile.TemporaryDirectory()
        self.trainer = Trainer(config, self.out.name, address=address, progress=False)
        self.trainer.run(max_iterations=1)

    def rate(self, iterations: int) -> tuple[float, float]:
        """(env steps/s, share of the time spent collecting rollouts)."""
        trainer = self.trainer
        steps, wall = trainer.env_steps, trainer.wall_time
        summary = trainer.run(max_iterations=iterations)
        return (trainer.env_steps - steps) / (trainer.wall_time - wall), summary["perf/rollout_fraction"]

    def close(self) -> None:
        self.trainer.close()
        self.out.cleanup()


def measure_peak_rss_gb(config: TrainConfig, iterations: int) -> float:
    """Peak resident memory of a fresh process that trains `iterations` iterations of `config`."""
    import yaml

    program = (
        "import resource, sys, tempfile, yaml\n"
        "from dactyl_training.config import load_train_config\n"
        "from dactyl_training.train import Trainer\n"
        "config = load_train_config(yaml.safe_load(sys.stdin.read()))\n"
        "with tempfile.TemporaryDirectory() as out:\n"
        f"    trainer = Trainer(config, out, progress=False); trainer.run(max_iterations={iterations}); trainer.close()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"  # KiB on Linux
    )
    done = subprocess.run([sys.executable, "-c", program], input=yaml.safe_dump(to_dict(config)), text=True,
                          check=True, capture_output=True)
    return int(done.stdout.split()[-1]) / 1024 / 1024


def run(config: TrainConfig, iterations: int, rounds: int, workers: list[int], address: str | None,
        rss: bool, progress=print) -> TrainBenchmark:
    """`rounds` alternations of (environment alone, training single-process, training with each Ray worker
    count) with `iterations` iterations' worth of steps each, so that changes in the machine's load hit all
    alike; then memory."""
    single = merge(config, {"run": {"workers": 0}})
    result = TrainBenchmark()
    env, training = EnvStepper(single), TrainingStepper(single)
    result.ray_rates = {count: [] for count in workers}
    try:
        for round_index in range(rounds):
            result.env_rate.append(env.rate(config.ppo.rollout_steps * iterations))
            rate, fraction = training.rate(iterations)
            result.train_rate.append(rate)
            result.rollout_fraction.append(fraction)
            line = (f"round {round_index + 1}/{rounds}: env {result.env_rate[-1]:.0f} steps/s, "
                    f"training {rate:.0f} steps/s ({rate / result.env_rate[-1]:.0%}), rollout share {fraction:.0%}")
            for count in workers:
                # Started afresh each round (their warm-up iteration not timed): Ray workers of two counts
                # alive at once would ask for more CPUs than a small machine's Ray offers, and wait forever.
                stepper = TrainingStepper(merge(config, {"run": {"workers": count}}), address)
                try:
                    result.ray_rates[count].append(stepper.rate(iterations)[0])
                finally:
                    stepper.close()
                line += f"; {count} Ray worker(s) {result.ray_rates[count][-1]:.0f} ({result.ray_rates[count][-1] / result.env_rate[-1]:.0%})"
            progress(line)
    finally:
        env.close()
        training.close()
        if workers:
            import ray

            ray.shutdown()
    if rss:
        result.peak_rss_gb = measure_peak_rss_gb(single, max(iterations, 3))
        progress(f"peak RSS of a {max(iterations, 3)}-iteration single-process run: {result.peak_rss_gb:.2f} GB")
    return result
