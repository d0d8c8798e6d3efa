"""Motion capture core: calibration, Kabsch fitting, simulated PhaseSpace frames, the marker message, and
the per-motor command conversion the hand driver and the simulator share."""
import mujoco
import numpy as np
import pytest

from dactyl_core import joints, mocap, rotations
from dactyl_core.config import ConfigError, merge, to_dict

RNG = np.random.default_rng(7)


def random_pose(rng):
    return rotations.to_matrix(rotations.random_uniform(rng)), rng.uniform(-1.0, 1.0, 3)


# --- calibration ---------------------------------------------------------------------------------------

def test_shipped_calibration_is_a_proper_rotation_that_maps_y_up_to_z_up():
    calibration = mocap.load_calibration()
    r = calibration.matrix
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], atol=1e-12)  # PhaseSpace up is world up


def test_calibration_round_trips_points_and_converts_millimetres():
    calibration = mocap.load_calibration()
    world = RNG.uniform(-2, 2, (50, 3))
    np.testing.assert_allclose(calibration.to_world(calibration.to_mocap(world)), world, atol=1e-12)
    a, b = calibration.to_mocap(world[:2])
    assert np.linalg.norm(a - b) == pytest.approx(1000.0 * np.linalg.norm(world[0] - world[1]))


def test_calibration_refuses_reflections_skew_matrices_and_unknown_keys():
    base = mocap.load_calibration()
    reflection = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]  # swaps Y and Z: det -1
    with pytest.raises(ConfigError, match="reflection"):
        merge(base, {"rotation": reflection})
    with pytest.raises(ConfigError, match="orthonormal"):
        merge(base, {"rotation": [[1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]})
    with pytest.raises(ConfigError, match="unknown key"):
        mocap.load_calibration({**to_dict(base), "scale": 1.0})
    with pytest.raises(ConfigError, match="distinct"):
        merge(base, {"fingertip_marker_ids": [1, 1, 2, 3, 4]})
    with pytest.raises(ConfigError, match="also fingertip"):
        merge(base, {"object_marker_first_id": 15}).object_marker_ids(5)


def test_orientation_to_world_matches_point_transform():
    calibration = mocap.load_calibration()
    q_mocap = rotations.random_uniform(RNG)
    v = RNG.normal(size=3)
    # a body-frame vector seen in PhaseSpace, then mapped to the world = rotated by the world orientation
    lhs = calibration.matrix @ rotations.rotate(q_mocap, v)
    rhs = rotations.rotate(calibration.orientation_to_world(q_mocap), v)
    np.testing.assert_allclose(lhs, rhs, atol=1e-12)


# --- Kabsch ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("count", [3, 5, 8])
def test_kabsch_recovers_known_poses(count):
    for _ in range(20):
        layout = RNG.uniform(-0.03, 0.03, (count, 3))
        rotation, translation = random_pose(RNG)
        fit = mocap.fit_rigid(layout, layout @ rotation.T + translation)
        np.testing.assert_allclose(fit.rotation, rotation, atol=1e-9)
        np.testing.assert_allclose(fit.translation, translation, atol=1e-9)
        assert fit.rms_residual < 1e-9 and np.linalg.det(fit.rotation) == pytest.approx(1.0)


def test_kabsch_determinant_correction_never_returns_a_reflection():
    layout = RNG.uniform(-0.03, 0.03, (5, 3))
    mirrored = layout * [1.0, 1.0, -1.0]  # the best orthogonal fit is a reflection
    rotation, _ = mocap.kabsch(layout, mirrored)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    with pytest.raises(mocap.PoseFitError, match="residual"):
        mocap.fit_rigid(layout, mirrored, max_rms_residual=0.002)


def test_fit_refuses_too_few_or_collinear_markers():
    layout = RNG.uniform(-0.03, 0.03, (5, 3))
    with pytest.raises(mocap.PoseFitError, match="at least 3"):
        mocap.fit_rigid(layout[:2], layout[:2])
    line = np.outer(np.arange(4), [0.01, 0.02, 0.0])
    with pytest.raises(mocap.PoseFitError, match="collinear"):
        mocap.fit_rigid(line, line)
    with pytest.raises(mocap.PoseFitError, match="at least 4"):
        mocap.fit_rigid(layout[:3], layout[:3], min_markers=4)


# --- simulated PhaseSpace and the fitter -----------------------------------------------------------------

@pytest.mark.parametrize("object_name", ["block", "prism"])
def test_fitter_recovers_the_simulated_object_pose_and_fingertips(object_name, block_scene, prism_scene):
    scene = block_scene if object_name == "block" else prism_scene
    calibration = mocap.load_calibration()
    fitter = mocap.MarkerFitter(scene.object_marker_layout, calibration)
    data = scene.make_data()
    for _ in range(5):
        quat = rotations.random_uniform(RNG)
        data.qpos[scene.object_qpos] = np.concatenate([[1.0, 0.87, 0.2] + RNG.uniform(-0.02, 0.02, 3), quat])
        mujoco.mj_forward(scene.model, data)
        frame = mocap.simulate_markers(scene, data, calibration, RNG, noise_std=0.0)
        pose = fitter.object_pose(frame)
        position, true_quat = scene.object_pose(data)
        np.testing.assert_allclose(pose.position, position, atol=1e-5)  # float64 sites, exact layout
        assert rotations.distance(pose.quat, true_quat) < 1e-5
        tips, seen = fitter.fingertips(frame)
        assert seen.all()
        np.testing.assert_allclose(tips, data.site_xpos[scene.fingertip_sites], atol=1e-9)


def test_simulated_noise_and_dropouts_have_the_requested_statistics(block_scene):
    calibration = mocap.load_calibration()
    data = block_scene.make_data()
    clean = mocap.simulate_markers(block_scene, data, calibration, RNG, noise_std=0.0)
    frames = [mocap.simulate_markers(block_scene, data, calibration, RNG, noise_std=0.003, dropout_probability=0.25)
              for _ in range(400)]
    lost = np.array([f.cond <= 0 for f in frames])
    assert 0.2 < lost.mean() < 0.3
    errors = np.concatenate([(f.positions_mm - clean.positions_mm)[f.seen] for f in frames])
    assert 2.7 < errors.std() < 3.3  # mm per axis
    assert all(np.array_equal(f.ids, clean.ids) for f in frames)


def test_fitter_works_with_three_markers_and_refuses_two(block_scene):
    calibration = mocap.load_calibration()
    fitter = mocap.MarkerFitter(block_scene.object_marker_layout, calibration, max_rms_residual=0.01)
    frame = mocap.simulate_markers(block_scene, block_scene.make_data(), calibration, RNG, noise_std=0.0)
    cond = frame.cond.copy()
    cond[:2] = -1.0
    assert fitter.object_pose(mocap.MarkerFrame(frame.ids, frame.positions_mm, cond)).num_markers == 3
    cond[2] = -1.0
    with pytest.raises(mocap.PoseFitError, match="2 of the object's 5"):
        fitter.object_pose(mocap.MarkerFrame(frame.ids, frame.positions_mm, cond))
    positions = frame.positions_mm.copy()
    positions[0] = np.nan  # a NaN marker counts as unseen, never reaches the fit
    cond[:3] = 1.0
    assert fitter.object_pose(mocap.MarkerFrame(frame.ids, positions, cond)).num_markers == 4


def test_fitter_refuses_a_swapped_marker(block_scene):
    calibration = mocap.load_calibration()
    fitter = mocap.MarkerFitter(block_scene.object_marker_layout, calibration, max_rms_residual=0.005)
    frame = mocap.simulate_markers(block_scene, block_scene.make_data(), calibration, RNG, noise_std=0.0)
    ids = frame.ids.copy()
    ids[[0, 4]] = ids[[4, 0]]  # two LEDs misidentified
    with pytest.raises(mocap.PoseFitError, match="residual"):
        fitter.object_pose(mocap.MarkerFrame(ids, frame.positions_mm, frame.cond))


def test_marker_frame_refuses_inconsistent_sizes_and_duplicate_ids():
    with pytest.raises(ValueError, match="duplicate"):
        mocap.MarkerFrame(np.array([1, 1]), np.zeros((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="2 ids"):
        mocap.MarkerFrame(np.array([1, 2]), np.zeros((3, 3)), np.ones(2))


def test_fingertip_hold_keeps_a_lost_marker_for_the_hold_time_then_withholds_the_set():
    hold = mocap.FingertipHold(0.5)
    tips = np.arange(15.0).reshape(5, 3)
    all_seen = np.ones(5, bool)
    assert not hold.update(tips, all_seen, 0.0).any()
    ff_lost = all_seen.copy()
    ff_lost[0] = False
    moved = tips + 1.0
    assert not hold.update(moved, ff_lost, 0.4).any()
    np.testing.assert_array_equal(hold.positions[0], tips[0])  # FF held at its last seen position
    np.testing.assert_array_equal(hold.positions[1:], moved[1:])
    np.testing.assert_array_equal(hold.update(moved, ff_lost, 0.6), [True, False, False, False, False])
    assert not hold.update(moved, all_seen, 0.7).any()  # seen again: published again
    never_seen = mocap.FingertipHold(0.5)
    assert never_seen.update(tips, ff_lost, 0.0)[0]  # a marker never seen has no position to hold


# --- the marker message ---------------------------------------------------------------------------------

def test_marker_cloud_round_trip_and_malformed_clouds():
    from dactyl_ros import markers
    from dactyl_ros.conversions import seconds_to_stamp, stamp_to_seconds

    frame = mocap.MarkerFrame(np.array([0, 3, 16], np.uint32), RNG.uniform(-900, 900, (3, 3)), np.array([1.0, -1.0, 0.5]))
    cloud = markers.markers_to_cloud(frame, seconds_to_stamp(12.25))
    assert stamp_to_seconds(cloud.header.stamp) == 12.25 and cloud.header.frame_id == "phasespace"
    decoded = markers.cloud_to_markers(cloud)
    np.testing.assert_array_equal(decoded.ids, frame.ids)
    np.testing.assert_allclose(decoded.positions_mm, frame.positions_mm, rtol=1e-6)  # float32 on the wire
    np.testing.assert_array_equal(decoded.cond, frame.cond)
    empty = markers.cloud_to_markers(markers.markers_to_cloud(
        mocap.MarkerFrame(np.zeros(0, np.uint32), np.zeros((0, 3)), np.zeros(0)), seconds_to_stamp(0.0)))
    assert len(empty.ids) == 0

    def broken(**changes):
        bad = markers.markers_to_cloud(frame, seconds_to_stamp(0.0))
        for key, value in changes.items():
            setattr(bad, key, value)
        return bad

    with pytest.raises(ValueError, match="lacks field"):
        markers.cloud_to_markers(broken(fields=cloud.fields[:4]))
    retyped = [type(f)(name=f.name, offset=f.offset, datatype=8 if f.name == "x" else f.datatype, count=1) for f in cloud.fields]
    with pytest.raises(ValueError, match="'x' has datatype 8"):
        markers.cloud_to_markers(broken(fields=retyped))
    with pytest.raises(ValueError, match="bytes"):
        markers.cloud_to_markers(broken(data=bytes(cloud.data)[:-4]))
    with pytest.raises(ValueError, match="row_step"):
        markers.cloud_to_markers(broken(width=4))
    with pytest.raises(ValueError, match="big endian"):
        markers.cloud_to_markers(broken(is_bigendian=True))
    with pytest.raises(ValueError, match="point_step"):
        markers.cloud_to_markers(broken(point_step=8, row_step=24, data=bytes(24)))


# --- per-motor commands -----------------------------------------------------------------------------------

def test_motor_commands_round_trip_and_couple_the_distal_pairs():
    ctrl = RNG.uniform(*joints.CTRL_LIMITS.T, size=(200, joints.NUM_ACTUATORS))
    targets = joints.actuator_targets_to_joint_targets(ctrl)
    commands = joints.joint_targets_to_motor_commands(targets)
    np.testing.assert_allclose(commands, joints.actuator_targets_to_motor_commands(ctrl), atol=1e-12)
    np.testing.assert_allclose(joints.motor_commands_to_joint_targets(commands), targets, atol=1e-12)
    ff0 = joints.SHADOW_ACTUATOR_NAMES.index("rh_FFJ0")
    j1, j2 = joints.shadow_index("rh_FFJ1"), joints.shadow_index("rh_FFJ2")
    np.testing.assert_allclose(commands[:, ff0], targets[:, j1] + targets[:, j2])
    low, high = joints.MOTOR_COMMAND_LIMITS.T
    assert ((commands >= low - 1e-12) & (commands <= high + 1e-12)).all()


# --- calibration procedure ------------------------------------------------------------------------------

def calibration_points(rotation, translation, world, noise_mm=0.0):
    readings = (world - translation) @ rotation * 1000.0 + noise_mm * RNG.standard_normal(world.shape)
    return mocap.CalibrationPoints(tuple(mocap.PointPair(tuple(w), tuple(r)) for w, r in zip(world, readings)))


def test_calibrate_recovers_a_known_transform_from_noisy_readings():
    base = mocap.load_calibration()
    for _ in range(5):
        rotation, translation = random_pose(RNG)
        world = RNG.uniform(0.5, 1.5, (8, 3))
        calibration, residual = mocap.calibrate(calibration_points(rotation, translation, world, noise_mm=0.5), base)
        assert np.abs(calibration.matrix - rotation).max() < 0.01 and np.linalg.det(calibration.matrix) == pytest.approx(1.0)
        np.testing.assert_allclose(calibration.translation, translation, atol=0.003)
        assert residual < 0.001 and calibration.fingertip_marker_ids == base.fingertip_marker_ids
    mirrored = calibration_points(np.diag([1.0, 1.0, -1.0]), np.zeros(3), RNG.uniform(0.5, 1.5, (8, 3)))
    assert mocap.calibrate(mirrored, base)[1] > 0.05  # a reflection never comes out; it shows as a residual


def test_calibrate_mocap_verb_writes_a_calibration_the_nodes_load(tmp_path):
    import subprocess
    import sys

    import yaml

    rotation, translation = random_pose(RNG)
    points = calibration_points(rotation, translation, RNG.uniform(0.5, 1.5, (5, 3)))
    pairs = tmp_path / "pairs.yaml"
    pairs.write_text(yaml.safe_dump({"pairs": [{"world": [float(v) for v in p.world], "phasespace": [float(v) for v in p.phasespace]} for p in points.pairs]}))
    out = tmp_path / "calibration.yaml"
    cli = [sys.executable, "-m", "dactyl_core.cli", "calibrate-mocap"]
    result = subprocess.run(cli + [str(pairs), "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0 and "5 point pairs, rms residual 0.00 mm" in result.stdout, result.stderr
    np.testing.assert_allclose(mocap.load_calibration(out).matrix, rotation, atol=1e-8)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"pairs": [{"world": [0, 0, i], "phasespace": [0, 0, 1000 * i]} for i in range(4)]}))
    result = subprocess.run(cli + [str(bad)], capture_output=True, text=True)
    assert result.returncode == 2 and "collinear" in result.stderr


def test_throttled_log_reports_each_problem_once_per_period_and_counts_repeats():
    from dactyl_ros.health import ThrottledLog

    lines = []

    class Logger:
        def error(self, line):
            lines.append(("error", line))

        def warning(self, line):
            lines.append(("warning", line))

        info = warning

    now = [0.0]
    log = ThrottledLog(Logger(), period=1.0, clock=lambda: now[0])
    for _ in range(4):
        log.error("nan", "NaN command")
        log.warn("clamp", "clamped")
        now[0] += 0.3
    assert lines == [("error", "NaN command"), ("warning", "clamped")]  # 0.9 s passed: still within the period
    now[0] += 0.2
    log.error("nan", "NaN command")
    assert lines[-1] == ("error", "NaN command (3 more like this since the last report)")
    log.warn("clamp", "clamped")
    assert lines[-1] == ("warning", "clamped (3 more like this since the last report)") and len(lines) == 4
