"""Policy and value networks (the paper's asymmetric actor-critic), CleanRL-style: small and explicit.

    policy: observation (noisy, what the robot measures) -> normaliser -> dense+ReLU -> LSTM -> 20 x 11 logits
    value:  value observation (privileged)               -> normaliser -> dense+ReLU -> LSTM -> scalar

Shapes: T = time steps, B = environments, O = observation size, H = LSTM size, A = 20 actuators,
K = 11 bins. Recurrent state is (h, c), each (1, B, H); `starts` (T, B) marks the first step of an
episode, where the state is zeroed before the step (so a trial never sees the previous trial's memory).
With `recurrent=False` the LSTM is replaced by a dense layer of the same width (the paper's
feed-forward ablation, Table 5); the state tensors then have size 0 and are passed through untouched.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class NetworkConfig:
    dense: int = 1024  # the paper's sizes; the small config for a 2-core machine uses far less
    lstm: int = 512
    recurrent: bool = True


class RunningNormalizer(nn.Module):
    """Running mean/std of the inputs (parallel-variance updates), frozen into exported models."""

    def __init__(self, size: int, clip: float = 5.0, epsilon: float = 1e-8):
        super().__init__()
        self.clip = clip
        self.epsilon = epsilon
        self.register_buffer("mean", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("var", torch.ones(size, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        batch = batch.reshape(-1, batch.shape[-1]).to(torch.float64)
        batch_mean, batch_var, n = batch.mean(0), batch.var(0, unbiased=False), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta.pow(2) * self.count * n / total) / total
        self.count = total

    @property
    def std(self) -> torch.Tensor:
        return torch.sqrt(self.var + self.epsilon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(x.dtype), self.std.to(x.dtype)
        return torch.clamp((x - mean) / std, -self.clip, self.clip)


class RecurrentTrunk(nn.Module):
    """normaliser -> dense+ReLU -> LSTM (or dense+ReLU), with episode-start resets."""

    def __init__(self, input_size: int, config: NetworkConfig):
        super().__init__()
        self.config = config
        self.normalizer = RunningNormalizer(input_size)
        self.dense = nn.Sequential(nn.Linear(input_size, config.dense), nn.ReLU())
        if config.recurrent:
            self.memory = nn.LSTM(config.dense, config.lstm)
        else:
            self.memory = nn.Sequential(nn.Linear(config.dense, config.lstm), nn.ReLU())

    @property
    def state_size(self) -> int:
        return self.config.lstm if self.config.recurrent else 0

    def initial_state(self, batch: int) -> State:
        zeros = torch.zeros(1, batch, self.state_size)
        return zeros, zeros.clone()

    def forward(self, x: torch.Tensor, state: State, starts: torch.Tensor) -> tuple[torch.Tensor, State]:
        """x (T, B, O), starts (T, B) -> features (T, B, H), final state."""
        features = self.dense(self.normalizer(x))
        if not self.config.recurrent:
            return self.memory(features), state
        # One fused LSTM call per stretch of steps in which no environment starts a trial; the state is
        # zeroed, per environment, only where a stretch begins with a start. (Step by step is 10x slower.)
        steps = features.shape[0]
        cuts = [] if steps == 1 else (torch.nonzero(starts[1:].any(dim=1)).flatten() + 1).tolist()
        bounds = [0, *cuts, steps]
        h, c = state
        outputs = []
        for begin, end in zip(bounds[:-1], bounds[1:]):
            keep = (1.0 - starts[begin].to(features.dtype)).view(1, -1, 1)
            out, (h, c) = self.memory(features[begin:end], (h * keep, c * keep))
            outputs.append(out)
        return torch.cat(outputs, 0), (h, c)


class PolicyNetwork(nn.Module):
    def __init__(self, observation_size: int, num_actuators: int, num_bins: int, config: NetworkConfig):
        super().__init__()
        self.num_actuators, self.num_bins = num_actuators, num_bins
        self.trunk = RecurrentTrunk(observation_size, config)
        self.head = nn.Linear(config.lstm, num_actuators * num_bins)
        nn.init.orthogonal_(self.head.weight, gain=0.01)  # near-uniform initial action distribution
        nn.init.zeros_(self.head.bias)

    def forward(self, observation: torch.Tensor, state: State, starts: torch.Tensor) -> tuple[torch.Tensor, State]:
        """observation (T, B, O) -> logits (T, B, A, K), final state."""
        features, state = self.trunk(observation, state, starts)
        logits = self.head(features)
        return logits.view(*logits.shape[:-1], self.num_actuators, self.num_bins), state


class ValueNetwork(nn.Module):
    def __init__(self, observation_size: int, config: NetworkConfig):
        super().__init__()
        self.trunk = RecurrentTrunk(observation_size, config)
        self.head = nn.Linear(config.lstm, 1)
        nn.init.orthogonal_(self.head.weight, gain=1.0)
        nn.init.zeros_(self.head.bias)

    def forward(self, observation: torch.Tensor, state: State, starts: torch.Tensor) -> tuple[torch.Tensor, State]:
        """observation (T, B, O) -> value (T, B), final state."""
        features, state = self.trunk(observation, state, starts)
        return self.head(features).squeeze(-1), state
