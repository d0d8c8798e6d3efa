"""Rollout workers on Ray: Rapid's shape (workers -> experience -> optimizer -> parameters -> workers).

Each worker is a Ray actor holding a `RolloutWorker` (its own batched environment). Every iteration the
learner puts the parameters into the object store once, all workers collect in parallel, and their
rollouts are joined along the environment axis. A worker that dies (its process killed, its node lost)
is replaced by a fresh one with a new seed, which collects again; the run goes on.
"""
from __future__ import annotations

import os

from tqdm import tqdm

from .config import TrainConfig
from .ppo import Rollout, RolloutWorker, merge_rollouts

MAX_REPLACEMENTS_PER_ITERATION = 3


def start_ray(address: str | None, attempts: int = 3) -> None:
    """Connect to the cluster at `address`, or start a local Ray instance on all cores.

    Ray gives its raylet a fixed 30 s to come up; on a loaded machine that can pass, so a local start is
    retried a few times."""
    import ray

    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                     configure_logging=True)
            return
        except ConnectionError as err:
            raise ConnectionError(f"{err}. A cluster started with `ray start` uses token authentication "
                                  "(Ray >= 2.59): set RAY_AUTH_MODE=token here, and RAY_AUTH_TOKEN unless "
                                  "the head node's token file is on this machine") from None
        except Exception as err:  # Ray raises a bare Exception for a slow start
            if "timed out during startup" not in str(err) or address is not None or attempt == attempts:
                raise
            tqdm.write(f"Ray did not start in time (attempt {attempt} of {attempts}); trying again")
            ray.shutdown()


class _RemoteWorker(RolloutWorker):
    def __init__(self, config: TrainConfig, seed: int, torch_threads: int):
        import torch

        torch.set_num_threads(max(1, torch_threads))
        super().__init__(config, seed)


def worker_config(config: TrainConfig, cpus: int) -> TrainConfig:
    """Split the cores between workers when the config leaves the physics thread count open."""
    from dactyl_core.config import merge

    if config.env.threads:
        return config
    return merge(config, {"env": {"threads": max(1, cpus // config.run.workers)}})


class RayRollouts:
    def __init__(self, config: TrainConfig, iteration: int, address: str | None = None,
                 snapshots: list[dict] | None = None):
        import ray

        from .train import restore_snapshots, worker_seed

        self.ray = ray
        if not ray.is_initialized():
            start_ray(address)
        cpus = int(ray.cluster_resources().get("CPU", os.cpu_count() or 1))
        self.config = worker_config(config, cpus)
        self.num_workers = config.run.workers
        self.actor = ray.remote(num_cpus=min(1.0, cpus / self.num_workers), max_restarts=0)(_RemoteWorker)
        self.iteration = iteration
        self.seed = lambda index, generation: worker_seed(config.run.seed, index, iteration, generation)
        self.generation = 0
        self.workers = [self._start(i) for i in range(self.num_workers)]
        self.replaced = 0
        self.restored = restore_snapshots([lambda s, w=w: ray.get(w.restore.remote(s)) for w in self.workers],
                                          snapshots, self.config)

    def _start(self, index: int):
        return self.actor.remote(self.config, self.seed(index, self.generation), self.config.run.torch_threads)

    def collect(self, policy_params: dict, value_params: dict, steps: int) -> Rollout:
        ray = self.ray
        parameters = ray.put((policy_params, value_params))
        pending = {i: w.collect_with.remote(parameters, steps) for i, w in enumerate(self.workers)}
        rollouts: dict[int, Rollout] = {}
        replacements = 0
        while pending:
            index, reference = next(iter(pending.items()))
            try:
                rollouts[index] = ray.get(reference)
                del pending[index]
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.ObjectLostError) as err:
                replacements += 1
                if replacements > MAX_REPLACEMENTS_PER_ITERATION:
                    raise RuntimeError(f"rollout workers keep dying ({replacements} this iteration): {err}") from err
                tqdm.write(f"rollout worker {index} died ({type(err).__name__}); starting a replacement")
                self.generation += 1
                self.replaced += 1
                self.workers[index] = self._start(index)
                pending[index] = self.workers[index].collect_with.remote(parameters, steps)
        return merge_rollouts([rollouts[i] for i in range(self.num_workers)])

    def set_goals(self, angle: float, world_axis_weights: tuple[float, ...] | None) -> None:
        from .train import with_goals

        self.config = with_goals(self.config, angle, world_axis_weights)  # replacement workers start with them too
        self.ray.get([w.set_goals.remote(angle, world_axis_weights) for w in self.workers])

    def snapshots(self) -> list[dict]:
        return self.ray.get([w.snapshot.remote() for w in self.workers])

    def worker_pids(self) -> list[int]:
        return self.ray.get([w.pid.remote() for w in self.workers])

    def close(self) -> None:
        for worker in self.workers:
            self.ray.kill(worker)
