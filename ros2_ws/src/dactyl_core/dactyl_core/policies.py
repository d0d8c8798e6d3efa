"""Policies that `evaluate` and the benchmarks can run: built-in baselines, exported ONNX models, checkpoints.

A policy maps a batch of policy observations (N, obs) to actions (N, 20) and may keep state per
environment; `reset(mask)` starts new trials for the environments in `mask`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from .actions import ActionConfig, zero_action
from .joints import NUM_ACTUATORS


class Policy(Protocol):
    def reset(self, mask: np.ndarray | None = None) -> None: ...

    def act(self, observation: np.ndarray) -> np.ndarray: ...


class ZeroPolicy:
    """Always the middle bin: hold the current targets (the hand keeps its pose)."""

    def __init__(self, num_envs: int, actions: ActionConfig):
        self._action = zero_action(num_envs, actions)

    def reset(self, mask=None) -> None:
        pass

    def act(self, observation: np.ndarray) -> np.ndarray:
        return self._action


class RandomPolicy:
    """Uniformly random bins (or uniform in [-1, 1] when continuous), seeded."""

    def __init__(self, num_envs: int, actions: ActionConfig, seed: int = 0):
        self.num_envs, self.actions = num_envs, actions
        self.rng = np.random.default_rng(seed)

    def reset(self, mask=None) -> None:
        pass

    def act(self, observation: np.ndarray) -> np.ndarray:
        if self.actions.continuous:
            return self.rng.uniform(-1.0, 1.0, (self.num_envs, NUM_ACTUATORS))
        return self.rng.integers(0, self.actions.num_bins, (self.num_envs, NUM_ACTUATORS))


def make_policy(spec: str, num_envs: int, actions: ActionConfig, control_period: float, seed: int = 0) -> Policy:
    """'zero', 'random', a .onnx file, or a training checkpoint (.pt, needs the training package)."""
    if spec == "zero":
        return ZeroPolicy(num_envs, actions)
    if spec == "random":
        return RandomPolicy(num_envs, actions, seed)
    path = Path(spec)
    if path.suffix == ".onnx":
        from .onnx_models import OnnxPolicy

        return OnnxPolicy(path, num_envs, actions=actions, control_period=control_period)
    if path.suffix == ".pt":
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        try:
            from dactyl_training.checkpoint import CheckpointPolicy
        except ImportError as err:
            raise ValueError(f"running a checkpoint needs the dactyl_training package ({err}); export it to ONNX instead") from None
        return CheckpointPolicy(path, num_envs, actions=actions, control_period=control_period)
    raise ValueError(f"unknown policy {spec!r}: expected 'zero', 'random', a .onnx model or a .pt checkpoint")
