"""Simulation throughput: our batched environment against our own raw physics limit and gymnasium-robotics.

All rates are control steps (80 ms of simulated time) per second of wall time, under the same workload:
uniformly random action bins. The measurements are interleaved in short rounds; each rate is the median
over rounds, and each ratio is the median of the ratios within a round (paired: a machine that slows
down for a while slows both sides of a pair alike, so the ratio moves less than the rates).
"""
from __future__ import annotations

import copy
import os
import statistics
import time
from dataclasses import dataclass, field

import mujoco
import numpy as np

from .. import actions as act
from ..env import DactylEnv, EnvConfig
from ..scene import build_scene


def raw_limit(config: EnvConfig, seconds: float, seed: int = 0, simulations: int = 1) -> float:
    """mj_step rate of our scene (nominal model) divided by the substeps per control step.

    With `simulations` > 1, that many (model copy, data) pairs step in turn, as a DactylEnv batch does on
    one thread: the batch's memory footprint without any of our per-step work.
    """
    scene = build_scene(config.scene, physics_only=True)  # the model DactylEnv steps
    models = [copy.deepcopy(scene.model) for _ in range(simulations)]
    datas = [scene.make_data() for _ in models]
    rng = np.random.default_rng(seed)
    targets = np.array([data.ctrl for data in datas])
    substeps = config.scene.physics.substeps
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        bins = rng.integers(0, config.actions.num_bins, targets.shape)
        targets = act.apply_delta(targets, act.target_delta(act.normalized(bins, config.actions), config.actions))
        for model, data, target in zip(models, datas, targets):
            data.ctrl[:] = target
            mujoco.mj_step(model, data, nstep=substeps)  # MuJoCo's own loop: no per-step Python overhead
            if data.qpos[scene.object_qpos][2] < config.task.drop_height:
                scene.reset(data)
        steps += len(datas)
    return steps / (time.perf_counter() - start)


def environment_rate(env: DactylEnv, seconds: float, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    num_bins = env.config.actions.num_bins
    env.step(rng.integers(0, num_bins, (env.num_envs, 20)))  # warm the thread pool
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(rng.integers(0, num_bins, (env.num_envs, 20)))
        steps += env.num_envs
    return steps / (time.perf_counter() - start)


@dataclass
class BenchResult:
    cores: int
    rounds: int
    seconds: float
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.samples.setdefault(name, []).append(value)

    def median(self, name: str) -> float | None:
        values = self.samples.get(name)
        return statistics.median(values) if values else None

    def paired_ratio(self, name: str, baseline: str) -> float | None:
        """Median over rounds of name / baseline measured in the same round."""
        values, base = self.samples.get(name), self.samples.get(baseline)
        return statistics.median(v / b for v, b in zip(values, base)) if values and base else None

    def to_dict(self) -> dict:
        return {"cores": self.cores, "rounds": self.rounds, "seconds_per_measurement": self.seconds,
                "samples": self.samples, "medians": {k: self.median(k) for k in self.samples}}


def run(config: EnvConfig, seconds: float, rounds: int, envs_per_core: int, gymnasium=None, progress=print) -> BenchResult:
    """Measure the raw limits (one simulation, a batch), ours (1 core and all cores) and optionally gymnasium
    (a callable(processes))."""
    cores = os.cpu_count() or 1
    result = BenchResult(cores, rounds, seconds)
    one = DactylEnv(config, num_envs=envs_per_core, seed=1, num_threads=1)
    many = DactylEnv(config, num_envs=envs_per_core * cores, seed=2, num_threads=cores)
    one.reset()
    many.reset()
    try:
        for r in range(rounds):
            result.add("raw_limit_1core", raw_limit(config, seconds, seed=r))
            result.add("raw_limit_batch_1core", raw_limit(config, seconds, seed=r, simulations=envs_per_core))
            result.add("ours_1core", environment_rate(one, seconds, seed=r))
            result.add(f"ours_{cores}cores", environment_rate(many, seconds, seed=r))
            if gymnasium is not None:
                result.add("gymnasium_1core", gymnasium(1))
                result.add(f"gymnasium_{cores}cores", gymnasium(cores))
            progress(f"round {r + 1}/{rounds}: " + ", ".join(f"{k}={v[-1]:.0f}" for k, v in result.samples.items()))
    finally:
        one.close()
        many.close()
    return result
