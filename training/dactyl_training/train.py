"""The training loop: rollouts (in process, or from Ray workers), the PPO step, logs and checkpoints.

    trainer = Trainer(config, out_dir="runs/block")       # or resume_from="runs/block/ckpt.pt"
    trainer.run()

Each iteration: broadcast parameters -> every rollout worker collects `rollout_steps` steps of its
environments -> the learner runs one PPO update on all of it. Checkpoints go to OUT/ckpt.pt every
`checkpoint_every` iterations, at the end, and when SIGTERM or Ctrl-C asks the run to stop.
"""
from __future__ import annotations

import json
import signal
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dactyl_core import task
from dactyl_core.config import dump_yaml, merge, to_dict
from dactyl_core.env import load_env_config
from dactyl_core.observations import value_layout
from dactyl_core.randomization import PARAMETER_NAMES
from dactyl_core.scene import build_scene

from .checkpoint import read_checkpoint, resume_config, save_checkpoint
from .config import TrainConfig
from .env_state import layout_differences
from .ppo import EpisodeStats, Learner, RolloutWorker, build_networks, describe_episodes, merge_rollouts

CHECKPOINT_NAME = "ckpt.pt"
SUCCESS_WINDOW = 100  # trials in the running mean of consecutive successes
MIN_DIRECTION_WEIGHT = 0.05  # curriculum.weight_directions: the least a direction is drawn, relative to its miss fraction


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def worker_seed(run_seed: int, worker: int, iteration: int, generation: int = 0) -> int:
    """Distinct, reproducible seeds for every worker a run ever starts (restarts and resumes included)."""
    return int(np.random.SeedSequence([run_seed, worker, iteration, generation]).generate_state(1)[0])


class StageTrials:
    """The finished trials of the curriculum's stage, handed out for judging in the order they started, in
    disjoint blocks. Only trials that ran wholly at the stage count: those that started before it carry
    successes earned at an easier one, and once let one promotion cascade into the next. And not in the
    order they end: right after a promotion the first trials to end are the short ones (drops), and with
    256 environments the running trials outlast a 200-trial block, so that block was judged on drops. A
    block is handed out once every trial that started before its last one has ended."""

    def __init__(self, size: int):
        self.size = size
        self.clock = 0  # steps of each environment, over the rollouts added
        self.horizon = 0  # every trial that started before this step has ended
        self.trials: list[tuple[int, int]] = []  # (start step, successes) of the trials not yet judged

    def add(self, episodes: EpisodeStats, angle: float | None, steps: int) -> None:
        """A rollout of `steps` steps per environment, at the stage `angle` (None: no curriculum)."""
        self.clock += steps
        self.horizon = self.clock - episodes.oldest_running
        if angle is not None:
            self.trials += [(self.clock - ago, s) for s, start, ago in
                            zip(episodes.successes, episodes.start_angles, episodes.started_ago) if abs(start - angle) < 1e-9]

    def next_block(self) -> list[int] | None:
        """The successes of the next `size` or more trials in start order (all that started at the step of
        the last one too, so a tie is not split by end order), or None while too few are complete."""
        ready = sorted((t for t in self.trials if t[0] < self.horizon), key=lambda t: t[0])
        if len(ready) < self.size:
            return None
        cut = self.size
        while cut < len(ready) and ready[cut][0] == ready[cut - 1][0]:
            cut += 1
        last_start = ready[cut - 1][0]
        self.trials = [t for t in self.trials if t[0] > last_start]
        return [s for _, s in ready[:cut]]

    def clear(self) -> None:
        self.trials = []

    def state(self) -> dict:
        return {"clock": self.clock, "horizon": self.horizon, "trials": list(self.trials)}

    def restore(self, state: dict) -> None:
        self.clock, self.horizon, self.trials = state["clock"], state["horizon"], [tuple(t) for t in state["trials"]]


def with_goals(config: TrainConfig, angle: float, world_axis_weights: tuple[float, ...] | None = None) -> TrainConfig:
    """`config` with its environments' goals `angle` from the object (a curriculum stage), drawn about the
    signed world axes with these weights where given."""
    goals = {"goal_mode": "nearby", "nearby_goal_angle": angle}
    if world_axis_weights is not None:
        goals["world_axis_weights"] = list(world_axis_weights)
    return merge(config, {"env": {"overrides": {"task": goals}}})


def direction_weights(goals_by_direction: np.ndarray) -> tuple[float, ...]:
    """One weight per task.SIGNED_AXES direction from recent goals reached (row 0) and missed (row 1):
    the fraction missed, 1 for a direction not yet seen, and at least MIN_DIRECTION_WEIGHT so that no
    direction a policy has mastered goes unpractised (and is forgotten)."""
    reached, missed = goals_by_direction
    ended = reached + missed
    missed_fraction = np.divide(missed, ended, out=np.ones(len(ended)), where=ended > 0)
    return tuple(float(w) for w in np.maximum(missed_fraction, MIN_DIRECTION_WEIGHT))


class LocalRollouts:
    """One rollout worker in this process: the single-process mode (tests, debugging)."""

    def __init__(self, config: TrainConfig, iteration: int, snapshots: list[dict] | None = None):
        self.worker = RolloutWorker(config, worker_seed(config.run.seed, 0, iteration))
        self.num_workers = 1
        self.restored = restore_snapshots([self.worker.restore], snapshots, config)

    def collect(self, policy_params: dict, value_params: dict, steps: int):
        return self.worker.collect_with((policy_params, value_params), steps)

    def set_goals(self, angle: float, world_axis_weights: tuple[float, ...] | None) -> None:
        self.worker.set_goals(angle, world_axis_weights)

    def snapshots(self) -> list[dict]:
        return [self.worker.snapshot()]

    def close(self) -> None:
        self.worker.close()


def restore_snapshots(restorers: list, snapshots: list[dict] | None, config: TrainConfig) -> bool:
    """Continue the checkpoint's trials when the workers match it; otherwise they start fresh trials."""
    if not snapshots or len(snapshots) != len(restorers):
        return False
    env_config = load_env_config(config.env.object, config.env.randomization, config.env.overrides)
    if any(s["env"]["num_envs"] != config.env.num_envs or s["env"]["attributes"]["config"] != env_config for s in snapshots):
        return False
    model = build_scene(env_config.scene, physics_only=True).model  # what the workers' environments step
    if any(layout_differences(s["env"], model) for s in snapshots):
        return False
    for restore, snapshot in zip(restorers, snapshots):
        restore(snapshot)
    return True


class Trainer:
    def __init__(self, config: TrainConfig | None, out_dir: str | Path, resume_from: str | Path | None = None,
                 address: str | None = None, progress: bool = True, restart_curriculum: bool = False):
        """`restart_curriculum`: take the networks, optimiser and counters from `resume_from` but start the
        curriculum afresh at the config's `start_angle` (a new goal setting for a trained policy)."""
        self.out_dir = Path(out_dir)
        checkpoint = read_checkpoint(resume_from) if resume_from else None
        self.config = resume_config(checkpoint, config) if checkpoint else config
        if self.config is None:
            raise ValueError("give a config or a checkpoint to resume")
        run = self.config.run
        self.progress = progress
        if run.torch_threads:
            torch.set_num_threads(run.torch_threads)
        torch.manual_seed(run.seed)
        self.device = pick_device(run.device)
        policy, value = build_networks(self.config, value_layout(len(PARAMETER_NAMES)).size)
        self.generator = torch.Generator().manual_seed(run.seed)
        self.learner = Learner(policy, value, self.config.ppo, self.device, self.generator)
        self.iteration, self.env_steps, self.wall_time = 0, 0, 0.0
        self.recent_successes: deque[int] = deque(maxlen=SUCCESS_WINDOW)
        curriculum = self.config.curriculum
        self.goal_angle = curriculum.start_angle if curriculum.enabled else None  # the curriculum's stage
        self.stage_trials = StageTrials(curriculum.trials)
        # (2, 6) goals reached and missed per direction lately, faded to about `direction_window` goals
        self.direction_goals = np.zeros((2, len(task.SIGNED_AXES)))
        if checkpoint:
            self._restore(checkpoint, keep_curriculum=not restart_curriculum)
        if self.goal_angle is not None:
            self.config = with_goals(self.config, self.goal_angle, self.world_axis_weights)
        self.address = address
        self.stop_requested = False
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "config.yaml").write_text(dump_yaml(self.config))
        self.rollouts = self._make_rollouts(checkpoint.get("workers") if checkpoint else None)
        if checkpoint and not self.rollouts.restored:
            tqdm.write("the checkpoint's trials cannot continue here (other workers or environments, another env "
                       "config, or a checkpoint from before the physics-only scene): environments start fresh trials")

    # ------------------------------------------------------------------------------ state in and out

    def state(self) -> dict:
        policy, value = self.learner.cpu_state_dicts()
        return {
            "config": to_dict(self.config), "policy": policy, "value": value,
            "optimizer": self.learner.optimizer.state_dict(),
            "iteration": self.iteration, "env_steps": self.env_steps, "wall_time": self.wall_time,
            "learner_rng": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "recent_successes": list(self.recent_successes),
            "goal_angle": self.goal_angle, "stage_trials": self.stage_trials.state(),
            "direction_goals": self.direction_goals.copy(),
            "workers": self.rollouts.snapshots(),
        }

    def _restore(self, data: dict, keep_curriculum: bool) -> None:
        self.learner.policy.load_state_dict(data["policy"])
        self.learner.value.load_state_dict(data["value"])
        self.learner.optimizer.load_state_dict(data["optimizer"])
        for group in self.learner.optimizer.param_groups:  # a resumed run may change the learning rate
            group["lr"] = self.config.ppo.learning_rate
        self.generator.set_state(data["learner_rng"])
        torch.set_rng_state(data["torch_rng"])
        self.iteration, self.env_steps, self.wall_time = data["iteration"], data["env_steps"], data["wall_time"]
        self.recent_successes.extend(data["recent_successes"])
        if keep_curriculum and self.goal_angle is not None and data.get("goal_angle") is not None:  # its stage
            self.goal_angle = data["goal_angle"]
            if "stage_trials" in data:
                self.stage_trials.restore(data["stage_trials"])
            else:  # before 2026-12-04: the stage's trials in the order they ended, judged first
                self.stage_trials.trials = [(-1, s) for s in data["stage_successes"]]
            self.direction_goals = data.get("direction_goals", self.direction_goals)  # absent before 2026-12-03

    def _collect(self, policy_params: dict, value_params: dict):
        """A rollout with these parameters (copied by the caller: the learner may be changing them)."""
        return self.rollouts.collect(policy_params, value_params, self.config.ppo.rollout_steps)

    def _advance_curriculum(self) -> None:
        """Next stage when a block of `trials` trials at this one (in the order they started, StageTrials)
        averaged `promote_at` successes. Blocks are disjoint, each judged once: a window sliding by one
        iteration was judged ~10 times per block's worth of trials, so a stage whose mean sat ~2 standard
        errors below the bar was promoted by noise. Called
        only while no rollout is being collected, so a stage starts at the same step in every rerun."""
        curriculum = self.config.curriculum
        if self.goal_angle is None or self.goal_angle >= curriculum.end_angle:
            return
        block = self.stage_trials.next_block()
        if block is None or np.mean(block) < curriculum.promote_at:
            return
        self.stage_trials.clear()
        self.goal_angle = min(curriculum.end_angle, round(self.goal_angle + curriculum.angle_step, 6))  # 0.35 + 0.05 is 0.4
        self._set_goals()
        tqdm.write(f"curriculum: iteration {self.iteration}, goals now {self.goal_angle:.2f} rad from the object")

    @property
    def world_axis_weights(self) -> tuple[float, ...] | None:
        return direction_weights(self.direction_goals) if self.config.curriculum.weight_directions else None

    def _weigh_directions(self, episodes: EpisodeStats) -> None:
        """Count the rollout's goals by direction, fade the counts to about `direction_window` goals, and
        draw the next goals' directions by how often each was missed."""
        if not self.config.curriculum.weight_directions:
            return
        self.direction_goals += episodes.goals_by_direction
        self.direction_goals *= min(1.0, self.config.curriculum.direction_window / max(self.direction_goals.sum(), 1.0))
        self._set_goals()

    def _set_goals(self) -> None:
        self.config = with_goals(self.config, self.goal_angle, self.world_axis_weights)
        self.rollouts.set_goals(self.goal_angle, self.world_axis_weights)

    def save(self) -> Path:
        return save_checkpoint(self.out_dir / CHECKPOINT_NAME, self.state())

    def _make_rollouts(self, snapshots: list[dict] | None):
        if self.config.run.workers == 0:
            return LocalRollouts(self.config, self.iteration, snapshots)
        from .ray_rollouts import RayRollouts

        return RayRollouts(self.config, self.iteration, self.address, snapshots)

    # ------------------------------------------------------------------------------------ the loop

    def run(self, max_iterations: int | None = None) -> dict:
        """Train until `total_env_steps` (or `max_iterations` more iterations, or a stop signal)."""
        config = self.config
        writer = _tensorboard(self.out_dir)
        log = (self.out_dir / "progress.jsonl").open("a")
        handlers = _install_stop_handlers(self)
        bar = tqdm(total=config.run.total_env_steps, initial=min(self.env_steps, config.run.total_env_steps),
                   unit="step", unit_scale=True, disable=not self.progress, dynamic_ncols=True)
        done_iterations, last = 0, {}
        steps_per_iteration = config.ppo.rollout_steps * config.env.num_envs * self.rollouts.num_workers
        collector = ThreadPoolExecutor(1, thread_name_prefix="rollout") if config.run.overlap else None
        pending = None  # the next rollout, collected during this update with the parameters before it

        def wanted(after: int) -> bool:
            """Will there be an iteration after `after` more ones?"""
            return (self.env_steps + after * steps_per_iteration < config.run.total_env_steps
                    and not self.stop_requested
                    and (max_iterations is None or done_iterations + after < max_iterations))

        try:
            while pending is not None or wanted(0):
                started = time.perf_counter()
                rollout = pending.result() if pending is not None else self._collect(*self.learner.cpu_state_dicts())
                collected = time.perf_counter()
                pending = None
                self.stage_trials.add(rollout.episodes, self.goal_angle, config.ppo.rollout_steps)
                self._advance_curriculum()
                self._weigh_directions(rollout.episodes)
                # Overlap the next rollout with this update, except before a checkpoint (so that a
                # checkpoint never holds experience not yet learned from, and resumes are exact).
                if collector is not None and wanted(1) and (self.iteration + 1) % config.run.checkpoint_every:
                    pending = collector.submit(self._collect, *self.learner.cpu_state_dicts())
                stats = self.learner.update(rollout)
                finished = time.perf_counter()

                self.iteration += 1
                done_iterations += 1
                self.env_steps += rollout.num_steps
                self.wall_time += finished - started
                self.recent_successes.extend(rollout.episodes.successes)
                stats.update(describe_episodes(rollout.episodes))
                stats.update({
                    "reward/mean_step": float(rollout.rewards.mean()),
                    "episode/goals_reached_per_1k_steps": 1000.0 * rollout.episodes.goals_reached / rollout.num_steps,
                    "perf/env_steps_per_s": rollout.num_steps / (finished - started),
                    "perf/rollout_fraction": (collected - started) / (finished - started),
                    "perf/workers": float(self.rollouts.num_workers),
                })
                if self.goal_angle is not None:
                    stats["curriculum/goal_angle"] = self.goal_angle
                for name, weight in zip(task.SIGNED_AXES, self.world_axis_weights or ()):
                    stats[f"curriculum/weight_{name}"] = weight
                if self.recent_successes:
                    stats["episode/successes_running_mean"] = float(np.mean(self.recent_successes))
                for key, value in stats.items():
                    writer.add_scalar(key, value, self.env_steps)
                log.write(json.dumps({"iteration": self.iteration, "env_steps": self.env_steps,
                                      "wall_time": round(self.wall_time, 3), **stats}) + "\n")
                log.flush()
                bar.update(rollout.num_steps)
                bar.set_postfix(steps_s=f"{stats['perf/env_steps_per_s']:.0f}",
                                successes=f"{stats.get('episode/successes_running_mean', 0.0):.2f}",
                                reward=f"{stats['reward/mean_step']:+.3f}",
                                **({"goal_angle": f"{self.goal_angle:.2f}"} if self.goal_angle is not None else {}))
                last = stats
                if self.iteration % config.run.checkpoint_every == 0:
                    self.save()
        finally:
            if pending is not None and not pending.cancel():
                pending.exception()  # wait: the snapshot in the checkpoint must not be taken mid-rollout
            if collector is not None:
                collector.shutdown()
            self.save()
            bar.close()
            writer.close()
            log.close()
            _restore_handlers(handlers)
        return {"iteration": self.iteration, "env_steps": self.env_steps, "wall_time": self.wall_time,
                "stopped": self.stop_requested, **last}

    def close(self) -> None:
        self.rollouts.close()


def _tensorboard(out_dir: Path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(out_dir / "tensorboard"))


def _install_stop_handlers(trainer: Trainer):
    """SIGTERM / Ctrl-C finish the current iteration, checkpoint and return (a second Ctrl-C aborts)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def request_stop(signum, frame):
        if trainer.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        trainer.stop_requested = True
        tqdm.write(f"{signal.Signals(signum).name}: stopping after this iteration and writing a checkpoint")

    return {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore_handlers(handlers: dict) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
