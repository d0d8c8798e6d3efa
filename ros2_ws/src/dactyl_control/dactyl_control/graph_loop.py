"""The ROS graph's control loop in one process, without ROS: the cores of the sim node (`SimulatedHand`), the
PhaseSpace node (`MarkerFitter`), the trial manager (`TrialTracker`), the policy node (`PolicyRunner`) and
the hand driver (`SafetyFilter`), called in the order their messages flow in lockstep.

It exists to tell apart what the graph adds to `dactyl evaluate`: each difference the graph has by design
is a switch in `LoopOptions`. A gap between `dactyl graph-loop` and `dactyl up` is in the message passing
(timing, ordering, /clock); one between `graph-loop --evaluate-like` and `dactyl evaluate` is in the cores
themselves (as `SimulatedHand`'s drift off joint limits was, docs/ros_graph.md). Trials are scored as both
score them (`EvaluationResult`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from dactyl_core import mocap
from dactyl_core.env import EnvConfig
from dactyl_core.evaluate import EvaluationResult
from dactyl_core.onnx_models import POLICY_LAYOUT, OnnxPolicy
from dactyl_core.policy_runner import PolicyRunner
from dactyl_core.sim_hand import SimulatedHand
from dactyl_core.trials import TrialTracker
from shadow_hand_driver.safety import SafetyFilter

MAX_STEPS_WITHOUT_POSE = 100  # control steps a trial may wait for a first fitted pose before it is abandoned


@dataclass(frozen=True)
class LoopOptions:
    """What the simulated graph does differently from `dactyl evaluate`: the defaults are the graph, every
    switch off is evaluate's loop (`evaluate_like`)."""

    mocap: bool = True  # poses fitted to simulated markers (3 mm noise, dropouts) by the PhaseSpace node's fitter
    goal_late: bool = True  # a new goal reaches the policy one control step after the success
    safety_filter: bool = True  # commands pass the hand driver's joint-limit and rate-limit filter
    # Trials are scored on the true pose, as the simulated graph scores them (graph.py remaps the trial
    # manager to the ground truth); true: on the measured pose, as on the real hand.
    score_measured: bool = False
    max_joint_speed: float = 2.0  # rad/s, the hand driver's default
    marker_dropout: float = 0.02  # the sim node's default
    min_markers: int = 3  # the PhaseSpace node's defaults
    max_residual: float = 0.01  # m
    fingertip_hold_time: float = 0.5  # s

    @classmethod
    def evaluate_like(cls) -> "LoopOptions":
        return cls(mocap=False, goal_late=False, safety_filter=False)


class GraphLoop:
    """One simulated hand and the graph's per-step processing, run trial by trial."""

    def __init__(self, policy_path: str, config: EnvConfig, options: LoopOptions, seed: int = 0):
        self.config, self.options = config, options
        self.hand = SimulatedHand(config, seed=seed)
        period = self.hand.control_period
        self.runner = PolicyRunner(OnnxPolicy(policy_path, 1, POLICY_LAYOUT, config.actions, period))
        self.tracker = TrialTracker(config.task, period, np.random.default_rng(seed + 1))
        self.marker_rng = np.random.default_rng(seed + 2)
        self.calibration = mocap.load_calibration(None)
        self.fitter = mocap.MarkerFitter(self.hand.scene.object_marker_layout, self.calibration,
                                         options.min_markers, options.max_residual)
        self.safety = SafetyFilter(options.max_joint_speed, period)
        self.steps = 0
        self.rate_limited = 0  # commands the safety filter slowed down
        self.fingertips = mocap.FingertipHold(options.fingertip_hold_time)  # held across trials, as the node's

    def _observe(self):
        """(fingertips, position, quat) as the policy node would receive them, or None when the PhaseSpace node
        would publish no new pose or fingertips (so the policy does not act)."""
        m = self.hand.measure()
        if not self.options.mocap:
            return m.fingertips, m.object_position, m.object_quat
        frame = mocap.markers_from_world(m.object_markers, m.fingertips, self.calibration, self.marker_rng,
                                         self.config.randomization.observation_noise.marker_noise,
                                         self.options.marker_dropout)
        if self.fingertips.update(*self.fitter.fingertips(frame), self.steps * self.hand.control_period).any():
            return None
        try:
            pose = self.fitter.object_pose(frame)
        except mocap.PoseFitError:
            return None
        return self.fingertips.positions.copy(), pose.position, pose.quat

    def _next_control_step(self):
        while not self.hand.step():
            pass
        self.steps += 1
        return self._observe()

    def _scored_pose(self, observed):
        return (observed[1], observed[2]) if self.options.score_measured else self.hand.object_pose()

    def run_trial(self) -> tuple[int, str]:
        """One trial from a fresh reset to its end: (consecutive successes, how it ended)."""
        hand, runner, tracker = self.hand, self.runner, self.tracker
        hand.reset()
        observed = self._observe()
        waited = 0
        while observed is None:  # a trial starts on the first fitted pose, as the trial manager's does
            if waited >= MAX_STEPS_WITHOUT_POSE:
                return 0, "no_pose"
            observed, waited = self._next_control_step(), waited + 1
        runner.start_trial()
        runner.set_hand_pose(hand.joint_positions())
        tracker.start(self._scored_pose(observed)[1])
        self.safety.prime(hand.joint_positions(), 0.0)
        t = 0.0
        while True:
            goal_seen = tracker.goal.copy()  # what the policy holds before the trial manager's update
            if observed is not None:
                update = tracker.update(t, *self._scored_pose(observed))
                if update.done_reason != "running":
                    return update.successes, update.done_reason
                goal = goal_seen if self.options.goal_late else tracker.goal
                targets = runner.step(observed[0], observed[1], observed[2], goal)
                if self.options.safety_filter:
                    result = self.safety.filter(targets, t + hand.control_period)
                    self.rate_limited += bool(result.rate_limited)
                    targets = result.command
                hand.command_joint_targets(targets)
            t += hand.control_period
            observed = self._next_control_step()


def run_graph_loop(policy_path: str, config: EnvConfig, trials: int, options: LoopOptions, seed: int = 0,
                   progress: bool = False) -> EvaluationResult:
    loop = GraphLoop(policy_path, config, options, seed)
    results = [loop.run_trial() for _ in tqdm(range(trials), unit="trial", disable=not progress)]
    return EvaluationResult(trials=[s for s, _ in results], reasons=[r for _, r in results], policy=policy_path,
                            object=config.scene.object, seed=seed, env_steps=loop.steps,
                            extra={"graph_loop": {**vars(options)}, "rate_limited": loop.rate_limited})
