"""Offscreen rendering of the scene's cameras (OSMesa on CPU, EGL on a GPU; see dactyl_core/__init__)."""
from __future__ import annotations

import mujoco
import numpy as np

from .scene import GOAL_GEOM_GROUP, MARKER_SITE_GROUP, Scene


class CameraRenderer:
    """Renders the three pose cameras (RGB or per-pixel geom ids) and free viewpoints for people.

    The pose cameras never see the goal display or the markers: they show what real cameras would.
    """

    def __init__(self, scene: Scene, show_goal: bool = False):
        self.scene = scene
        sizes = {(c.height, c.width) for c in scene.config.cameras}
        self._renderers = {hw: mujoco.Renderer(scene.model, *hw) for hw in sizes}
        self._size_of = {c.name: (c.height, c.width) for c in scene.config.cameras}
        self.options = mujoco.MjvOption()
        self.options.geomgroup[GOAL_GEOM_GROUP] = int(show_goal)
        self.options.geomgroup[4] = 0  # collision geometry
        self.options.sitegroup[:] = 0
        self.options.sitegroup[MARKER_SITE_GROUP] = 0

    def rgb(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        renderer = self._renderer(camera)
        renderer.disable_segmentation_rendering()
        renderer.update_scene(data, camera=camera, scene_option=self.options)
        return renderer.render()

    def rgb_all(self, data: mujoco.MjData) -> dict[str, np.ndarray]:
        return {name: self.rgb(data, name) for name in self.scene.cameras}

    def segmentation(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        """(H, W) geom id per pixel, -1 for background."""
        renderer = self._renderer(camera)
        renderer.enable_segmentation_rendering()
        renderer.update_scene(data, camera=camera, scene_option=self.options)
        seg = renderer.render()
        renderer.disable_segmentation_rendering()
        ids = seg[..., 0].astype(np.int64)
        ids[seg[..., 1] != int(mujoco.mjtObj.mjOBJ_GEOM)] = -1
        return ids

    def object_mask(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        """Pixels showing the object (any geom of the object body)."""
        ids = self.segmentation(data, camera)
        object_geoms = np.flatnonzero(self.scene.model.geom_bodyid == self.scene.object_body)
        return np.isin(ids, object_geoms)

    def free_view(self, data: mujoco.MjData, lookat, distance: float, azimuth: float, elevation: float,
                  size: tuple[int, int] = (480, 640), show_goal: bool = True) -> np.ndarray:
        key = tuple(size)
        if key not in self._renderers:
            self._renderers[key] = mujoco.Renderer(self.scene.model, *key)
        renderer = self._renderers[key]
        cam = mujoco.MjvCamera()
        cam.lookat[:] = lookat
        cam.distance, cam.azimuth, cam.elevation = distance, azimuth, elevation
        options = mujoco.MjvOption()
        options.geomgroup[:] = self.options.geomgroup
        options.geomgroup[GOAL_GEOM_GROUP] = int(show_goal)
        options.sitegroup[:] = 0
        renderer.disable_segmentation_rendering()
        renderer.update_scene(data, camera=cam, scene_option=options)
        return renderer.render()

    def upload_texture(self, texture_id: int) -> None:
        """Send a texture whose `model.tex_data` was changed (visual randomization) to every GL context."""
        for renderer in self._renderers.values():
            if renderer._gl_context:  # mujoco.Renderer keeps its context private; it must be current here
                renderer._gl_context.make_current()
            mujoco.mjr_uploadTexture(self.scene.model, renderer._mjr_context, texture_id)

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    def _renderer(self, camera: str) -> mujoco.Renderer:
        if camera not in self._size_of:
            raise KeyError(f"unknown camera {camera!r}; the scene has {list(self._size_of)}")
        return self._renderers[self._size_of[camera]]
