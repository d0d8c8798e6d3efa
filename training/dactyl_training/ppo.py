"""PPO for the asymmetric recurrent actor-critic, CleanRL-style: rollout, GAE, the learning step.

The same three pieces serve the single-process trainer and the Ray rollout workers:

    RolloutWorker.collect(T)  steps its batched environment T times with the current parameters and
                              returns a `Rollout` (numpy, picklable): observations, actions, log-probs,
                              values, rewards, episode starts and the recurrent states at its start.
    compute_gae(...)          advantages and returns (episode ends cut the bootstrap).
    Learner.update(rollouts)  normaliser update, then `epochs` passes of clipped PPO over minibatches of
                              whole sequences: truncated BPTT from the stored start states, with the
                              state zeroed at every episode start inside the sequence.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from dactyl_core import task
from dactyl_core.env import DactylEnv, load_env_config
from dactyl_core.joints import NUM_ACTUATORS
from dactyl_core.observations import POLICY_LAYOUT

from .config import PPOConfig, TrainConfig
from .env_state import restore_env, snapshot_env
from .networks import PolicyNetwork, State, ValueNetwork


def build_networks(config: TrainConfig, value_size: int) -> tuple[PolicyNetwork, ValueNetwork]:
    env_config = load_env_config(config.env.object, config.env.randomization, config.env.overrides)
    policy = PolicyNetwork(POLICY_LAYOUT.size, NUM_ACTUATORS, env_config.actions.num_bins, config.network)
    value = ValueNetwork(value_size, config.network)
    return policy, value


def make_env(config: TrainConfig, seed: int) -> DactylEnv:
    env_config = load_env_config(config.env.object, config.env.randomization, config.env.overrides)
    return DactylEnv(env_config, config.env.num_envs, seed=seed, num_threads=config.env.threads or None)


def log_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Per-bin log-probabilities of logits (..., A, K). Written out because, on a last axis of 11 bins,
    torch's softmax kernels and `distributions.Categorical` (argument checks) cost several times as much,
    about a fifth of a PPO update."""
    return logits - logits.logsumexp(-1, keepdim=True)


def sample_bins(log_p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One bin per actuator from log-probabilities (..., A, K), by inverting each cumulative distribution
    at a uniform draw: a sixth of `torch.multinomial`'s time on 20 x 11 bins per environment."""
    uniform = torch.rand((*log_p.shape[:-1], 1), generator=generator)
    return (log_p.exp().cumsum(-1) < uniform).sum(-1).clamp_(max=log_p.shape[-1] - 1)


@dataclass
class EpisodeStats:
    """What finished during a rollout: consecutive successes, end reason, the nearby-goal angle it
    started with (a curriculum stage judges only trials run wholly at it) and when it started, in steps
    before the rollout's end, of each trial; the age of the oldest trial still running (so a stage can
    be judged on trials in the order they started: see train.StageTrials); and the goals reached and
    missed (the trial ended on a drop or timeout) by the way they turned the object."""

    successes: list[int] = field(default_factory=list)
    reasons: list[int] = field(default_factory=list)
    start_angles: list[float] = field(default_factory=list)
    started_ago: list[int] = field(default_factory=list)
    oldest_running: int = 0
    # (2, 6): goals reached (row 0) and missed (row 1) per task.SIGNED_AXES direction
    goals_by_direction: np.ndarray = field(default_factory=lambda: np.zeros((2, len(task.SIGNED_AXES)), np.int64))

    @property
    def goals_reached(self) -> int:
        return int(self.goals_by_direction[0].sum())

    def count_goals(self, directions: np.ndarray, reached: np.ndarray, missed: np.ndarray) -> None:
        """Count this step's reached and missed goals under their directions (n,)."""
        np.add.at(self.goals_by_direction[0], directions[reached], 1)
        np.add.at(self.goals_by_direction[1], directions[missed], 1)

    def extend(self, other: "EpisodeStats") -> None:
        self.successes += other.successes
        self.reasons += other.reasons
        self.start_angles += other.start_angles
        self.started_ago += other.started_ago
        self.oldest_running = max(self.oldest_running, other.oldest_running)
        self.goals_by_direction += other.goals_by_direction


@dataclass
class Rollout:
    policy_obs: np.ndarray  # (T, B, 50)
    value_obs: np.ndarray  # (T, B, V)
    starts: np.ndarray  # (T, B) 1 where the step is the first of a trial (state zeroed before it)
    actions: np.ndarray  # (T, B, 20) bins
    logprobs: np.ndarray  # (T, B)
    values: np.ndarray  # (T, B)
    rewards: np.ndarray  # (T, B), unscaled task reward
    dones: np.ndarray  # (T, B) 1 where the trial ended on this step
    next_value: np.ndarray  # (B,) value of the observation after the last step (bootstrap)
    policy_state: tuple[np.ndarray, np.ndarray]  # (1, B, H) each, at the first step
    value_state: tuple[np.ndarray, np.ndarray]
    episodes: EpisodeStats

    @property
    def num_steps(self) -> int:
        return self.rewards.size


def _numpy_state(state: State) -> tuple[np.ndarray, np.ndarray]:
    return state[0].numpy().copy(), state[1].numpy().copy()


class RolloutWorker:
    """A batched environment plus CPU copies of the networks; keeps observations and LSTM states
    between rollouts, so consecutive rollouts continue the same trials."""

    def __init__(self, config: TrainConfig, seed: int):
        self.config = config
        self.env = make_env(config, seed)
        self.policy, self.value = build_networks(config, self.env.value_layout.size)
        self.generator = torch.Generator().manual_seed(seed)
        self.observations = self.env.reset()
        n = config.env.num_envs
        self.policy_state = self.policy.trunk.initial_state(n)
        self.value_state = self.value.trunk.initial_state(n)
        self.starts = np.ones(n, np.float32)
        # Each running trial's goal angle at its start: a trial that began before a curriculum promotion
        # ends at the new stage with successes earned at the old, easier one.
        self.trial_start_angles = np.full(n, self.env.config.task.nearby_goal_angle)
        self.trial_ages = np.zeros(n, np.int64)  # steps each running trial has run

    def set_parameters(self, policy_state_dict: dict, value_state_dict: dict) -> None:
        self.policy.load_state_dict(policy_state_dict)
        self.value.load_state_dict(value_state_dict)

    def set_goals(self, angle: float, world_axis_weights: tuple[float, ...] | None = None) -> None:
        """The next goals drawn are `angle` from the object (a curriculum stage; goal_mode must be nearby),
        about the signed world axes drawn with these weights where given."""
        config = self.env.config
        self.env.config = replace(config, task=replace(config.task, nearby_goal_angle=angle,
                                                       world_axis_weights=world_axis_weights))

    def collect_with(self, parameters: tuple[dict, dict], steps: int) -> "Rollout":
        """One remote call for a Ray worker: take the new parameters, return a rollout."""
        self.set_parameters(*parameters)
        return self.collect(steps)

    def snapshot(self) -> dict:
        """Everything needed to continue these trials exactly (see env_state)."""
        return {"env": snapshot_env(self.env), "observations": self.observations, "starts": self.starts.copy(),
                "policy_state": _numpy_state(self.policy_state), "value_state": _numpy_state(self.value_state),
                "generator": self.generator.get_state(), "trial_start_angles": self.trial_start_angles.copy(),
                "trial_ages": self.trial_ages.copy()}

    def restore(self, snapshot: dict) -> None:
        restore_env(self.env, snapshot["env"])
        self.observations, self.starts = snapshot["observations"], snapshot["starts"].copy()
        self.policy_state = tuple(torch.from_numpy(s.copy()) for s in snapshot["policy_state"])
        self.value_state = tuple(torch.from_numpy(s.copy()) for s in snapshot["value_state"])
        self.generator.set_state(snapshot["generator"])
        if "trial_start_angles" in snapshot:  # checkpoints before 2026-12-03 keep the angle set at start
            self.trial_start_angles = snapshot["trial_start_angles"].copy()
        if "trial_ages" in snapshot:  # checkpoints before 2026-12-04 count the running trials' ages from 0
            self.trial_ages = snapshot["trial_ages"].copy()

    def pid(self) -> int:
        return os.getpid()

    @torch.no_grad()
    def collect(self, steps: int) -> Rollout:
        n, env = self.config.env.num_envs, self.env
        buffers = {
            "policy_obs": np.zeros((steps, n, env.policy_layout.size), np.float32),
            "value_obs": np.zeros((steps, n, env.value_layout.size), np.float32),
            "starts": np.zeros((steps, n), np.float32),
            "actions": np.zeros((steps, n, NUM_ACTUATORS), np.int64),
            "logprobs": np.zeros((steps, n), np.float32),
            "values": np.zeros((steps, n), np.float32),
            "rewards": np.zeros((steps, n), np.float32),
            "dones": np.zeros((steps, n), np.float32),
        }
        policy_state0, value_state0 = _numpy_state(self.policy_state), _numpy_state(self.value_state)
        episodes = EpisodeStats()
        for t in range(steps):
            policy_obs = torch.from_numpy(self.observations.policy).unsqueeze(0)
            value_obs = torch.from_numpy(self.observations.value).unsqueeze(0)
            starts = torch.from_numpy(self.starts).unsqueeze(0)
            logits, self.policy_state = self.policy(policy_obs, self.policy_state, starts)
            value, self.value_state = self.value(value_obs, self.value_state, starts)
            log_p = log_probabilities(logits[0])  # (B, A, K)
            action = sample_bins(log_p, self.generator)  # (B, A)
            directions = env.goal_direction.copy()  # the goals this step is judged on
            step = env.step(action.numpy())

            buffers["policy_obs"][t] = self.observations.policy
            buffers["value_obs"][t] = self.observations.value
            buffers["starts"][t] = self.starts
            buffers["actions"][t] = action.numpy()
            buffers["logprobs"][t] = log_p.gather(-1, action.unsqueeze(-1)).sum((-2, -1)).numpy()
            buffers["values"][t] = value[0].numpy()
            buffers["rewards"][t] = step.reward
            buffers["dones"][t] = step.done
            self.observations = step.observations
            self.starts = step.done.astype(np.float32)
            ended = step.done & np.isin(step.done_reason, (task.DROPPED, task.TIMED_OUT))
            episodes.count_goals(directions, step.goal_reached, ended & ~step.goal_reached)
            episodes.successes += step.successes[step.done].tolist()
            episodes.reasons += step.done_reason[step.done].tolist()
            episodes.start_angles += self.trial_start_angles[step.done].tolist()
            self.trial_start_angles[step.done] = env.config.task.nearby_goal_angle
            self.trial_ages += 1
            episodes.started_ago += (self.trial_ages[step.done] + steps - 1 - t).tolist()
            self.trial_ages[step.done] = 0
        episodes.oldest_running = int(self.trial_ages.max())

        value_obs = torch.from_numpy(self.observations.value).unsqueeze(0)
        next_value, _ = self.value(value_obs, self.value_state, torch.from_numpy(self.starts).unsqueeze(0))
        return Rollout(**buffers, next_value=next_value[0].numpy(), policy_state=policy_state0,
                       value_state=value_state0, episodes=episodes)

    def close(self) -> None:
        self.env.close()


def compute_gae(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, next_value: np.ndarray,
                gamma: float, gae_lambda: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalized advantage estimation over (T, B) arrays; a done at t stops bootstrapping past t."""
    advantages = np.zeros_like(rewards)
    last = np.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        following = next_value if t == rewards.shape[0] - 1 else values[t + 1]
        alive = 1.0 - dones[t]
        delta = rewards[t] + gamma * following * alive - values[t]
        last = delta + gamma * gae_lambda * alive * last
        advantages[t] = last
    return advantages, advantages + values


def merge_rollouts(rollouts: list[Rollout]) -> Rollout:
    """Concatenate rollouts from several workers along the environment axis."""
    if len(rollouts) == 1:
        return rollouts[0]
    cat = lambda name, axis=1: np.concatenate([getattr(r, name) for r in rollouts], axis)  # noqa: E731
    episodes = EpisodeStats()
    for r in rollouts:
        episodes.extend(r.episodes)
    return Rollout(
        **{name: cat(name) for name in ("policy_obs", "value_obs", "starts", "actions", "logprobs", "values", "rewards", "dones")},
        next_value=cat("next_value", 0),
        policy_state=tuple(np.concatenate([r.policy_state[i] for r in rollouts], 1) for i in range(2)),
        value_state=tuple(np.concatenate([r.value_state[i] for r in rollouts], 1) for i in range(2)),
        episodes=episodes,
    )


class Learner:
    """Owns the trained networks and Adam; `update` is the whole PPO learning step for one iteration."""

    def __init__(self, policy: PolicyNetwork, value: ValueNetwork, config: PPOConfig, device: torch.device,
                 generator: torch.Generator):
        self.policy, self.value = policy.to(device), value.to(device)
        self.config, self.device, self.generator = config, device, generator
        self.parameters = [*policy.parameters(), *value.parameters()]
        self.optimizer = torch.optim.Adam(self.parameters, lr=config.learning_rate, eps=1e-5)

    def cpu_state_dicts(self) -> tuple[dict, dict]:
        to_cpu = lambda module: {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}  # noqa: E731
        return to_cpu(self.policy), to_cpu(self.value)

    def update(self, rollout: Rollout) -> dict[str, float]:
        c, device = self.config, self.device
        rewards = rollout.rewards * c.reward_scale
        advantages, returns = compute_gae(rewards, rollout.values, rollout.dones, rollout.next_value, c.gamma, c.gae_lambda)
        tensor = lambda a, dtype=torch.float32: torch.tensor(a, dtype=dtype, device=device)  # noqa: E731  (copies: Ray arrays are read-only)
        policy_obs, value_obs = tensor(rollout.policy_obs), tensor(rollout.value_obs)
        # Statistics of this batch join the normalisers before learning (the rollout used the old ones).
        self.policy.trunk.normalizer.update(policy_obs)
        self.value.trunk.normalizer.update(value_obs)
        starts, actions = tensor(rollout.starts), tensor(rollout.actions, torch.int64)
        old_logprobs, old_values = tensor(rollout.logprobs), tensor(rollout.values)
        advantages, returns = tensor(advantages), tensor(returns)
        policy_h, policy_c = (tensor(s) for s in rollout.policy_state)
        value_h, value_c = (tensor(s) for s in rollout.value_state)

        num_envs = rollout.rewards.shape[1]
        per_batch = max(1, num_envs // c.minibatches)
        totals: dict[str, float] = {}
        count = 0
        for _ in range(c.epochs):
            order = torch.randperm(num_envs, generator=self.generator).to(device)
            for begin in range(0, num_envs, per_batch):
                envs = order[begin:begin + per_batch]
                logits, _ = self.policy(policy_obs[:, envs], (policy_h[:, envs], policy_c[:, envs]), starts[:, envs])
                values, _ = self.value(value_obs[:, envs], (value_h[:, envs], value_c[:, envs]), starts[:, envs])
                log_p = log_probabilities(logits)  # (T, b, A, K)
                logprobs = log_p.gather(-1, actions[:, envs].unsqueeze(-1)).sum((-2, -1))  # (T, b)
                entropy = -(log_p.exp() * log_p).sum((-2, -1)).mean()
                log_ratio = logprobs - old_logprobs[:, envs]
                ratio = log_ratio.exp()
                adv = advantages[:, envs]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                policy_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - c.clip, 1 + c.clip)).mean()
                value_loss = 0.5 * (values - returns[:, envs]).pow(2).mean()
                loss = policy_loss - c.entropy_coef * entropy + c.value_coef * value_loss

                self.optimizer.zero_grad()
                loss.backward()
                grad_norm = nn.utils.clip_grad_norm_(self.parameters, c.max_grad_norm)
                self.optimizer.step()

                with torch.no_grad():
                    stats = {
                        "loss/policy": policy_loss.item(), "loss/value": value_loss.item(), "loss/entropy": entropy.item(),
                        "loss/approx_kl": ((ratio - 1) - log_ratio).mean().item(),
                        "loss/clip_fraction": ((ratio - 1).abs() > c.clip).float().mean().item(),
                        "loss/grad_norm": float(grad_norm),
                    }
                for k, v in stats.items():
                    totals[k] = totals.get(k, 0.0) + v
                count += 1
        result = {k: v / count for k, v in totals.items()}
        variance = float(np.var(returns.cpu().numpy()))
        result["loss/explained_variance"] = float("nan") if variance == 0 else 1 - float(np.var((returns - old_values).cpu().numpy())) / variance
        return result


def describe_episodes(episodes: EpisodeStats) -> dict[str, float]:
    """Summary of finished trials for logs: mean successes, drop fraction; and per direction of turn where
    any goal ended, the fraction of goals reached (goals/reached_+x, ...) and how many ended (goals/ended_+x,
    ...: reached or missed), to weigh the fractions by when averaging over iterations."""
    out = {}
    for name, reached, missed in zip(task.SIGNED_AXES, *episodes.goals_by_direction):
        if reached + missed:
            out[f"goals/reached_{name}"] = float(reached / (reached + missed))
            out[f"goals/ended_{name}"] = float(reached + missed)
    if not episodes.successes:
        return out
    reasons = np.asarray(episodes.reasons)
    return {
        "episode/successes": float(np.mean(episodes.successes)),
        "episode/drop_fraction": float(np.mean(reasons == task.DROPPED)),
        "episode/timeout_fraction": float(np.mean(reasons == task.TIMED_OUT)),
        "episode/count": float(len(reasons)),
        **out,
    }
