"""Simulation throughput: our batched environment against our own raw physics limit and gymnasium-robotics.

All rates are control steps (80 ms of simulated time) per second of wall time, under the same workload:
uniformly random action bins. Every measurement is set up once and then run in many short slices,
interleaved: a round runs each of them once. Each rate is the median over rounds, and each ratio is the
median of the ratios within a round (paired). The development VMs change speed by up to 2x within a
second or two, so slices of a fraction of a second keep both sides of a pair on the same machine speed.
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field

import mujoco
import numpy as np

from .. import actions as act
from ..env import DactylEnv, EnvConfig, PhysicsPool
from ..scene import build_scene


class RawPhysics:
    """The raw limit: our scene's nominal model stepped by MuJoCo's own loop, none of our task work.

    Episodes end as ours do under random actions (a drop, or the per-goal timeout), and a new one starts
    from the initial pose, so the hand visits the same states as in our environment: a clenched hand has
    more contacts and steps slower, and random targets that never reset would drift to the joint limits.

    With `simulations` > 1, that many simulations of the nominal model are stepped by DactylEnv's
    `PhysicsPool` on one thread: the batch's physics (its state copies) without our task work.
    """

    def __init__(self, config: EnvConfig, simulations: int = 1, seed: int = 0):
        self.config = config
        self.scene = build_scene(config.scene, physics_only=True)  # the model DactylEnv steps
        self.data = self.scene.make_data()
        self.pool = None
        if simulations > 1:
            self.pool = PhysicsPool([self.scene.model] * simulations, self.scene.object_body, 1)
            for i in range(simulations):
                self.pool.load(i, self.data)
        self.rng = np.random.default_rng(seed)
        self.targets = np.tile(self.data.ctrl, (simulations, 1))
        self.episode_steps = np.zeros(simulations, int)
        self._deltas = np.zeros((0, *self.targets.shape))  # drawn ahead, see run()
        self._no_wrench = np.zeros((simulations, 6))

    def run(self, seconds: float) -> float:
        """Control steps per second of stepping time (the mj_step rate / substeps), over about `seconds`.

        Only the stepping calls are timed, so the actions, the episode logic and the loop itself (a
        noticeable share of a single simulation's step) do not lower the limit.
        """
        config, scene, data = self.config, self.scene, self.data
        substeps, timeout = config.scene.physics.substeps, config.task.goal_timeout_steps
        steps, stepping, start = 0, 0.0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            if not len(self._deltas):  # random actions for 100 control steps at a time
                bins = self.rng.integers(0, config.actions.num_bins, (100, *self.targets.shape))
                self._deltas = act.target_delta(act.normalized(bins, config.actions), config.actions)
            self.targets, self._deltas = act.apply_delta(self.targets, self._deltas[0]), self._deltas[1:]
            self.episode_steps += 1
            if self.pool is None:
                data.ctrl[:] = self.targets[0]
                before = time.perf_counter()
                mujoco.mj_step(scene.model, data, nstep=substeps)
                stepping += time.perf_counter() - before
                heights = data.qpos[scene.object_qpos][2:3]
            else:
                before = time.perf_counter()
                self.pool.step(self.targets, self._no_wrench, substeps)
                stepping += time.perf_counter() - before
                heights = self.pool.qpos[:, scene.object_qpos][:, 2]
            for i in np.flatnonzero((heights < config.task.drop_height) | (self.episode_steps >= timeout)):
                scene.reset(data)
                if self.pool is not None:
                    self.pool.load(i, data)
                self.targets[i] = data.ctrl
                self.episode_steps[i] = 0
            steps += len(self.targets)
        return steps / stepping

    def close(self) -> None:
        self.pool = None  # stops the batch's threads


class EnvironmentLoop:
    """Our DactylEnv stepped with uniformly random action bins (its resets included)."""

    def __init__(self, env: DactylEnv, seed: int = 0):
        self.env = env
        self.rng = np.random.default_rng(seed)
        env.reset()
        env.step(self._actions())  # warm the thread pool

    def _actions(self) -> np.ndarray:
        return self.rng.integers(0, self.env.config.actions.num_bins, (self.env.num_envs, 20))

    def run(self, seconds: float) -> float:
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            self.env.step(self._actions())
            steps += self.env.num_envs
        return steps / (time.perf_counter() - start)

    def close(self) -> None:
        self.env.close()


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
    (`gymnasium(processes)` makes a baseline with `run(seconds)` and `close()`): each round measures every
    one of them once, for `seconds` each, in turn."""
    cores = os.cpu_count() or 1
    result = BenchResult(cores, rounds, seconds)
    makers = {
        "raw_limit_1core": lambda: RawPhysics(config),
        "raw_limit_batch_1core": lambda: RawPhysics(config, simulations=envs_per_core),
        "ours_1core": lambda: EnvironmentLoop(DactylEnv(config, num_envs=envs_per_core, seed=1, num_threads=1)),
        f"ours_{cores}cores": lambda: EnvironmentLoop(DactylEnv(config, num_envs=envs_per_core * cores, seed=2, num_threads=cores)),
    }
    if gymnasium is not None:
        makers.update(gymnasium_1core=lambda: gymnasium(1), **{f"gymnasium_{cores}cores": lambda: gymnasium(cores)})
    measurements = {}
    try:
        for name, make in makers.items():
            measurements[name] = make()
        for r in range(rounds):
            for name, measurement in measurements.items():
                result.add(name, measurement.run(seconds))
            if (r + 1) % max(1, rounds // 10) == 0 or r + 1 == rounds:
                progress(f"round {r + 1}/{rounds}: " + ", ".join(f"{k}={v[-1]:.0f}" for k, v in result.samples.items()))
    finally:
        for measurement in measurements.values():
            measurement.close()
    return result
