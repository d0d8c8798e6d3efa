"""The reorientation task as array functions: goals, success, drops, timeouts, reward.

Everything here works on batches (leading dimension N) of plain arrays and knows nothing about MuJoCo, so
the batched environment, the ROS trial manager and any other physics backend (e.g. MJX) share it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from . import rotations
from .config import ConfigError, check_positive

NearbyGoalAxis = Literal["random", "trial", "world", "x", "y", "z", "-x", "-y", "-z"]
NEARBY_GOAL_AXES = get_args(NearbyGoalAxis)  # the choices, for command lines and ROS parameters
SIGNED_AXES = ("+x", "-x", "+y", "-y", "+z", "-z")  # the ways a goal can turn the object, by turn_direction
SIGNED_AXIS_VECTORS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
DONE_REASONS = ("running", "dropped", "timed_out", "max_successes", "unstable")
RUNNING, DROPPED, TIMED_OUT, MAX_SUCCESSES, UNSTABLE = range(5)


@dataclass(frozen=True)
class TaskConfig:
    goal_mode: Literal["face_aligned", "full", "nearby"] = "face_aligned"
    nearby_goal_angle: float = 1.0  # rad: with goal_mode nearby, how far each goal is from the object (a curriculum)
    # With goal_mode nearby, what each goal turns the object about: "random", a new random axis per goal;
    # "trial", one random axis per trial, so the goals keep turning the object the same way (continuous
    # rotation, which the paper's goals need and turning back and forth does not teach); "world", one of
    # the six signed world axes per goal (flips about the horizontal axes and turns about the vertical,
    # which the paper's goals are made of, each direction drawn as often); "x" ... "-z", that world
    # axis, always that way (to see which rotations a policy can make).
    nearby_goal_axis: NearbyGoalAxis = "random"
    # With nearby_goal_axis "world": how often each SIGNED_AXES direction is drawn, relative to the others
    # (None: all alike). The training curriculum sets them to ask more often for the turns a policy misses.
    world_axis_weights: tuple[float, float, float, float, float, float] | None = None
    success_threshold: float = 0.4  # rad: rotation distance to the goal that counts as reached
    max_successes: int = 50  # a trial ends after this many consecutive successes
    goal_timeout_steps: int = 400  # control steps allowed per goal
    drop_height: float = 0.1  # m, world z: object centre below this = dropped (the palm is at ~0.14)
    success_bonus: float = 5.0
    drop_penalty: float = 20.0

    def __post_init__(self):
        check_positive("task.success_threshold", self.success_threshold)
        check_positive("task.max_successes", self.max_successes)
        check_positive("task.goal_timeout_steps", self.goal_timeout_steps)
        check_positive("task.nearby_goal_angle", self.nearby_goal_angle)
        weights = self.world_axis_weights
        if weights is not None and (min(weights) < 0 or sum(weights) <= 0):
            raise ConfigError(f"task.world_axis_weights must be >= 0 with a positive sum (one per {SIGNED_AXES}), "
                              f"got {list(weights)}")


def describe_goals(config: TaskConfig) -> str:
    """The goals as results name them: "face_aligned", "nearby 0.7 rad", "nearby 0.7 rad about +x", ..."""
    if config.goal_mode != "nearby":
        return config.goal_mode
    named = {"random": "", "trial": ", one axis per trial", "world": ", about signed world axes"}
    axis = named.get(config.nearby_goal_axis, f" about {_signed_axis_name(config.nearby_goal_axis)}")
    return f"nearby {config.nearby_goal_angle:g} rad{axis}"


def _signed_axis_name(choice: str) -> str:
    """A nearby_goal_axis choice "x" ... "-z" as its SIGNED_AXES name "+x" ... "-z"."""
    return choice if choice.startswith("-") else "+" + choice


def sample_orientations(rng: np.random.Generator, n: int, mode: str) -> np.ndarray:
    """(n, 4) orientations.

    face_aligned: a uniform rotation about the vertical times one of the 24 face-aligned orientations
    (a face of the cube points up; robogym's "locked" goals); full: uniformly random.
    """
    if mode == "full":
        return rotations.random_uniform(rng, n)
    if mode == "face_aligned":
        yaw = rotations.from_axis_angle(np.array([0.0, 0.0, 1.0]), rng.uniform(-np.pi, np.pi, n))
        face = rotations.FACE_ALIGNED[rng.integers(0, 24, n)]
        return rotations.canonical(rotations.multiply(yaw, face))
    raise ValueError(f"unknown orientation mode {mode!r}; expected 'face_aligned' or 'full'")


def initial_orientations(rng: np.random.Generator, n: int, config: TaskConfig) -> np.ndarray:
    """(n, 4) object orientations a trial starts from: uniformly random for full goals, else face-aligned."""
    return sample_orientations(rng, n, "full" if config.goal_mode == "full" else "face_aligned")


def sample_goal_axes(rng: np.random.Generator, n: int, config: TaskConfig) -> np.ndarray | None:
    """(n, 3) world axes that new trials' nearby goals turn about, or None where each goal draws its own
    (draws nothing from `rng` then, so the default's random stream is what it always was)."""
    if config.goal_mode != "nearby" or config.nearby_goal_axis in ("random", "world"):
        return None
    if config.nearby_goal_axis == "trial":
        return rotations.normalize(rng.normal(size=(n, 3)))
    return np.tile(SIGNED_AXIS_VECTORS[SIGNED_AXES.index(_signed_axis_name(config.nearby_goal_axis))], (n, 1))


def sample_goals(rng: np.random.Generator, current: np.ndarray, config: TaskConfig,
                 axes: np.ndarray | None = None) -> np.ndarray:
    """(n, 4) goals for objects now at orientations `current` (n, 4).

    face_aligned and full goals ignore `current` (the paper's task). nearby goals are `current` turned by
    exactly `nearby_goal_angle` about a uniformly random axis, a random signed world axis ("world"), or
    the trial's `axes` (n, 3) from `sample_goal_axes`: an easier task for a training curriculum, where
    random motion reaches goals often enough to learn from.
    """
    if config.goal_mode != "nearby":
        return sample_orientations(rng, len(current), config.goal_mode)
    if config.nearby_goal_axis == "world" and config.world_axis_weights is not None:
        weights = np.asarray(config.world_axis_weights)
        axis = SIGNED_AXIS_VECTORS[rng.choice(len(SIGNED_AXES), len(current), p=weights / weights.sum())]
    elif config.nearby_goal_axis == "world":
        axis = SIGNED_AXIS_VECTORS[rng.integers(0, len(SIGNED_AXES), len(current))]
    elif axes is None or config.nearby_goal_axis == "random":
        axis = rotations.normalize(rng.normal(size=(len(current), 3)))
    else:
        axis = axes
    turn = rotations.from_axis_angle(axis, np.full(len(current), config.nearby_goal_angle))
    return rotations.canonical(rotations.multiply(turn, current))


def turn_direction(from_quat: np.ndarray, to_quat: np.ndarray) -> np.ndarray:
    """(n,) index into SIGNED_AXES of the world axis, and the way about it, that the turn from `from_quat`
    to `to_quat` is mostly about: training counts goals reached per direction with it, to show which
    rotations a policy makes (a goal about a random axis lets it get by without some)."""
    axis, _ = rotations.to_axis_angle(rotations.relative(from_quat, to_quat))
    dominant = np.abs(axis).argmax(-1)
    negative = np.take_along_axis(axis, dominant[..., None], -1)[..., 0] < 0
    return 2 * dominant + negative


def goal_distance(object_quat: np.ndarray, goal_quat: np.ndarray) -> np.ndarray:
    return rotations.distance(object_quat, goal_quat)


def is_success(distance: np.ndarray, config: TaskConfig) -> np.ndarray:
    return distance < config.success_threshold


def is_dropped(object_pos: np.ndarray, config: TaskConfig) -> np.ndarray:
    return object_pos[..., 2] < config.drop_height


def reward(previous_distance: np.ndarray, distance: np.ndarray, success: np.ndarray, dropped: np.ndarray,
           config: TaskConfig) -> np.ndarray:
    """r_t = d_t - d_{t+1} + bonus on success - penalty on drop (the paper's reward)."""
    return previous_distance - distance + config.success_bonus * success - config.drop_penalty * dropped


@dataclass
class TrialCounters:
    """Per-trial bookkeeping for N parallel trials."""

    successes: np.ndarray  # (N,) consecutive successes so far
    steps_on_goal: np.ndarray  # (N,) control steps since the current goal was drawn
    steps: np.ndarray  # (N,) control steps in the trial

    @classmethod
    def zeros(cls, n: int) -> "TrialCounters":
        return cls(np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64))

    def reset(self, mask: np.ndarray) -> None:
        self.successes[mask] = 0
        self.steps_on_goal[mask] = 0
        self.steps[mask] = 0


def advance(counters: TrialCounters, success: np.ndarray, dropped: np.ndarray, unstable: np.ndarray,
            config: TaskConfig) -> np.ndarray:
    """Count one control step; return the done reason per trial (RUNNING if it goes on).

    A success resets the goal clock (the caller draws the new goal). Precedence when several apply:
    unstable physics, then a drop, then reaching max_successes, then the goal timeout.
    """
    counters.steps += 1
    counters.successes += success
    counters.steps_on_goal = np.where(success, 0, counters.steps_on_goal + 1)
    reason = np.full(success.shape, RUNNING, np.int64)
    reason[counters.steps_on_goal >= config.goal_timeout_steps] = TIMED_OUT
    reason[counters.successes >= config.max_successes] = MAX_SUCCESSES
    reason[dropped] = DROPPED
    reason[unstable] = UNSTABLE
    return reason
