"""Render frame sets for the pose estimator from rollouts of the randomized manipulation environment.

The object poses are the ones the task produces: N environments of `DactylEnv` (physics randomization
on) are driven by simple policies (hold still, uniformly random bins, random bins held for a few steps),
so the block rests, rolls, is pushed by the fingers, falls and restarts in random orientations. Every
`frame_every` control steps each environment whose object is on the hand gives one frame set: its state
is copied into a render model, the visual randomization draws afresh, the three cameras render, and the
images get sensor noise. Shard k depends only on (seed, k), so the output is deterministic, a stopped
run resumes, and shards can be rendered by several processes.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from .. import rotations
from ..config import to_dict
from ..env import DactylEnv, load_env_config
from ..render import CameraRenderer
from ..scene import PALM_BODY
from .dataset import FORMAT_VERSION, DatasetError, check_shard, read_manifest, write_manifest, write_shard
from .randomization import VisualRandomization, VisualRandomizer, build_render_scene, load_visual_randomization

POLICY_MODES = ("hold", "random", "sticky")  # middle bin; a fresh random bin per step; random bins held 3-10 steps
POLICY_PROBABILITIES = (0.15, 0.5, 0.35)
IN_HAND_MIN_HEIGHT = 0.13  # m, world z of the object centre (palm surface ~0.14, drop at 0.1)
IN_HAND_MAX_RADIUS = 0.12  # m, horizontal distance from the object's start position


@dataclass(frozen=True)
class RenderJob:
    out: str
    sets: int
    shard_size: int = 256
    seed: int = 0
    object: str = "block"
    randomize: bool = True  # visual randomization; False renders the nominal look
    physics_randomization: str = "all"  # preset of the environment that produces the poses
    envs: int = 4
    frame_every: int = 3  # control steps between frame sets of one environment
    warmup_steps: int = 5  # control steps after a shard's reset before the first frame set

    @property
    def num_shards(self) -> int:
        return math.ceil(self.sets / self.shard_size)

    def shard_sets(self, index: int) -> int:
        return min(self.shard_size, self.sets - index * self.shard_size)

    def identity(self) -> dict:
        """What must match for a folder to be resumed by this job."""
        return {k: getattr(self, k) for k in ("shard_size", "seed", "object", "randomize", "physics_randomization",
                                               "envs", "frame_every", "warmup_steps")}


class FrameSetRenderer:
    """One process's environment, render scene, renderer and visual randomizer."""

    def __init__(self, job: RenderJob, visual: VisualRandomization):
        self.job = job
        env_config = load_env_config(job.object, job.physics_randomization)
        self.env = DactylEnv(env_config, num_envs=job.envs, seed=job.seed, num_threads=1)
        self.scene = build_render_scene(env_config.scene)
        self.model, self.data = self.scene.model, self.scene.make_data()
        self.renderer = CameraRenderer(self.scene)
        self.visual = VisualRandomizer(self.scene, self.renderer, dataclasses.replace(visual, enabled=job.randomize))
        self.cameras = list(self.scene.cameras)
        self.camera_ids = np.array(list(self.scene.cameras.values()))
        self.object_geoms = np.flatnonzero(self.model.geom_bodyid == self.scene.object_body)
        # The environment's scene has no visual meshes, so its geom indices differ from the render scene's.
        self.env_object_geoms = np.flatnonzero(self.env.nominal_model.geom_bodyid == self.env.scene.object_body)
        self.palm = self.model.body(PALM_BODY).id
        self.num_bins = env_config.actions.num_bins
        self.start_xy = self.scene.initial_object_qpos[:2]

    def render_shard(self, index: int, progress=None) -> dict[str, np.ndarray]:
        job, env = self.job, self.env
        count = job.shard_sets(index)
        rng = np.random.default_rng([job.seed, index])
        env.rng = np.random.default_rng([job.seed, index, 1])
        env.reset()
        modes = rng.choice(len(POLICY_MODES), job.envs, p=POLICY_PROBABILITIES)
        held = np.full((job.envs, 20), self.num_bins // 2)
        hold_left = np.zeros(job.envs, int)
        records: list[dict] = []
        step = 0
        while len(records) < count:
            actions = self._actions(modes, held, hold_left, rng)
            result = env.step(actions)
            step += 1
            if result.done.any():
                modes[result.done] = rng.choice(len(POLICY_MODES), int(result.done.sum()), p=POLICY_PROBABILITIES)
            if step < job.warmup_steps or step % job.frame_every:
                continue
            for i in range(job.envs):
                if len(records) == count:
                    break
                position = env.physics.qpos[i, self.scene.object_qpos][:3]
                if result.done[i] or not self._in_hand(position):
                    continue
                records.append(self.frame_set(i, rng))
                if progress:
                    progress(1)
        return {key: np.stack([r[key] for r in records]) for key in records[0]}

    def _actions(self, modes, held, hold_left, rng) -> np.ndarray:
        n = self.job.envs
        actions = np.full((n, 20), self.num_bins // 2)
        fresh = rng.integers(0, self.num_bins, (n, 20))
        random = modes == POLICY_MODES.index("random")
        actions[random] = fresh[random]
        sticky = modes == POLICY_MODES.index("sticky")
        renew = sticky & (hold_left <= 0)
        held[renew] = fresh[renew]
        hold_left[renew] = rng.integers(3, 11, int(renew.sum()))
        hold_left[sticky] -= 1
        actions[sticky] = held[sticky]
        return actions

    def _in_hand(self, position: np.ndarray) -> bool:
        return position[2] > IN_HAND_MIN_HEIGHT and np.linalg.norm(position[:2] - self.start_xy) < IN_HAND_MAX_RADIUS

    def frame_set(self, i: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Render environment i's current state with a fresh visual draw; the images and their labels."""
        m, d, env = self.model, self.data, self.env
        d.qpos[:] = env.physics.qpos[i]
        for name in ("geom_size", "geom_rbound"):  # the environment's object-size draw
            getattr(m, name)[self.object_geoms] = getattr(env.models[i], name)[self.env_object_geoms]
        draw = self.visual.apply(rng)
        mujoco.mj_kinematics(m, d)
        mujoco.mj_camlight(m, d)
        images = [self.visual.degrade(self.renderer.rgb(d, camera), rng)[0] for camera in self.cameras]
        position = d.xpos[self.scene.object_body].copy()
        quat = rotations.canonical(d.xquat[self.scene.object_body].copy())
        palm_rotation = d.xmat[self.palm].reshape(3, 3)
        return {
            "images": np.stack(images),
            "position_world": position,
            "quat_world": quat,
            "position_hand": palm_rotation.T @ (position - d.xpos[self.palm]),
            "quat_hand": rotations.canonical(rotations.multiply(rotations.conjugate(d.xquat[self.palm]), quat)),
            "camera_pos": d.cam_xpos[self.camera_ids].copy(),
            "camera_quat": rotations.from_matrix(d.cam_xmat[self.camera_ids].reshape(-1, 3, 3)),
            "camera_fovy": m.cam_fovy[self.camera_ids].copy(),
            "face_colours": draw.face_colours,
            "lights_on": np.int64(draw.lights_on),
        }

    def close(self) -> None:
        self.renderer.close()
        self.env.close()


def new_manifest(job: RenderJob, renderer_cameras: list[str], scene, visual: VisualRandomization) -> dict:
    cam = scene.config.cameras[0]
    return {
        "format_version": FORMAT_VERSION,
        "object": job.object,
        "cameras": renderer_cameras,
        "image_height": cam.height,
        "image_width": cam.width,
        "job": job.identity(),
        "requested_sets": job.sets,
        "visual_randomization": to_dict(dataclasses.replace(visual, enabled=job.randomize)),
        "nominal_cameras": [to_dict(c) for c in scene.config.cameras],
        "labels": {
            "position_world": "object centre, world frame, m",
            "quat_world": "object orientation, world frame, (w, x, y, z), w >= 0",
            "position_hand": f"object centre in the {PALM_BODY} body frame, m",
            "quat_hand": f"object orientation in the {PALM_BODY} body frame, (w, x, y, z), w >= 0",
            "camera_pos": "each camera's position as rendered (jittered), world frame, m",
            "camera_quat": "each camera's orientation as rendered, world frame, MuJoCo convention (looks along -z, y up)",
            "camera_fovy": "vertical field of view as rendered, degrees",
            "face_colours": "the object's face colours as drawn, RGB uint8, documented face order",
        },
        "shards": [],
        "total_sets": 0,
    }


_worker: FrameSetRenderer | None = None


def _init_worker(job: RenderJob, visual: VisualRandomization) -> None:
    global _worker
    _worker = FrameSetRenderer(job, visual)


def _render_in_worker(index: int) -> tuple[int, dict[str, np.ndarray]]:
    return index, _worker.render_shard(index)


def render_dataset(job: RenderJob, visual: VisualRandomization | None = None, workers: int = 1, show_progress: bool = True) -> dict:
    """Render (or finish rendering) `job` into `job.out`; returns the final manifest."""
    from tqdm import tqdm

    visual = load_visual_randomization() if visual is None else visual
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    local = FrameSetRenderer(job, visual) if workers <= 1 else None
    if (out / "manifest.json").exists():
        manifest = read_manifest(out)
        if manifest["job"] != job.identity() or manifest["object"] != job.object:
            raise DatasetError(f"{out} holds a different render job {manifest['job']}; this one is {job.identity()}: "
                               "choose another folder")
    else:
        scene = (local or FrameSetRenderer(job, visual)).scene
        manifest = new_manifest(job, [c.name for c in scene.config.cameras], scene, visual)
    manifest["requested_sets"] = job.sets
    shape = (manifest["image_height"], manifest["image_width"])
    done = {e["index"]: e for e in manifest["shards"]
            if e["index"] < job.num_shards and e["sets"] == job.shard_sets(e["index"])
            and check_shard(out, e, len(manifest["cameras"]), shape) is None}
    todo = [k for k in range(job.num_shards) if k not in done]
    bar = tqdm(total=job.sets, initial=sum(e["sets"] for e in done.values()), unit="set", desc=f"render {out.name}",
               disable=not show_progress, file=sys.stderr, dynamic_ncols=True)

    def finish(index: int, arrays: dict[str, np.ndarray]) -> None:
        done[index] = write_shard(out, index, arrays)
        manifest["shards"] = [done[k] for k in sorted(done)]
        manifest["total_sets"] = sum(e["sets"] for e in manifest["shards"])
        write_manifest(out, manifest)

    try:
        if local is not None:
            for index in todo:
                finish(index, local.render_shard(index, progress=bar.update))
        else:
            import multiprocessing

            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_init_worker, initargs=(job, visual)) as pool:
                for future in as_completed([pool.submit(_render_in_worker, k) for k in todo]):
                    index, arrays = future.result()
                    finish(index, arrays)
                    bar.update(len(arrays["images"]))
    finally:
        bar.close()
        if local is not None:
            local.close()
    return manifest
