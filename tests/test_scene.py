"""The MuJoCo scene: structure, a stable resting object, cameras that see it, clear errors."""
import mujoco
import numpy as np
import pytest

from dactyl_core import joints, scene as scene_mod
from dactyl_core.assets import AssetsNotFoundError, find_hand_assets
from dactyl_core.config import ConfigError, merge
from dactyl_core.render import CameraRenderer


@pytest.mark.parametrize("name", ["block", "prism"])
def test_scene_structure(name, request):
    scene = request.getfixturevalue(f"{name}_scene")
    m = scene.model
    hand_joints = [m.joint(i).name for i in range(m.njnt) if m.joint(i).name.startswith("robot0:")]
    assert hand_joints == list(joints.MODEL_JOINT_NAMES)
    assert [m.actuator(i).name for i in range(m.nu)] == list(joints.MODEL_ACTUATOR_NAMES)
    assert m.nu == 20 and len(hand_joints) == 24
    assert m.jnt_type[m.joint(scene_mod.OBJECT_JOINT).id] == mujoco.mjtJoint.mjJNT_FREE
    assert set(scene.cameras) == {"cam_left", "cam_center", "cam_right"}
    assert scene.control_period == pytest.approx(0.08)
    assert len(scene.fingertip_marker_sites) == 5
    # at least four non-coplanar object markers
    layout = scene.object_marker_layout
    assert len(layout) >= 4
    centred = layout - layout.mean(axis=0)
    assert np.linalg.svd(centred, compute_uv=False)[2] > 1e-3


def test_block_is_the_dactyl_block(block_scene):
    m = block_scene.model
    geom = m.geom(scene_mod.OBJECT_GEOM)
    np.testing.assert_allclose(geom.size, [0.0285] * 3)
    volume = 0.057 ** 3
    assert m.body_mass[block_scene.object_body] == pytest.approx(421.0 * volume, rel=1e-3)


def test_prism_has_eight_sides(prism_scene):
    m = prism_scene.model
    mesh = m.mesh("prism_mesh")
    verts = m.mesh_vert[mesh.vertadr[0]: mesh.vertadr[0] + mesh.vertnum[0]]
    assert len(verts) == 16
    radii = np.linalg.norm(verts[:, :2], axis=1)
    assert np.ptp(radii) < 1e-6  # all on one circle: a regular octagon


@pytest.mark.parametrize("name", ["block", "prism"])
def test_object_dropped_on_palm_rests_and_stays(name, request):
    scene = request.getfixturevalue(f"{name}_scene")
    report = scene_mod.drop_on_palm(scene, scene.make_data(), duration=10.0)
    assert report.finite
    assert report.rest_time is not None and report.rest_time <= 2.0, report
    assert report.stayed_on_palm, report
    assert report.max_linear_speed < 2.0 and report.max_angular_speed < 50.0  # no explosion


@pytest.mark.parametrize("name", ["block", "prism"])
def test_each_camera_sees_the_object(name, request):
    scene = request.getfixturevalue(f"{name}_scene")
    data = scene.make_data()
    scene_mod.drop_on_palm(scene, data, duration=1.0)
    renderer = CameraRenderer(scene)
    try:
        for camera in scene.cameras:
            image = renderer.rgb(data, camera)
            assert image.shape == (200, 200, 3) and image.std() > 10  # not blank
            mask = renderer.object_mask(data, camera)
            assert mask.sum() > 300, f"{camera} sees only {mask.sum()} object pixels"
    finally:
        renderer.close()


def test_goal_display_is_hidden_from_pose_cameras(block_scene):
    data = block_scene.make_data()
    renderer = CameraRenderer(block_scene)
    try:
        ids = np.concatenate([renderer.segmentation(data, c).ravel() for c in block_scene.cameras])
    finally:
        renderer.close()
    assert block_scene.model.geom("goal").id not in ids


def test_camera_intrinsics(block_scene):
    k = block_scene.camera_intrinsics("cam_left")
    assert (k.width, k.height) == (200, 200)
    assert k.fx == pytest.approx(100 / np.tan(np.radians(22.5)))
    with pytest.raises(KeyError, match="cam_left"):
        block_scene.camera_intrinsics("cam_nope")


def test_unknown_object_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match=r"'sphere' is not one of \['block', 'prism'\]"):
        merge(scene_mod.load_scene_config(), {"object": "sphere"})


def test_missing_assets_say_what_and_where(tmp_path):
    with pytest.raises(AssetsNotFoundError) as err:
        find_hand_assets(tmp_path)
    assert "hand/robot.xml" in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(AssetsNotFoundError):
        scene_mod.build_scene(scene_mod.load_scene_config(), assets_root=tmp_path)


def test_assets_come_from_the_installed_package():
    assets = find_hand_assets()
    assert "gymnasium_robotics" in str(assets.root)
    assert assets.license_file.is_file()


def test_physics_only_scene_drops_visuals_and_keeps_the_dynamics(block_scene):
    """DactylEnv's scene: no visual meshes or textures, and bit-identical physics (masses, contacts, sensors)."""
    lean = scene_mod.build_scene(block_scene.config, physics_only=True)
    full, model = block_scene.model, lean.model
    assert model.nbvh < 0.05 * full.nbvh and model.ngeom < full.ngeom
    assert full.ntex > 0 and model.ntex == 0 and model.nbuffer < 0.25 * full.nbuffer
    assert np.array_equal(model.body_mass, full.body_mass) and np.array_equal(model.body_inertia, full.body_inertia)
    rng = np.random.default_rng(0)
    data_full, data_lean = block_scene.make_data(), lean.make_data()
    contacts = 0
    for _ in range(100):
        data_full.ctrl[:] = data_lean.ctrl[:] = rng.uniform(*full.actuator_ctrlrange.T)
        mujoco.mj_step(full, data_full, nstep=10)
        mujoco.mj_step(model, data_lean, nstep=10)
        contacts += data_full.ncon
    assert contacts > 0
    assert np.array_equal(data_full.qpos, data_lean.qpos) and np.array_equal(data_full.sensordata, data_lean.sensordata)
