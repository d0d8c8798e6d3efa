"""The MuJoCo scene: the Shadow hand from gymnasium-robotics, the object, three cameras, mocap markers.

The hand's MJCF is included from the installed package (see `assets`); everything we add (the object, the
goal marker, cameras, lights, marker sites, sensors, physics options) is composed with `mujoco.MjSpec`,
so this file is the complete description of the scene. `build_scene(config)` returns a `Scene`: the
compiled model plus the indices every consumer needs (object joint, hand joints in table order, fingertip
sites, marker sites, cameras), so no other module looks names up in the model.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np

from . import joints, rotations
from .assets import find_hand_assets
from .config import ConfigError, check_positive, load

CONFIG_DIR = Path(__file__).resolve().parent / "config"

OBJECT_BODY = "object"
OBJECT_JOINT = "object:joint"
OBJECT_GEOM = "object"
GOAL_BODY = "goal"
PALM_BODY = "robot0:palm"
FINGERS = ("ff", "mf", "rf", "lf", "th")  # documented fingertip order: FF, MF, RF, LF, TH
FINGERTIP_SITES = tuple(f"robot0:S_{f}tip" for f in FINGERS)
GOAL_GEOM_GROUP = 2  # visual-only goal display; hidden from the pose-estimation cameras
MARKER_SITE_GROUP = 5  # mocap markers: invisible in renders
ARENA_BYTES = 1 << 20  # per MjData: contacts and constraints of this scene use well under 0.2 MB


@dataclass(frozen=True)
class PhysicsConfig:
    timestep: float = 0.008  # seconds per physics step
    substeps: int = 10  # physics steps per control step: 0.008 s x 10 = 80 ms, as OpenAI's robogym
    integrator: Literal["Euler", "implicitfast", "implicit", "RK4"] = "Euler"
    solver_iterations: int = 50
    line_search_iterations: int = 20

    def __post_init__(self):
        check_positive("physics.timestep", self.timestep)
        check_positive("physics.substeps", self.substeps)
        check_positive("physics.solver_iterations", self.solver_iterations)

    @property
    def control_period(self) -> float:
        return self.timestep * self.substeps


@dataclass(frozen=True)
class CameraConfig:
    name: str
    position: tuple[float, float, float]
    target: tuple[float, float, float]
    fovy_deg: float = 45.0
    width: int = 200
    height: int = 200

    def __post_init__(self):
        if not 1.0 < self.fovy_deg < 179.0:
            raise ConfigError(f"camera {self.name}: fovy_deg {self.fovy_deg} must be within (1, 179)")
        check_positive(f"camera {self.name}.width", self.width)
        check_positive(f"camera {self.name}.height", self.height)


@dataclass(frozen=True)
class ObjectConfig:
    block_edge: float = 0.057  # metres (Dactyl block: 5.7 cm)
    prism_width: float = 0.057  # across flats
    prism_height: float = 0.057
    density: float = 421.0  # kg/m^3
    initial_position: tuple[float, float, float] = (1.0, 0.87, 0.2)  # above the palm

    def __post_init__(self):
        for name in ("block_edge", "prism_width", "prism_height", "density"):
            check_positive(f"object.{name}", getattr(self, name))


_PALM_CENTRE = (1.0, 0.87, 0.19)

DEFAULT_CAMERAS = (
    CameraConfig("cam_left", (1.24, 0.66, 0.45), _PALM_CENTRE),
    CameraConfig("cam_center", (1.0, 0.52, 0.42), _PALM_CENTRE),
    CameraConfig("cam_right", (0.76, 0.66, 0.45), _PALM_CENTRE),
)


@dataclass(frozen=True)
class SceneConfig:
    object: Literal["block", "prism"] = "block"
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    object_geometry: ObjectConfig = field(default_factory=ObjectConfig)
    cameras: tuple[CameraConfig, ...] = DEFAULT_CAMERAS
    hand_initial_pose: dict[str, float] = field(default_factory=dict)  # Shadow joint name -> rad
    goal_display_offset: tuple[float, float, float] = (0.0, -0.16, 0.06)  # from the object's start

    def __post_init__(self):
        if len(self.cameras) != 3 or len({c.name for c in self.cameras}) != 3:
            raise ConfigError("scene.cameras: expected exactly three cameras with distinct names")
        for name, value in self.hand_initial_pose.items():
            try:
                joint = joints.JOINTS[joints.shadow_index(name)]
            except KeyError as err:
                raise ConfigError(f"scene.hand_initial_pose: {err.args[0]}") from None
            low, high = joint.command_range
            if not low <= value <= high:
                raise ConfigError(f"scene.hand_initial_pose.{name}: {value} outside [{low}, {high}]")


def load_scene_config(source=None) -> SceneConfig:
    return load(SceneConfig, CONFIG_DIR / "scene.yaml" if source is None else source)


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of a rendered camera, as sensor_msgs/CameraInfo wants them."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def k(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def intrinsics_from_fovy(width: int, height: int, fovy_deg: float) -> CameraIntrinsics:
    fy = 0.5 * height / math.tan(math.radians(fovy_deg) / 2.0)
    return CameraIntrinsics(width, height, fy, fy, (width - 1) / 2.0, (height - 1) / 2.0)


class Scene:
    """A compiled scene and the indices into it, in the orders of the joint table."""

    def __init__(self, config: SceneConfig, model: mujoco.MjModel, object_markers: np.ndarray):
        self.config = config
        self.model = model
        m = model
        self.object_body = m.body(OBJECT_BODY).id
        self.goal_mocap = m.body(GOAL_BODY).mocapid[0]
        self.palm_body = m.body(PALM_BODY).id
        obj_joint = m.joint(OBJECT_JOINT)
        self.object_qpos = slice(obj_joint.qposadr[0], obj_joint.qposadr[0] + 7)
        self.object_qvel = slice(obj_joint.dofadr[0], obj_joint.dofadr[0] + 6)
        self.hand_qpos = np.array([m.joint(n).qposadr[0] for n in joints.MODEL_JOINT_NAMES])
        self.hand_qvel = np.array([m.joint(n).dofadr[0] for n in joints.MODEL_JOINT_NAMES])
        self.actuators = np.array([m.actuator(n).id for n in joints.MODEL_ACTUATOR_NAMES])
        self.actuated_joints = np.array([joints.model_index(a.model_joint) for a in joints.ACTUATORS])
        if not np.array_equal(self.actuators, np.arange(joints.NUM_ACTUATORS)):
            raise RuntimeError("the model's actuator order differs from the joint table; the table must be fixed")
        self.fingertip_sites = np.array([m.site(n).id for n in FINGERTIP_SITES])
        self.object_marker_sites = np.array([m.site(f"marker:object:{i}").id for i in range(len(object_markers))])
        self.fingertip_marker_sites = np.array([m.site(f"marker:{f}tip").id for f in FINGERS])
        self.object_marker_layout = object_markers  # (M, 3) in the object frame, metres
        self.cameras = {c.name: m.camera(c.name).id for c in config.cameras}
        self.sensors = {m.sensor(i).name: slice(m.sensor_adr[i], m.sensor_adr[i] + m.sensor_dim[i]) for i in range(m.nsensor)}
        self.initial_hand_qpos = np.zeros(joints.NUM_JOINTS)
        for name, value in config.hand_initial_pose.items():
            index = joints.shadow_index(name)
            self.initial_hand_qpos[index] = joints.JOINTS[index].sign * value
        self.initial_object_qpos = np.concatenate([config.object_geometry.initial_position, rotations.IDENTITY])

    @property
    def control_period(self) -> float:
        return self.config.physics.control_period

    @property
    def substeps(self) -> int:
        return self.config.physics.substeps

    def camera_intrinsics(self, name: str) -> CameraIntrinsics:
        cam = next((c for c in self.config.cameras if c.name == name), None)
        if cam is None:
            raise KeyError(f"unknown camera {name!r}; the scene has {list(self.cameras)}")
        return intrinsics_from_fovy(cam.width, cam.height, cam.fovy_deg)

    def make_data(self) -> mujoco.MjData:
        data = mujoco.MjData(self.model)
        self.reset(data)
        return data

    def reset(self, data: mujoco.MjData, hand_qpos: np.ndarray | None = None, object_qpos: np.ndarray | None = None) -> None:
        """Hand at its initial pose (actuators holding it), object at its start pose, at rest."""
        mujoco.mj_resetData(self.model, data)
        hand = self.initial_hand_qpos if hand_qpos is None else np.asarray(hand_qpos)
        data.qpos[self.hand_qpos] = hand
        data.qpos[self.object_qpos] = self.initial_object_qpos if object_qpos is None else object_qpos
        data.mocap_pos[self.goal_mocap] = self.initial_object_qpos[:3] + np.asarray(self.config.goal_display_offset)
        hold_controls(self.model, data, self.actuator_targets_for(hand))
        mujoco.mj_forward(self.model, data)

    def actuator_targets_for(self, hand_qpos: np.ndarray) -> np.ndarray:
        """The actuator targets (model convention) that hold the hand at `hand_qpos` (24, table order)."""
        return np.clip(np.asarray(hand_qpos)[self.actuated_joints], *joints.CTRL_LIMITS.T)

    def object_pose(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        q = data.qpos[self.object_qpos]
        return q[:3].copy(), q[3:].copy()

    def set_goal_display(self, data: mujoco.MjData, quat: np.ndarray) -> None:
        data.mocap_quat[self.goal_mocap] = quat


def hold_controls(model: mujoco.MjModel, data: mujoco.MjData, ctrl: np.ndarray) -> None:
    """Set the actuator targets and fill their delay histories with them (as if held for a while)."""
    data.ctrl[:] = ctrl
    for i in range(model.nu):
        samples = model.actuator_history[i, 0]
        if samples:
            mujoco.mj_initCtrlHistory(model, data, i, None, np.full((samples, 1), float(ctrl[i])))


def build_scene(config: SceneConfig | None = None, assets_root=None, physics_only: bool = False) -> Scene:
    """Compose and compile the scene for `config` (defaults: config/scene.yaml).

    `physics_only` drops what only rendering uses, for simulations that are never rendered: the hand's
    visual meshes (geoms that never collide and carry no mass: 23 fewer geoms to place at every step and
    97% fewer BVH nodes, 1,835 of 68,416, in every model and data) and the textures (1.6 MB of the
    model's 1.9 MB, copied with every environment's model). The dynamics are bit-identical
    (tests/test_scene.py).
    """
    config = load_scene_config() if config is None else config
    spec, markers = build_spec(config, assets_root)
    if physics_only:
        _drop_visuals(spec)
    return Scene(config, spec.compile(), markers)


def _drop_visuals(spec: mujoco.MjSpec) -> None:
    for geom in [g for g in spec.geoms if g.type == mujoco.mjtGeom.mjGEOM_MESH and g.contype == 0 and g.conaffinity == 0]:
        spec.delete(geom)
    used = {g.meshname for g in spec.geoms if g.type == mujoco.mjtGeom.mjGEOM_MESH}
    for mesh in [m for m in spec.meshes if m.name not in used]:
        spec.delete(mesh)
    for material in spec.materials:
        material.textures = [""] * len(material.textures)
    for texture in list(spec.textures):
        spec.delete(texture)


def build_spec(config: SceneConfig, assets_root=None) -> tuple[mujoco.MjSpec, np.ndarray]:
    if config.object not in OBJECT_BUILDERS:
        raise ValueError(f"unknown object {config.object!r}; expected one of {sorted(OBJECT_BUILDERS)}")
    assets = find_hand_assets(assets_root)
    # The only hand-written XML: includes of the packaged hand files. Everything else is added below.
    xml = f"""<mujoco model="dactyl_{config.object}">
  <compiler angle="radian" coordinate="local" meshdir="{assets.mesh_dir}"/>
  <include file="{assets.hand_dir / 'shared.xml'}"/>
  <asset><include file="{assets.hand_dir / 'shared_asset.xml'}"/></asset>
  <worldbody><include file="{assets.hand_dir / 'robot.xml'}"/></worldbody>
</mujoco>"""
    spec = mujoco.MjSpec.from_string(xml)
    spec.modelname = f"dactyl_{config.object}"
    _set_physics(spec, config.physics)
    _add_environment(spec)
    markers = OBJECT_BUILDERS[config.object](spec, config.object_geometry)
    _add_goal_display(spec, config)
    _add_fingertip_markers_and_sensors(spec)
    for cam in config.cameras:
        quat = rotations.look_at(cam.position, cam.target)
        spec.worldbody.add_camera(name=cam.name, pos=cam.position, quat=quat, fovy=cam.fovy_deg, resolution=[cam.width, cam.height])
    return spec, markers


def _set_physics(spec: mujoco.MjSpec, physics: PhysicsConfig) -> None:
    spec.option.timestep = physics.timestep
    spec.option.integrator = {
        "Euler": mujoco.mjtIntegrator.mjINT_EULER,
        "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
        "implicit": mujoco.mjtIntegrator.mjINT_IMPLICIT,
        "RK4": mujoco.mjtIntegrator.mjINT_RK4,
    }[physics.integrator]
    spec.option.iterations = physics.solver_iterations
    spec.option.ls_iterations = physics.line_search_iterations
    spec.nstack = -1  # the packaged model asks for a 4.8 MB stack per MjData; ~100 kB is used
    spec.memory = ARENA_BYTES
    # A control-sample history lets an actuator act on a delayed command (action latency randomization);
    # the nominal delay is zero. One control step of delay needs `substeps` samples, plus slack for jitter.
    for actuator in spec.actuators:
        actuator.nsample = physics.substeps + 3
        actuator.interp = 0  # zero-order hold
        actuator.delay = 0.0
    spec.visual.global_.offwidth = 640
    spec.visual.global_.offheight = 480


def _add_environment(spec: mujoco.MjSpec) -> None:
    """Table, lights. Visual only: nothing here collides, so a dropped object simply falls away."""
    spec.add_texture(name="table_tex", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
                     rgb1=[0.55, 0.55, 0.58], rgb2=[0.45, 0.45, 0.48], width=256, height=256)
    table = spec.add_material(name="table_mat", texrepeat=[8, 8], reflectance=0.0)
    table.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "table_tex"
    spec.worldbody.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_PLANE, pos=[1.0, 0.9, 0.0], size=[0.6, 0.6, 0.05],
                            material="table_mat", contype=0, conaffinity=0, group=0)
    spec.worldbody.add_light(name="key_light", type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, pos=[1.0, 0.6, 1.5],
                             dir=[0.1, 0.3, -1.0], diffuse=[0.7, 0.7, 0.7], specular=[0.2, 0.2, 0.2], castshadow=False)
    spec.worldbody.add_light(name="fill_light", type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, pos=[1.0, 1.2, 1.0],
                             dir=[-0.2, -0.4, -1.0], diffuse=[0.35, 0.35, 0.35], specular=[0.0, 0.0, 0.0], castshadow=False)
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.2, 0.2, 0.2]


# Dactyl's block: six colours and the letters of its maker. Face order is MuJoCo's cube-map order.
BLOCK_FACES = (  # (+X, -X, +Y, -Y, +Z, -Z)
    ("O", (220, 40, 40)),
    ("P", (40, 170, 60)),
    ("E", (40, 80, 220)),
    ("N", (235, 200, 30)),
    ("A", (160, 60, 190)),
    ("I", (240, 130, 30)),
)


def block_face_texture(size: int = 128, colours=None, letter_colour=(255, 255, 255)) -> np.ndarray:
    """Cube-map texture (6*size, size, 3): one coloured, lettered face per axis direction.

    `colours` (6 RGB triples) replaces the face colours, e.g. for visual randomization; default BLOCK_FACES.
    """
    import cv2

    colours = [c for _, c in BLOCK_FACES] if colours is None else colours
    faces = []
    for (letter, _), colour in zip(BLOCK_FACES, colours):
        face = np.empty((size, size, 3), np.uint8)
        face[:] = colour
        border = max(2, size // 32)
        face[:border] = face[-border:] = face[:, :border] = face[:, -border:] = 30
        scale = size / 40.0
        (w, h), _ = cv2.getTextSize(letter, cv2.FONT_HERSHEY_DUPLEX, scale, 1)
        cv2.putText(face, letter, ((size - w) // 2, (size + h) // 2), cv2.FONT_HERSHEY_DUPLEX, scale, tuple(map(int, letter_colour)),
                    thickness=max(2, size // 20), lineType=cv2.LINE_AA)
        faces.append(face)
    return np.concatenate(faces, axis=0)


def _object_body(spec: mujoco.MjSpec, geometry: ObjectConfig) -> mujoco.MjsBody:
    body = spec.worldbody.add_body(name=OBJECT_BODY, pos=geometry.initial_position)
    body.add_joint(name=OBJECT_JOINT, type=mujoco.mjtJoint.mjJNT_FREE, damping=0.01)
    return body


def _add_markers(body: mujoco.MjsBody, markers: np.ndarray) -> None:
    for i, pos in enumerate(markers):
        body.add_site(name=f"marker:object:{i}", pos=pos, size=[0.003, 0, 0], rgba=[1, 1, 1, 1], group=MARKER_SITE_GROUP)


def _build_block(spec: mujoco.MjSpec, geometry: ObjectConfig) -> np.ndarray:
    half = geometry.block_edge / 2.0
    texture = block_face_texture()
    tex = spec.add_texture(name="block_tex", type=mujoco.mjtTexture.mjTEXTURE_CUBE, width=texture.shape[1],
                           height=texture.shape[0], nchannel=3)
    tex.data = texture.tobytes()
    material = spec.add_material(name="block_mat", specular=0.3, shininess=0.3)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "block_tex"
    body = _object_body(spec, geometry)
    body.add_geom(name=OBJECT_GEOM, type=mujoco.mjtGeom.mjGEOM_BOX, size=[half] * 3, density=geometry.density,
                  condim=4, material="block_mat")
    # Four markers at alternate corners (a tetrahedron, never coplanar) and one off-centre on the +Z face.
    corner = 0.8 * half
    markers = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) * corner
    markers = np.vstack([markers, [0.3 * half, 0.0, half]])
    _add_markers(body, markers)
    return markers


PRISM_FACE_COLOURS = ((220, 40, 40), (40, 170, 60), (40, 80, 220), (235, 200, 30), (160, 60, 190), (240, 130, 30),
                      (30, 200, 200), (240, 240, 240), (60, 60, 60), (200, 120, 160))  # 8 sides, top, bottom


def prism_vertices(width: float, height: float) -> np.ndarray:
    """Vertices (16, 3) of an octagonal prism about the z axis, flat faces normal to x and y."""
    radius = width / 2.0 / math.cos(math.pi / 8.0)
    angles = math.pi / 8.0 + np.arange(8) * math.pi / 4.0
    ring = np.stack([radius * np.cos(angles), radius * np.sin(angles)], -1)
    return np.vstack([np.hstack([ring, np.full((8, 1), -height / 2)]), np.hstack([ring, np.full((8, 1), height / 2)])])


def _build_prism(spec: mujoco.MjSpec, geometry: ObjectConfig) -> np.ndarray:
    verts = prism_vertices(geometry.prism_width, geometry.prism_height)
    spec.add_mesh(name="prism_mesh", uservert=verts.ravel().tolist())
    body = _object_body(spec, geometry)
    body.add_geom(name=OBJECT_GEOM, type=mujoco.mjtGeom.mjGEOM_MESH, meshname="prism_mesh", density=geometry.density,
                  condim=4, rgba=[0.8, 0.8, 0.8, 1])
    # Coloured plates on the faces make every face identifiable in images (visual only, no mass).
    apothem = geometry.prism_width / 2.0
    side = 2.0 * apothem * math.tan(math.pi / 8.0)
    for k in range(8):
        angle = k * math.pi / 4.0
        normal = np.array([math.cos(angle), math.sin(angle), 0.0])
        quat = rotations.from_axis_angle(np.array([0.0, 0.0, 1.0]), angle)
        body.add_geom(name=f"prism_face_{k}", type=mujoco.mjtGeom.mjGEOM_BOX, pos=normal * (apothem - 0.0004), quat=quat,
                      size=[0.0005, side * 0.42, geometry.prism_height * 0.42], rgba=[*np.array(PRISM_FACE_COLOURS[k]) / 255, 1],
                      contype=0, conaffinity=0, mass=0, group=1)
    for k, z in ((8, 1.0), (9, -1.0)):
        body.add_geom(name=f"prism_face_{k}", type=mujoco.mjtGeom.mjGEOM_CYLINDER, pos=[0, 0, z * (geometry.prism_height / 2 - 0.0004)],
                      size=[apothem * 0.8, 0.0005, 0], rgba=[*np.array(PRISM_FACE_COLOURS[k]) / 255, 1],
                      contype=0, conaffinity=0, mass=0, group=1)
    # Alternate top and bottom rim vertices, pulled slightly inwards: four markers, never coplanar.
    markers = np.vstack([verts[[8, 10]] , verts[[1, 3]], verts[[12, 14]], verts[[5, 7]]]) * np.array([0.85, 0.85, 0.9])
    _add_markers(body, markers)
    return markers


OBJECT_BUILDERS = {"block": _build_block, "prism": _build_prism}


def _add_goal_display(spec: mujoco.MjSpec, config: SceneConfig) -> None:
    """A translucent copy of the object, posed at the goal orientation, beside the hand (for people)."""
    body = spec.worldbody.add_body(name=GOAL_BODY, mocap=True,
                                   pos=np.add(config.object_geometry.initial_position, config.goal_display_offset))
    if config.object == "block":
        half = config.object_geometry.block_edge / 2.0
        body.add_geom(name="goal", type=mujoco.mjtGeom.mjGEOM_BOX, size=[half] * 3, material="block_mat",
                      rgba=[1, 1, 1, 0.6], contype=0, conaffinity=0, group=GOAL_GEOM_GROUP)
    else:
        body.add_geom(name="goal", type=mujoco.mjtGeom.mjGEOM_MESH, meshname="prism_mesh", rgba=[0.9, 0.6, 0.2, 0.5],
                      contype=0, conaffinity=0, group=GOAL_GEOM_GROUP)


def _add_fingertip_markers_and_sensors(spec: mujoco.MjSpec) -> None:
    for finger, site_name in zip(FINGERS, FINGERTIP_SITES):
        tip = spec.site(site_name)
        tip.parent.add_site(name=f"marker:{finger}tip", pos=tip.pos, size=[0.003, 0, 0], group=MARKER_SITE_GROUP)
        spec.add_sensor(name=f"fingertip_pos:{finger}", type=mujoco.mjtSensor.mjSENS_FRAMEPOS,
                        objtype=mujoco.mjtObj.mjOBJ_SITE, objname=site_name)
        spec.add_sensor(name=f"fingertip_vel:{finger}", type=mujoco.mjtSensor.mjSENS_FRAMELINVEL,
                        objtype=mujoco.mjtObj.mjOBJ_SITE, objname=site_name)


@functools.lru_cache(maxsize=8)
def cached_scene(object_name: str = "block") -> Scene:
    """The default scene for an object, built once per process (tests, quick tools)."""
    from .config import merge

    return build_scene(merge(load_scene_config(), {"object": object_name}))


@dataclass(frozen=True)
class SettleReport:
    """What happened to an object dropped onto the palm with the hand holding its pose."""

    rest_time: float | None  # simulated time after which the object stayed at rest to the end; None: never
    final_position: np.ndarray
    max_linear_speed: float  # m/s, over the whole run
    max_angular_speed: float  # rad/s
    stayed_on_palm: bool  # never fell below the palm or slid off it
    finite: bool  # no NaN/inf anywhere in the state


def drop_on_palm(scene: Scene, data: mujoco.MjData, duration: float = 10.0, rest_linear_speed: float = 0.01,
                 rest_angular_speed: float = 0.1) -> SettleReport:
    """Reset, release the object above the palm and simulate `duration` seconds with the hand held still."""
    scene.reset(data)
    palm_z = data.xpos[scene.palm_body][2]
    start_xy = scene.initial_object_qpos[:2]
    steps = int(round(duration / scene.model.opt.timestep))
    rest_since = None
    max_lin = max_ang = 0.0
    on_palm = finite = True
    for _ in range(steps):
        mujoco.mj_step(scene.model, data)
        if not (np.isfinite(data.qpos).all() and np.isfinite(data.qvel).all()):
            finite = False
            break
        velocity = data.qvel[scene.object_qvel]
        lin, ang = float(np.linalg.norm(velocity[:3])), float(np.linalg.norm(velocity[3:]))
        max_lin, max_ang = max(max_lin, lin), max(max_ang, ang)
        position = data.qpos[scene.object_qpos][:3]
        if position[2] < palm_z or np.linalg.norm(position[:2] - start_xy) > 0.08:
            on_palm = False
        at_rest = lin < rest_linear_speed and ang < rest_angular_speed
        rest_since = (rest_since if rest_since is not None else data.time) if at_rest else None
    return SettleReport(rest_since, data.qpos[scene.object_qpos][:3].copy(), max_lin, max_ang, on_palm and finite, finite)
