"""The gymnasium-robotics baseline of `dactyl bench-sim`: HandManipulateBlock-v1 at our 80 ms control period.

gymnasium-robotics' environment code fails on MuJoCo 4 (which we use), so the baseline runs in its own
virtual environment, `.venv-gymnasium/`, with the last MuJoCo it supports (3.3.7). This file is both the
driver (imported by the bench, stdlib only at import time) and the worker script that runs inside that
environment (`python gymnasium_baseline.py --processes P` reads a measurement length in seconds per stdin line
and prints one JSON line per measurement).

The environment is made with n_substeps=40 at its 2 ms timestep (= 80 ms per step). Its constructor
asserts that metadata["render_fps"] equals 1/dt, which only holds for its default 20 substeps, so the
worker sets render_fps to 1/0.08 (rounded as the assertion rounds) before making it; nothing renders.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BASELINE_VENV = ".venv-gymnasium"
ENV_ID = "HandManipulateBlock-v1"
N_SUBSTEPS = 40  # x 2 ms = 80 ms, our control period
#: Pinned so the baseline is the same everywhere; mujoco 3.3.7 is the newest its env code runs on.
REQUIREMENTS = ["mujoco==3.3.7", "gymnasium==1.4.0", "gymnasium-robotics==1.4.2", "numpy==2.4.6"]


class BaselineUnavailable(RuntimeError):
    """The baseline environment could not be built or run; the message says what to do."""


def _python(root: Path) -> Path:
    return root / BASELINE_VENV / "bin" / "python"


def ensure_baseline_venv(root: Path, log=print) -> Path:
    """Create `.venv-gymnasium/` under `root` on first use (a minute); later calls return at once."""
    python, stamp = _python(root), root / BASELINE_VENV / ".requirements"
    wanted = "\n".join(REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    log(f"[bench-sim] building the gymnasium-robotics baseline environment in {root / BASELINE_VENV}/ "
        f"({', '.join(REQUIREMENTS)})")
    steps = [[sys.executable, "-m", "venv", str(root / BASELINE_VENV)],
             [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *REQUIREMENTS]]
    for command in steps:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise BaselineUnavailable(f"could not build {BASELINE_VENV}/ ({' '.join(command[:4])} ...): "
                                      f"{done.stderr.strip()[-800:]}\nRun with --skip-gymnasium to measure without it.")
    stamp.write_text(wanted)
    return python


class GymnasiumBaseline:
    """A running baseline worker: `processes` environments made once, measured whenever `run` is called.

    Kept alive between measurements so that `dactyl bench-sim` can interleave it with ours in short slices.
    """

    def __init__(self, processes: int, root: Path):
        if not _python(root).exists():
            raise BaselineUnavailable(f"the gymnasium-robotics baseline failed: no {root / BASELINE_VENV}/ "
                                      "(ensure_baseline_venv builds it; `dactyl bench-sim` does so on first use)")
        self.processes = processes
        self._worker = subprocess.Popen([str(_python(root)), str(Path(__file__).resolve()), "--processes", str(processes)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def measure(self, seconds: float) -> dict:
        """Step every environment for `seconds`, in parallel; the worker's JSON report."""
        try:
            self._worker.stdin.write(f"{seconds}\n")
            self._worker.stdin.flush()
        except BrokenPipeError:
            pass  # the worker died; its stderr says why
        line = self._worker.stdout.readline()
        if not line:
            self._worker.wait(timeout=10)
            raise BaselineUnavailable(f"the gymnasium-robotics baseline failed: {self._worker.stderr.read().strip()[-800:]}")
        return json.loads(line)

    def run(self, seconds: float) -> float:
        """Control steps per second of all processes together."""
        return self.measure(seconds)["control_steps_per_s"]

    def close(self) -> None:
        if self._worker.poll() is None:
            self._worker.stdin.close()
            try:
                self._worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._worker.kill()


# --- worker side: runs inside .venv-gymnasium -------------------------------------------------------------

def _make_env():
    import gymnasium as gym
    import gymnasium_robotics
    import numpy as np
    from gymnasium_robotics.envs.robot_env import MujocoRobotEnv

    gym.register_envs(gymnasium_robotics)
    dt = 0.002 * N_SUBSTEPS
    MujocoRobotEnv.metadata = {**MujocoRobotEnv.metadata, "render_fps": int(np.round(1.0 / dt))}
    env = gym.make(ENV_ID, n_substeps=N_SUBSTEPS)
    assert abs(env.unwrapped.dt - dt) < 1e-9, env.unwrapped.dt
    return env


def _serve(connection, seed: int) -> None:
    """One process: make the environment once, then step it for as long as each request says."""
    env = _make_env()
    env.reset(seed=seed)
    env.action_space.seed(seed)
    while (seconds := connection.recv()) is not None:
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:  # uniformly random actions, resets included, like ours
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            steps += 1
            if terminated or truncated:
                env.reset()
        connection.send(steps / (time.perf_counter() - start))


def _worker_main() -> None:
    """Read one measurement length in seconds per stdin line; print one JSON line per measurement."""
    from multiprocessing import Pipe, Process

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, required=True)
    args = parser.parse_args()
    connections, processes = [], []
    for seed in range(args.processes):
        ours, theirs = Pipe()
        processes.append(Process(target=_serve, args=(theirs, seed), daemon=True))
        processes[-1].start()
        connections.append(ours)
    for line in sys.stdin:
        for connection in connections:
            connection.send(float(line))
        rates = [connection.recv() for connection in connections]
        print(json.dumps({"env": ENV_ID, "n_substeps": N_SUBSTEPS, "processes": args.processes,
                          "per_process": rates, "control_steps_per_s": sum(rates)}), flush=True)
    for connection in connections:
        connection.send(None)
    for process in processes:
        process.join()


if __name__ == "__main__":
    _worker_main()
