"""An MP4 of a policy's trials, for people: environment 0 of an evaluation, one frame per control step (so
it plays in real time), the goal shown as a translucent block beside the hand, and a caption with the trial,
its consecutive successes and the angle left to the goal."""
from __future__ import annotations

from pathlib import Path

import cv2
import mujoco
import numpy as np

from . import task
from .env import DactylEnv, StepResult
from .render import CameraRenderer
from .scene import build_scene

VIEW = {"distance": 0.38, "azimuth": 160.0, "elevation": -35.0}  # the palm, the fingers and the goal in one frame
END_CARD_SECONDS = 1.0  # the last frame of a trial stays this long, captioned with how the trial ended


class TrialVideo:
    """Renders environment 0 of `env` after every step until it has finished `trials` trials: with one
    environment the evaluation's first trials, with N about every N-th."""

    def __init__(self, env: DactylEnv, path: str | Path, trials: int = 3, size: tuple[int, int] = (360, 480)):
        if trials < 1:
            raise ValueError(f"video trials must be at least 1, got {trials}")
        self.env, self.path, self.trials_left = env, Path(path), trials
        self.scene = build_scene(env.config.scene)  # the env's scene has no visual meshes
        self.data = self.scene.make_data()
        self.renderer = CameraRenderer(self.scene)
        self.size = size
        self.fps = 1.0 / self.scene.control_period
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (size[1], size[0]))
        if not self.writer.isOpened():
            raise RuntimeError(f"cannot write an MP4 video to {self.path} (OpenCV's mp4v encoder)")
        self.lookat = (self.scene.initial_object_qpos[:3] + self.data.mocap_pos[self.scene.goal_mocap]) / 2
        self.trial, self.frames, self.last_frame = 0, 0, None

    @property
    def recording(self) -> bool:
        return self.trials_left > 0

    def record(self, step: StepResult | None, trial: int) -> None:
        """Add the frame after `step` (None: the first after the reset); environment 0 now runs the evaluation's
        `trial` (0-based; -1: one past the K that are counted)."""
        if not self.recording:
            return
        if step is not None and step.done[0] and self.last_frame is not None:
            reason = task.DONE_REASONS[step.done_reason[0]]
            self._write(self.last_frame, f"{self._name(self.trial)}: {step.successes[0]} consecutive successes "
                                         f"({reason})", repeat=round(END_CARD_SECONDS * self.fps))
            self.trials_left -= 1
            if not self.recording:
                return
        self.trial = trial
        env = self.env
        self.data.qpos[:] = env.physics.qpos[0]
        self.scene.set_goal_display(self.data, env.goal[0])
        mujoco.mj_kinematics(self.scene.model, self.data)
        self.last_frame = self.renderer.free_view(self.data, self.lookat, size=self.size, **VIEW)
        self._write(self.last_frame, f"{self._name(self.trial)}   successes {env.counters.successes[0]}   "
                                     f"goal {np.degrees(env.distance[0]):.0f} deg away")

    @staticmethod
    def _name(trial: int) -> str:
        return f"trial {trial + 1}" if trial >= 0 else "uncounted trial"

    def _write(self, rgb: np.ndarray, caption: str, repeat: int = 1) -> None:
        frame = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        cv2.putText(frame, caption, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        for _ in range(repeat):
            self.writer.write(frame)
        self.frames += repeat

    def close(self) -> None:
        self.writer.release()
        self.renderer.close()
