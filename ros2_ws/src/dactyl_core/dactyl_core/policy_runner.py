"""Running an exported policy on measured inputs, one control step at a time: what the policy node does,
without ROS, so that it is tested as plain code and shares every step with training.

The observation is `observations.policy_observation` (training's own function); actions become actuator
targets through `actions.normalized`, `target_delta` and `apply_delta` (training's own functions), starting
from where the hand is when a trial starts. `InputGate` decides whether a set of inputs is fit to act on
and, when it is not, says why.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import actions as act
from . import joints
from .observations import policy_observation
from .onnx_models import OnnxPolicy


class PolicyRunner:
    """An `OnnxPolicy` for one hand, with the action integration and per-trial reset of training."""

    def __init__(self, policy: OnnxPolicy):
        self.policy = policy
        self.actions = policy.metadata.actions
        self.previous_action = np.zeros(joints.NUM_ACTUATORS)
        self.targets: np.ndarray | None = None  # actuator targets (model convention); None until the hand is seen

    def start_trial(self) -> None:
        """Forget the LSTM state and the previous action, and re-read the hand's pose before acting."""
        self.policy.reset()
        self.previous_action[:] = 0.0
        self.targets = None

    def set_hand_pose(self, shadow_positions: np.ndarray) -> None:
        """Start integrating actions from the measured joint positions (24, Shadow convention)."""
        positions = np.asarray(shadow_positions, dtype=np.float64)
        if positions.shape != (joints.NUM_JOINTS,) or not np.isfinite(positions).all():
            raise ValueError(f"expected {joints.NUM_JOINTS} finite joint positions, got shape {positions.shape}")
        self.targets = np.clip(joints.joint_targets_to_actuator_targets(positions), *joints.CTRL_LIMITS.T)

    def step(self, fingertips: np.ndarray, object_position: np.ndarray, object_quat: np.ndarray,
             goal_quat: np.ndarray) -> np.ndarray:
        """One control step: observation -> LSTM -> bins -> new targets. Returns 24 Shadow joint targets."""
        if self.targets is None:
            raise RuntimeError("the hand's pose is unknown: call set_hand_pose first")
        observation = policy_observation(fingertips[None], object_position[None], object_quat[None], goal_quat[None],
                                         self.previous_action[None])
        bins = self.policy.act(observation)
        normalized = act.normalized(bins, self.actions)[0]
        self.targets = act.apply_delta(self.targets, act.target_delta(normalized, self.actions))
        self.previous_action = normalized
        return joints.actuator_targets_to_joint_targets(self.targets)


@dataclass
class InputGate:
    """When to act: every input present and younger than `max_age`, and a new measurement since the last
    step (at most one step per control period of measurement time)."""

    max_age: float  # s
    control_period: float  # s
    min_step_fraction: float = 0.5  # a new step needs measurements this many periods newer than the last one's

    def __post_init__(self):
        self.last_step_stamp: float | None = None

    def problems(self, now: float, stamps: dict[str, float | None]) -> list[str]:
        """Why the inputs are not fit to act on (empty when they are). `stamps`: input name -> stamp or None."""
        out = []
        for name, stamp in stamps.items():
            if stamp is None:
                out.append(f"no {name} received yet")
            elif now - stamp > self.max_age:
                out.append(f"{name} is {now - stamp:.3f} s old (limit {self.max_age:g} s)")
        return out

    def due(self, measurement_stamps: list[float]) -> bool:
        """A new control step: every measurement is newer than the last step's by part of a period."""
        if self.last_step_stamp is None:
            return True
        return min(measurement_stamps) >= self.last_step_stamp + self.min_step_fraction * self.control_period

    def stepped(self, measurement_stamps: list[float]) -> None:
        self.last_step_stamp = max(measurement_stamps)

    def reset(self) -> None:
        self.last_step_stamp = None
