"""The action contract: relative joint-target deltas, 11 bins per actuator (or continuous).

A policy outputs, per actuator, a bin b in 0..num_bins-1 (or a number in [-1, 1]). The normalised action
a = 2 b / (num_bins - 1) - 1 moves that actuator's target by a * delta_scale * (its control range) per
control step, relative to the previous target; targets are clipped to the actuator range. The middle bin
holds the pose. The same functions run in the batched environment and in the policy node.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ConfigError, check_positive
from .joints import CTRL_LIMITS, NUM_ACTUATORS


@dataclass(frozen=True)
class ActionConfig:
    num_bins: int = 11
    delta_scale: float = 0.05  # fraction of an actuator's range per control step at the extreme bin
    continuous: bool = False  # experiments: actions are real numbers in [-1, 1] instead of bins

    def __post_init__(self):
        if self.num_bins < 2 or self.num_bins % 2 == 0:
            raise ConfigError(f"actions.num_bins: {self.num_bins} must be odd and >= 3 so that a middle bin holds the pose")
        check_positive("actions.delta_scale", self.delta_scale)

    @property
    def zero_bin(self) -> int:
        return self.num_bins // 2


def validate_actions(actions: np.ndarray, num_envs: int, config: ActionConfig) -> np.ndarray:
    """Check shape, type and range; raise ValueError that says what was expected."""
    actions = np.asarray(actions)
    if actions.shape != (num_envs, NUM_ACTUATORS):
        raise ValueError(f"actions must have shape ({num_envs}, {NUM_ACTUATORS}), got {actions.shape}")
    if config.continuous:
        if not np.issubdtype(actions.dtype, np.number):
            raise ValueError(f"continuous actions must be numbers, got dtype {actions.dtype}")
        bad = np.flatnonzero(~np.isfinite(actions).all(axis=1))
        if bad.size:
            raise ValueError(f"actions contain NaN or inf in environments {bad.tolist()[:10]}")
        return actions.astype(np.float64)
    if not np.issubdtype(actions.dtype, np.integer):
        if np.issubdtype(actions.dtype, np.floating) and not np.isfinite(actions).all():
            bad = np.flatnonzero(~np.isfinite(actions).all(axis=1))
            raise ValueError(f"actions contain NaN or inf in environments {bad.tolist()[:10]}")
        raise ValueError(f"discrete actions must be integer bins, got dtype {actions.dtype}")
    if actions.min() < 0 or actions.max() >= config.num_bins:
        raise ValueError(f"action bins must lie in [0, {config.num_bins - 1}], got [{actions.min()}, {actions.max()}]")
    return actions


def normalized(actions: np.ndarray, config: ActionConfig) -> np.ndarray:
    """Bins (or continuous values) -> normalised actions in [-1, 1]."""
    if config.continuous:
        return np.clip(np.asarray(actions, np.float64), -1.0, 1.0)
    return 2.0 * np.asarray(actions, np.float64) / (config.num_bins - 1) - 1.0


def target_delta(normalized_action: np.ndarray, config: ActionConfig) -> np.ndarray:
    return normalized_action * config.delta_scale * (CTRL_LIMITS[:, 1] - CTRL_LIMITS[:, 0])


def apply_delta(targets: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """New actuator targets (model convention), clipped to the actuator ranges."""
    return np.clip(targets + delta, CTRL_LIMITS[:, 0], CTRL_LIMITS[:, 1])


def zero_action(num_envs: int, config: ActionConfig) -> np.ndarray:
    if config.continuous:
        return np.zeros((num_envs, NUM_ACTUATORS))
    return np.full((num_envs, NUM_ACTUATORS), config.zero_bin, np.int64)
