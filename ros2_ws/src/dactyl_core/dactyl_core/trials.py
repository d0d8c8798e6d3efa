"""Trials on a running hand (simulated or real), scored as the training environment scores them.

`TrialTracker` follows one trial from measured object poses: it draws goals with the training goal sampler,
tests success, drops and timeouts with `task`'s functions and counts with `task.advance`, so a trial in the
ROS graph ends exactly when the same trial would end in `DactylEnv`. Poses may arrive irregularly (a lost
frame, a slow estimator); control steps are counted from their stamps, not from their number.

Trials are scored on the paper's goals, or on the training curriculum's nearby goals (each drawn from the
object's orientation, so the first needs a measured pose): those let pose sources be compared with a policy
that reaches only nearby goals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import rotations, task


@dataclass(frozen=True)
class TrialUpdate:
    success: bool  # the goal was reached on this step (a new goal has been drawn)
    done_reason: str  # task.DONE_REASONS entry; "running" while the trial goes on
    distance: float  # rad, to the goal before any new goal was drawn
    successes: int  # consecutive successes so far


class TrialTracker:
    def __init__(self, config: task.TaskConfig, control_period: float, rng: np.random.Generator):
        self.config = config
        self.control_period = control_period
        self.rng = rng
        self.counters = task.TrialCounters.zeros(1)
        self.goal = np.zeros(4)
        self.axes: np.ndarray | None = None  # the trial's axis for nearby goals (task.sample_goal_axes)
        self.last_stamp: float | None = None
        self.running = False

    @property
    def goals_follow_the_object(self) -> bool:
        """Goals are drawn from the object's orientation (nearby goals), so a trial starts on a measured pose."""
        return self.config.goal_mode == "nearby"

    def start(self, object_quat: np.ndarray | None = None) -> np.ndarray:
        """A new trial; returns its first goal orientation (w, x, y, z). Nearby goals need `object_quat`."""
        if self.goals_follow_the_object and object_quat is None:
            raise ValueError("nearby goals are drawn from the object's orientation: start the trial with a measured pose")
        self.counters.reset(np.ones(1, bool))
        self.last_stamp = None
        self.running = True
        self.axes = task.sample_goal_axes(self.rng, 1, self.config)
        return self._draw_goal(object_quat)

    def update(self, stamp: float, object_position: np.ndarray, object_quat: np.ndarray) -> TrialUpdate:
        """Score one measured pose. Steps missed since the last pose count towards the goal timeout."""
        if not self.running:
            raise RuntimeError("no trial is running")
        if self.last_stamp is not None:
            missed = int(round((stamp - self.last_stamp) / self.control_period)) - 1
            if missed > 0:
                self.counters.steps_on_goal += missed
                self.counters.steps += missed
        self.last_stamp = stamp
        distance = task.goal_distance(object_quat[None], self.goal[None])
        success = task.is_success(distance, self.config)
        dropped = task.is_dropped(np.asarray(object_position)[None], self.config)
        reason = task.DONE_REASONS[int(task.advance(self.counters, success & ~dropped, dropped, np.zeros(1, bool),
                                                    self.config)[0])]
        reached = bool(success[0] and not dropped[0])
        if reached and reason == "running":
            self._draw_goal(object_quat)
        if reason != "running":
            self.running = False
        return TrialUpdate(reached, reason, float(distance[0]), int(self.counters.successes[0]))

    def _draw_goal(self, object_quat: np.ndarray | None) -> np.ndarray:
        current = np.asarray(object_quat if object_quat is not None else rotations.IDENTITY, float)[None]
        self.goal = task.sample_goals(self.rng, current, self.config, self.axes)[0]
        return self.goal.copy()
