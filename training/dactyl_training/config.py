"""The training configuration: one strict YAML file (unknown keys and wrong types are refused, named).

    env:      which task and randomizations, environments per rollout worker
    network:  layer sizes and the LSTM/feed-forward switch (the paper's Table 5 ablation)
    ppo:      the learning step (the paper's defaults: gamma 0.998, lambda 0.95, clip 0.2)
    run:      length, seed, rollout workers (0 = single process), checkpoints, device
    curriculum: optional nearby goals that move further away as the policy reaches them
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dactyl_core.config import check_positive, load

from .networks import NetworkConfig

CONFIG_DIR = Path(__file__).resolve().parent / "config"
Randomization = Literal["all", "none", "no-obs-noise", "no-physics", "no-unmodeled"]


@dataclass(frozen=True)
class EnvSection:
    object: Literal["block", "prism"] = "block"
    randomization: Randomization = "all"
    num_envs: int = 64  # per rollout worker
    threads: int = 0  # physics threads per worker; 0 = all cores
    overrides: dict[str, Any] = field(default_factory=dict)  # nested EnvConfig overrides, e.g. {task: {...}}

    def __post_init__(self):
        check_positive("env.num_envs", self.num_envs)


@dataclass(frozen=True)
class PPOConfig:
    gamma: float = 0.998
    gae_lambda: float = 0.95
    clip: float = 0.2
    learning_rate: float = 3e-4
    rollout_steps: int = 64  # control steps per environment per iteration = the BPTT length
    epochs: int = 4
    minibatches: int = 4  # split over environments; each minibatch holds whole sequences
    entropy_coef: float = 0.001  # on the entropy summed over the 20 actuators
    value_coef: float = 1.0
    max_grad_norm: float = 0.5
    reward_scale: float = 0.1  # rewards are multiplied by this before GAE (keeps value targets O(1))

    def __post_init__(self):
        for name in ("learning_rate", "rollout_steps", "epochs", "minibatches", "reward_scale"):
            check_positive(f"ppo.{name}", getattr(self, name))


@dataclass(frozen=True)
class RunConfig:
    total_env_steps: int = 10_000_000
    seed: int = 0
    workers: int = 0  # Ray rollout workers; 0 = single process (no Ray)
    checkpoint_every: int = 25  # iterations between checkpoints (also on SIGTERM / Ctrl-C and at the end)
    device: str = "auto"  # learner device: auto (GPU when present), cpu, cuda, cuda:1, ...
    overlap: bool = True  # collect the next rollout while learning from this one (one update stale)
    torch_threads: int = 1  # CPU threads for torch; 0 = torch's default. More than 1 is far slower on a busy machine

    def __post_init__(self):
        check_positive("run.total_env_steps", self.total_env_steps)
        check_positive("run.checkpoint_every", self.checkpoint_every)
        if self.workers < 0:
            raise ValueError(f"run.workers: {self.workers} must not be negative")


@dataclass(frozen=True)
class CurriculumConfig:
    """Goals a fixed angle from the object (task.goal_mode 'nearby'), the angle growing as the policy meets
    them: a denser success signal than the paper's goals on a small budget. Off by default."""

    enabled: bool = False
    start_angle: float = 0.6  # rad: the first stage, each goal this far from the object
    end_angle: float = 3.14  # rad: the last stage (a half turn is the farthest any goal can be)
    angle_step: float = 0.1  # rad added at each promotion
    promote_at: float = 2.0  # mean consecutive successes per trial at a stage that earns the next one
    trials: int = 200  # the promotion is judged on the last this many trials finished at the stage
    # With env.overrides.task.nearby_goal_axis "world": draw each signed world axis in proportion to the
    # fraction of its goals missed lately, so the turns a policy cannot make are asked for most (one in
    # six goals was too few to learn a missing direction).
    weight_directions: bool = False
    direction_window: int = 3000  # goals (all directions) the miss fractions are taken over, older ones fading

    def __post_init__(self):
        for name in ("start_angle", "end_angle", "angle_step", "promote_at", "trials", "direction_window"):
            check_positive(f"curriculum.{name}", getattr(self, name))
        if self.start_angle > self.end_angle:
            raise ValueError(f"curriculum.start_angle {self.start_angle} is above end_angle {self.end_angle}")


@dataclass(frozen=True)
class TrainConfig:
    env: EnvSection = field(default_factory=EnvSection)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    run: RunConfig = field(default_factory=RunConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)

    def __post_init__(self):
        axis = self.env.overrides.get("task", {}).get("nearby_goal_axis")
        if self.curriculum.weight_directions and not (self.curriculum.enabled and axis == "world"):
            raise ValueError("curriculum.weight_directions weighs the signed world axes goals are drawn about: it needs "
                             f"curriculum.enabled and env.overrides.task.nearby_goal_axis 'world' (got {axis!r})")


def load_train_config(source: str | Path | dict | None) -> TrainConfig:
    """A YAML path, a shipped config name ('small', 'paper'), a mapping, or None (defaults)."""
    if isinstance(source, str) and not source.endswith((".yaml", ".yml")) and (CONFIG_DIR / f"{source}.yaml").is_file():
        source = CONFIG_DIR / f"{source}.yaml"
    return load(TrainConfig, source)
