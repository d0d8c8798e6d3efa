"""The hand driver's safety filter: nothing reaches the hand that is malformed, outside the joint limits, or
faster than the rate limit. Pure Python (no rclpy), so it is property-tested on its own.

* `parse_command` turns joint names and positions into the 24 targets in table order, or raises
  `CommandError` saying what is wrong (unknown, missing or repeated names, sizes, NaN/inf);
  `parse_joint_states` does the same for measurements, which may carry other joints too.
* `SafetyFilter` clamps targets to the joint limits (`joints.COMMAND_LIMITS`, Shadow convention) and
  rate-limits each joint with a budget of motion: it refills at `max_speed` and holds at most one control
  period's worth (`max_speed * control_period`), and every forwarded move spends it. So no command moves a
  joint more than one control period's worth, and over any span T of time a joint moves at most
  `max_speed * (control_period + T)`: a burst of commands cannot add up to a fast motion, a pause cannot
  save up for a jump. Unlike a limit on each command's own dt, a command that comes a little early (clock
  jitter, the lockstep simulator's /clock lagging) may use what the one before it left unspent. It starts
  from the measured pose and keeps the last forwarded pose to hold.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dactyl_core import joints


class CommandError(ValueError):
    """A command that cannot be forwarded; the message says why."""


def parse_command(names, positions) -> np.ndarray:
    """24 Shadow joint targets in table order from a command's names and positions (any order)."""
    names = list(names)
    positions = np.asarray(positions, dtype=np.float64).reshape(-1)
    if len(names) != len(positions):
        raise CommandError(f"{len(names)} joint names but {len(positions)} positions")
    unknown = [n for n in names if n not in joints.SHADOW_JOINT_NAMES]
    if unknown:
        raise CommandError(f"unknown joint name(s) {unknown[:6]}; expected Shadow names such as 'rh_FFJ1' "
                           "(a simulation name like 'robot0:FFJ0' must go through the joint table)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise CommandError(f"joint name(s) {repeated} appear more than once")
    missing = [n for n in joints.SHADOW_JOINT_NAMES if n not in names]
    if missing:
        raise CommandError(f"{len(missing)} joint(s) missing: {missing[:6]}{' ...' if len(missing) > 6 else ''}; "
                           f"a command must name all {joints.NUM_JOINTS} joints")
    bad = [n for n, p in zip(names, positions) if not np.isfinite(p)]
    if bad:
        raise CommandError(f"non-finite target(s) (NaN or inf) for {bad[:6]}")
    targets = np.empty(joints.NUM_JOINTS)
    targets[[joints.shadow_index(n) for n in names]] = positions
    return targets


def parse_joint_states(names, positions) -> np.ndarray:
    """The 24 measured positions in table order from a JointState that may also carry other joints
    (an arm, a J0 entry); all 24 must be present and finite."""
    names = list(names)
    positions = np.asarray(positions, dtype=np.float64).reshape(-1)
    if len(names) != len(positions):
        raise CommandError(f"{len(names)} joint names but {len(positions)} positions")
    index = {name: k for k, name in enumerate(names)}
    missing = [n for n in joints.SHADOW_JOINT_NAMES if n not in index]
    if missing:
        raise CommandError(f"{len(missing)} hand joint(s) missing: {missing[:6]}{' ...' if len(missing) > 6 else ''}")
    measured = positions[[index[n] for n in joints.SHADOW_JOINT_NAMES]]
    if not np.isfinite(measured).all():
        raise CommandError("non-finite joint positions")
    return measured


@dataclass(frozen=True)
class FilterResult:
    command: np.ndarray  # (24,) what may be forwarded
    clamped: tuple[str, ...]  # joints whose target lay outside the limits
    rate_limited: tuple[str, ...]  # joints slowed down by the rate limit


class SafetyFilter:
    def __init__(self, max_speed: float, control_period: float, limits: np.ndarray = joints.COMMAND_LIMITS):
        if max_speed <= 0 or control_period <= 0:
            raise ValueError("max_speed and control_period must be positive")
        self.max_speed = max_speed
        self.control_period = control_period
        self.lower, self.upper = np.asarray(limits, dtype=np.float64).T
        self.last_command: np.ndarray | None = None  # the last safe pose: forwarded, or measured at start
        self.last_time = 0.0
        self.budget = np.zeros(joints.NUM_JOINTS)  # rad each joint may still move, as of last_time

    @property
    def primed(self) -> bool:
        return self.last_command is not None

    @property
    def max_step(self) -> float:
        """The most any joint may move in one forwarded command (rad): the budget's capacity."""
        return self.max_speed * self.control_period

    def prime(self, measured_pose: np.ndarray, now: float) -> None:
        """Start from where the hand is (clamped into the limits), with a full budget: the first command may move
        one control period's worth, as after any pause (with none, a command arriving at the activation's
        own simulated time, as the lockstep simulator's first one does, could not move at all)."""
        pose = np.asarray(measured_pose, dtype=np.float64)
        if pose.shape != (joints.NUM_JOINTS,) or not np.isfinite(pose).all():
            raise CommandError(f"measured pose must be {joints.NUM_JOINTS} finite values")
        self.last_command = np.clip(pose, self.lower, self.upper)
        self.last_time = now
        self.budget[:] = self.max_step

    def _refill(self, now: float) -> None:
        """Add the budget earned since last_time; a clock that went back (a simulation reset) earns none."""
        if now > self.last_time:
            self.budget = np.minimum(self.max_step, self.budget + self.max_speed * (now - self.last_time))
        self.last_time = now

    def filter(self, targets: np.ndarray, now: float) -> FilterResult:
        """The command to forward for validated targets (from `parse_command`) at time `now` (s)."""
        if self.last_command is None:
            raise CommandError("the hand's pose is not known yet (no joint states); nothing can be forwarded")
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape != (joints.NUM_JOINTS,) or not np.isfinite(targets).all():
            raise CommandError(f"targets must be {joints.NUM_JOINTS} finite values")
        self._refill(now)
        clamped_targets = np.clip(targets, self.lower, self.upper)
        change = clamped_targets - self.last_command
        slowed = np.abs(change) > self.budget
        # A target within the budget is forwarded as it is: last + (target - last) can miss it by a rounding
        # error, which was reported as rate limiting on about half the moves of a joint to below half its position.
        command = np.where(slowed, self.last_command + np.sign(change) * self.budget, clamped_targets)
        command = np.clip(command, self.lower, self.upper)
        result = FilterResult(command, _names_where(clamped_targets != targets), _names_where(slowed))
        self.budget = np.maximum(0.0, self.budget - np.abs(command - self.last_command))
        self.last_command = command
        return result

    def hold(self) -> np.ndarray:
        """The last safe pose, to hold when commands stop or on an emergency stop."""
        if self.last_command is None:
            raise CommandError("the hand's pose is not known yet (no joint states)")
        return self.last_command.copy()


def _names_where(mask: np.ndarray) -> tuple[str, ...]:
    return tuple(name for name, flagged in zip(joints.SHADOW_JOINT_NAMES, mask) if flagged)
