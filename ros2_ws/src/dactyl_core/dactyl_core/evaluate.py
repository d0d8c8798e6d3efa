"""The paper's evaluation protocol: K trials, each counting consecutive successful reorientations until
a drop, a goal timeout or 50 successes; reported as in Table 3 (mean +- std, median, sorted trials).

Trials run in the batched environment. To stay unbiased, trial k is the k-th trial started; once K
trials have started, environments that finish keep stepping but their later trials are ignored, and the
run ends when all K have finished.
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import task
from .env import DactylEnv, EnvConfig
from .policies import Policy

if TYPE_CHECKING:
    from .video import TrialVideo


@dataclass
class EvaluationResult:
    trials: list[int]  # consecutive successes per trial, in trial order
    reasons: list[str]  # how each trial ended
    policy: str = ""
    randomization: str = ""
    goals: str = ""  # the goal mode scored (face_aligned unless a curriculum stage is evaluated)
    object: str = ""
    seed: int = 0
    env_steps: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return float(np.mean(self.trials))

    @property
    def std(self) -> float:
        return float(np.std(self.trials))

    @property
    def median(self) -> float:
        return float(np.median(self.trials))

    def count(self, reason: str) -> int:
        return sum(r == reason for r in self.reasons)

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "mean": self.mean, "std": self.std, "median": self.median,
            "sorted_trials": sorted(self.trials),
            "drops": self.count("dropped"), "timeouts": self.count("timed_out"),
            "max_successes": self.count("max_successes"), "unstable": self.count("unstable"),
        }

    def table_row(self) -> str:
        """A Table-3 row: mean +- std, median, then the sorted trials."""
        return (f"{self.mean:.1f} +- {self.std:.1f}  median {self.median:g}  "
                f"[{', '.join(str(t) for t in sorted(self.trials))}]")

    def summary(self) -> str:
        return (f"{len(self.trials)} trials: {self.count('dropped')} drops, {self.count('timed_out')} timeouts, "
                f"{self.count('max_successes')} reached the success limit, {self.count('unstable')} unstable "
                f"simulations; {self.env_steps} control steps")


def evaluate(policy: Policy, env: DactylEnv, trials: int, progress: bool = True, max_steps: int | None = None,
             video: TrialVideo | None = None) -> EvaluationResult:
    """Run `trials` trials of `policy` in `env` (which it resets); `video` records environment 0's."""
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    n = env.num_envs
    observations = env.reset()
    policy.reset(None)
    if video is not None:
        video.record(None, 0)
    slot = np.full(n, -1)  # the trial each environment is running, -1 once it is past the K-th
    started = min(n, trials)
    slot[:started] = np.arange(started)
    results: dict[int, tuple[int, str]] = {}
    bar = _progress(trials, progress)
    steps = 0
    limit = max_steps if max_steps is not None else trials * env.config.task.max_successes * env.config.task.goal_timeout_steps
    while len(results) < trials:
        if steps >= limit:
            raise RuntimeError(f"evaluation did not finish within {limit} control steps")
        step = env.step(policy.act(observations.policy))
        observations = step.observations
        steps += 1
        finished = np.flatnonzero(step.done)
        if finished.size:
            policy.reset(step.done)
            for i in finished:
                if slot[i] >= 0:
                    results[int(slot[i])] = (int(step.successes[i]), task.DONE_REASONS[step.done_reason[i]])
                    bar.update(1)
                if started < trials:
                    slot[i] = started
                    started += 1
                else:
                    slot[i] = -1
        if video is not None:
            video.record(step, int(slot[0]))
    bar.close()
    ordered = [results[k] for k in range(trials)]
    return EvaluationResult([r[0] for r in ordered], [r[1] for r in ordered], env_steps=steps * n)


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="trials", unit="trial", file=sys.stderr, disable=not enabled, leave=False)


def run_evaluation(policy_spec: str, config: EnvConfig, trials: int, seed: int, num_envs: int | None = None,
                   num_threads: int | None = None, progress: bool = True, video_path: str | None = None,
                   video_trials: int = 3) -> EvaluationResult:
    """Build the environment and the policy, evaluate, and label the result (and film it, with `video_path`)."""
    from .policies import make_policy

    num_envs = num_envs or min(trials, 32)
    env = DactylEnv(config, num_envs=num_envs, seed=seed, num_threads=num_threads)
    video = None
    try:
        policy = make_policy(policy_spec, num_envs, config.actions, env.scene.control_period, seed=seed + 1)
        if video_path:  # rendering (OpenGL, OpenCV) is loaded only when a video is asked for
            from .video import TrialVideo

            video = TrialVideo(env, video_path, video_trials)
        result = evaluate(policy, env, trials, progress=progress, video=video)
    finally:
        if video is not None:
            video.close()
        env.close()
    result.policy, result.object, result.seed = policy_spec, config.scene.object, seed
    return result


def lead(result: EvaluationResult, baseline: EvaluationResult) -> tuple[float, float]:
    """How far `result`'s mean consecutive successes lie above `baseline`'s: the difference, and that difference
    in standard errors (each mean's std / sqrt(trials), combined), the margin a claim of "better" needs."""
    difference = result.mean - baseline.mean
    standard_error = math.hypot(result.std / math.sqrt(len(result.trials)), baseline.std / math.sqrt(len(baseline.trials)))
    if standard_error == 0.0:
        return difference, 0.0 if difference == 0.0 else math.copysign(math.inf, difference)
    return difference, difference / standard_error


def write_json(result: EvaluationResult, path) -> None:
    with open(path, "w") as f:
        json.dump(result.to_dict(), f, indent=2)
