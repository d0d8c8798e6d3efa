"""Visual domain randomization for the pose-estimation renders (config/vision_randomization.yaml).

Per frame set: object face colours and materials (each face keeps its identity: its hue stays nearest its
own nominal hue), hand colour and material, background (table and sky textures), the number, placement,
intensity and colour of lights, camera position/orientation/field of view around the calibrated pose,
and in the image: Gaussian noise, blur and JPEG compression. The randomizer always restores the nominal
model before a draw, so draws never accumulate, and `enabled: false` renders the nominal scene.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import mujoco
import numpy as np

from .. import rotations
from ..config import ConfigError, check_nonnegative, check_range, load
from ..randomization import small_rotation
from ..render import CameraRenderer
from ..scene import BLOCK_FACES, CONFIG_DIR, PRISM_FACE_COLOURS, Scene, SceneConfig, block_face_texture, build_spec

CONFIG_FILE = CONFIG_DIR / "vision_randomization.yaml"
Range = tuple[float, float]
EXTRA_LIGHTS = 4  # lights added to the render scene, switched on and off by the light-count draw
PALM_CENTRE = np.array([1.0, 0.87, 0.19])  # where the lights aim (the cameras' nominal target)


@dataclass(frozen=True)
class VisualRandomization:
    enabled: bool = True
    face_hue_jitter_deg: float = 8.0  # uniform +-, per face; nominal hues are >= 28 deg apart, so identity holds
    face_saturation_scale: Range = (0.75, 1.15)
    face_value_scale: Range = (0.65, 1.15)
    letter_value: Range = (0.7, 1.0)  # grey level of the letters
    object_specular: Range = (0.0, 0.6)
    object_shininess: Range = (0.0, 0.8)
    hand_colour: Range = (0.25, 1.0)  # uniform per RGB channel
    hand_specular: Range = (0.0, 0.5)
    hand_shininess: Range = (0.0, 0.8)
    background_colour: Range = (0.05, 0.95)  # uniform per RGB channel of the table's and sky's two colours
    light_count: tuple[int, int] = (1, 4)  # lights on, of the scene's two plus EXTRA_LIGHTS
    light_diffuse: Range = (0.25, 0.9)
    light_tint: float = 0.2  # +- per RGB channel around white
    ambient: Range = (0.05, 0.45)  # headlight ambient
    camera_position_sigma: float = 0.005  # m per axis (Gaussian, clipped at 3 sigma)
    camera_rotation_sigma_deg: float = 1.0
    camera_fovy_jitter_deg: float = 1.0  # uniform +-
    noise_sigma: Range = (0.0, 6.0)  # Gaussian pixel noise, grey levels
    blur_probability: float = 0.4
    blur_sigma: Range = (0.3, 1.2)  # px
    jpeg_probability: float = 0.7
    jpeg_quality: tuple[int, int] = (35, 95)

    def __post_init__(self):
        for name in ("face_saturation_scale", "face_value_scale", "letter_value", "object_specular", "object_shininess",
                     "hand_colour", "hand_specular", "hand_shininess", "background_colour", "light_diffuse", "ambient",
                     "noise_sigma", "blur_sigma"):
            check_range(f"vision_randomization.{name}", getattr(self, name), nonnegative=True)
        for name in ("face_hue_jitter_deg", "light_tint", "camera_position_sigma", "camera_rotation_sigma_deg",
                     "camera_fovy_jitter_deg"):
            check_nonnegative(f"vision_randomization.{name}", getattr(self, name))
        if self.face_hue_jitter_deg >= 14.0:
            raise ConfigError("vision_randomization.face_hue_jitter_deg: must stay below 14 deg (half the closest "
                              "pair of face hues, red and orange), or faces lose their identity")
        low, high = self.light_count
        if not 1 <= low <= high <= 2 + EXTRA_LIGHTS:
            raise ConfigError(f"vision_randomization.light_count: [{low}, {high}] must lie within [1, {2 + EXTRA_LIGHTS}]")
        for name in ("blur_probability", "jpeg_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"vision_randomization.{name}: must be a probability in [0, 1]")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ConfigError(f"vision_randomization.jpeg_quality: {list(self.jpeg_quality)} must lie within [1, 100], low <= high")


def load_visual_randomization(source=None) -> VisualRandomization:
    return load(VisualRandomization, CONFIG_FILE if source is None else source)


def build_render_scene(config: SceneConfig) -> Scene:
    """The task's scene plus EXTRA_LIGHTS lights (off by default) for light-count randomization."""
    spec, markers = build_spec(config)
    for k in range(EXTRA_LIGHTS):
        spec.worldbody.add_light(name=f"vision_light_{k}", type=mujoco.mjtLightType.mjLIGHT_SPOT, pos=[1.0, 0.6, 1.0],
                                 dir=[0.0, 0.3, -1.0], diffuse=[0.5, 0.5, 0.5], cutoff=70.0, castshadow=False, active=False)
    return Scene(config, spec.compile(), markers)


def nominal_face_colours(object_name: str) -> np.ndarray:
    """(F, 3) uint8 RGB: the object's faces in their documented order (block: +X, -X, +Y, -Y, +Z, -Z)."""
    colours = [c for _, c in BLOCK_FACES] if object_name == "block" else PRISM_FACE_COLOURS
    return np.array(colours, np.uint8)


def hue_distance_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Circular distance between hues (degrees) of RGB colours (..., 3) in [0, 255]."""
    def hue(rgb):
        flat = np.asarray(rgb, float).reshape(-1, 3) / 255.0
        return np.array([colorsys.rgb_to_hsv(*c)[0] * 360.0 for c in flat]).reshape(np.shape(rgb)[:-1])

    d = np.abs(hue(a) - hue(b)) % 360.0
    return np.minimum(d, 360.0 - d)


def jitter_face_colours(nominal: np.ndarray, config: VisualRandomization, rng: np.random.Generator) -> np.ndarray:
    """Each face's colour moved in hue, saturation and value within the configured bounds (uint8)."""
    out = np.empty_like(nominal)
    for i, rgb in enumerate(nominal / 255.0):
        h, s, v = colorsys.rgb_to_hsv(*rgb)
        h = (h + rng.uniform(-1, 1) * config.face_hue_jitter_deg / 360.0) % 1.0
        s = np.clip(s * rng.uniform(*config.face_saturation_scale), 0.0, 1.0)
        v = np.clip(v * rng.uniform(*config.face_value_scale), 0.0, 1.0)
        out[i] = np.round(np.array(colorsys.hsv_to_rgb(h, s, v)) * 255.0)
    return out


@dataclass
class VisualDraw:
    """What one draw set: recorded with every frame set so tests and analyses can check it."""

    face_colours: np.ndarray  # (F, 3) uint8
    hand_rgb: np.ndarray  # (3,)
    lights_on: int
    camera_fovy: np.ndarray  # (3,) deg
    image_effects: list[dict] = field(default_factory=list)  # per camera: noise, blur, jpeg


class VisualRandomizer:
    """Draws and applies visual randomization to a render scene's model (one per renderer)."""

    def __init__(self, scene: Scene, renderer: CameraRenderer, config: VisualRandomization):
        self.scene, self.renderer, self.config = scene, renderer, config
        m = self.model = scene.model
        self.object_name = scene.config.object
        self.camera_ids = np.array(list(scene.cameras.values()))
        self.nominal = {name: getattr(m, name).copy() for name in (
            "cam_pos", "cam_quat", "cam_fovy", "light_active", "light_pos", "light_dir", "light_diffuse",
            "light_specular", "light_type", "mat_rgba", "mat_specular", "mat_shininess", "geom_rgba", "tex_data")}
        self.nominal_headlight = (m.vis.headlight.ambient.copy(), m.vis.headlight.diffuse.copy())
        self.block_material = m.material("block_mat").id if self.object_name == "block" else -1
        self.block_texture = m.texture("block_tex").id if self.object_name == "block" else -1
        self.prism_face_geoms = np.array([m.geom(f"prism_face_{k}").id for k in range(10)]) if self.object_name == "prism" else None
        self.hand_material = m.material("robot0:MatViz").id
        self.table_texture = m.texture("table_tex").id
        self.sky_texture = int(np.flatnonzero(m.tex_type == mujoco.mjtTexture.mjTEXTURE_SKYBOX)[0])
        self.face_nominal = nominal_face_colours(self.object_name)
        self._textures_dirty = False

    # ---------------------------------------------------------------------------------------- model

    def restore(self, upload: bool = True) -> None:
        """Back to the nominal model; `upload=False` when a draw will rewrite the textures anyway."""
        m = self.model
        for name, value in self.nominal.items():
            getattr(m, name)[:] = value
        m.vis.headlight.ambient[:], m.vis.headlight.diffuse[:] = self.nominal_headlight
        if self._textures_dirty and upload:
            for tex in (self.block_texture, self.table_texture, self.sky_texture):
                if tex >= 0:
                    self.renderer.upload_texture(tex)
            self._textures_dirty = False

    def apply(self, rng: np.random.Generator) -> VisualDraw:
        """Restore the nominal scene, then (if enabled) apply a fresh draw."""
        self.restore(upload=not self.config.enabled)
        m, c = self.model, self.config
        if not c.enabled:
            return VisualDraw(self.face_nominal.copy(), m.mat_rgba[self.hand_material, :3].copy(),
                              int(m.light_active.sum()), m.cam_fovy[self.camera_ids].copy())
        faces = self._object(rng)
        hand = rng.uniform(*c.hand_colour, 3)
        m.mat_rgba[self.hand_material, :3] = hand
        m.mat_specular[self.hand_material] = rng.uniform(*c.hand_specular)
        m.mat_shininess[self.hand_material] = rng.uniform(*c.hand_shininess)
        self._background(rng)
        lights = self._lights(rng)
        self._cameras(rng)
        self._textures_dirty = True
        return VisualDraw(faces, hand, lights, m.cam_fovy[self.camera_ids].copy())

    def _object(self, rng) -> np.ndarray:
        m, c = self.model, self.config
        faces = jitter_face_colours(self.face_nominal, c, rng)
        if self.object_name == "block":
            letter = np.full(3, 255.0 * rng.uniform(*c.letter_value))
            texture = block_face_texture(m.tex_width[self.block_texture], faces.tolist(), letter)
            self._write_texture(self.block_texture, texture)
            material = self.block_material
            m.mat_specular[material] = rng.uniform(*c.object_specular)
            m.mat_shininess[material] = rng.uniform(*c.object_shininess)
        else:
            m.geom_rgba[self.prism_face_geoms, :3] = faces / 255.0
        return faces

    def _background(self, rng) -> None:
        m, c = self.model, self.config
        size = m.tex_width[self.table_texture]
        squares = int(rng.integers(1, 5))  # per texture tile; the table repeats it 8 x 8
        grid = ((np.arange(size)[:, None] * squares // size) + (np.arange(size)[None, :] * squares // size)) % 2
        a, b = (rng.uniform(*c.background_colour, 3) * 255.0 for _ in range(2))
        self._write_texture(self.table_texture, np.where(grid[..., None] == 0, a, b))
        w, h = m.tex_width[self.sky_texture], m.tex_height[self.sky_texture]
        top, bottom = (rng.uniform(*c.background_colour, 3) * 255.0 for _ in range(2))
        ramp = np.linspace(0.0, 1.0, h)[:, None, None]
        self._write_texture(self.sky_texture, np.broadcast_to(top * (1 - ramp) + bottom * ramp, (h, w, 3)))

    def _lights(self, rng) -> int:
        m, c = self.model, self.config
        count = int(rng.integers(c.light_count[0], c.light_count[1] + 1))
        m.light_active[:] = 0
        for light in rng.choice(m.nlight, count, replace=False):
            m.light_active[light] = 1
            position = rng.uniform([0.6, 0.3, 0.5], [1.4, 1.4, 1.6])
            m.light_pos[light] = position
            m.light_dir[light] = rotations.normalize(PALM_CENTRE - position + rng.normal(0.0, 0.15, 3))
            m.light_diffuse[light] = np.clip(rng.uniform(*c.light_diffuse) * (1.0 + rng.uniform(-c.light_tint, c.light_tint, 3)), 0, 1)
            m.light_specular[light] = rng.uniform(0.0, 0.3)
            m.light_type[light] = rng.choice([mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, mujoco.mjtLightType.mjLIGHT_SPOT])
        m.vis.headlight.ambient[:] = rng.uniform(*c.ambient)
        m.vis.headlight.diffuse[:] = rng.uniform(0.0, 0.3)
        return count

    def _cameras(self, rng) -> None:
        m, c = self.model, self.config
        ids = self.camera_ids
        shift = np.clip(rng.normal(0.0, 1.0, (len(ids), 3)), -3, 3) * c.camera_position_sigma
        m.cam_pos[ids] += shift
        m.cam_quat[ids] = rotations.multiply(m.cam_quat[ids], small_rotation(rng, np.radians(c.camera_rotation_sigma_deg), len(ids)))
        m.cam_fovy[ids] += rng.uniform(-c.camera_fovy_jitter_deg, c.camera_fovy_jitter_deg, len(ids))

    def _write_texture(self, texture_id: int, rgb: np.ndarray) -> None:
        m = self.model
        start = m.tex_adr[texture_id]
        size = m.tex_width[texture_id] * m.tex_height[texture_id] * m.tex_nchannel[texture_id]
        m.tex_data[start:start + size] = np.clip(np.round(rgb), 0, 255).astype(np.uint8).ravel()
        self.renderer.upload_texture(texture_id)

    # ---------------------------------------------------------------------------------------- image

    def degrade(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Sensor effects on one rendered RGB image: noise, blur, JPEG compression (when enabled)."""
        c = self.config
        if not c.enabled:
            return image, {}
        effects = {}
        out = image.astype(np.float32)
        if rng.random() < c.blur_probability:
            effects["blur_sigma"] = sigma = float(rng.uniform(*c.blur_sigma))
            out = cv2.GaussianBlur(out, (0, 0), sigma)
        effects["noise_sigma"] = sigma = float(rng.uniform(*c.noise_sigma))
        out = np.clip(out + rng.normal(0.0, sigma, out.shape), 0, 255).astype(np.uint8)
        if rng.random() < c.jpeg_probability:
            effects["jpeg_quality"] = quality = int(rng.integers(c.jpeg_quality[0], c.jpeg_quality[1] + 1))
            ok, encoded = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
            out = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
        return np.ascontiguousarray(out), effects
