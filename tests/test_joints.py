"""The joint table: every name maps one-to-one, ranges and signs agree with the model and with Shadow."""
import numpy as np
import pytest

from dactyl_core import joints


def test_table_sizes_and_uniqueness():
    assert joints.NUM_JOINTS == 24 and joints.NUM_ACTUATORS == 20
    assert len(set(joints.MODEL_JOINT_NAMES)) == 24
    assert len(set(joints.SHADOW_JOINT_NAMES)) == 24
    assert len(set(joints.SHADOW_ACTUATOR_NAMES)) == 20
    assert [j.index for j in joints.JOINTS] == list(range(24))
    assert [a.index for a in joints.ACTUATORS] == list(range(20))


def test_every_model_joint_maps_to_one_shadow_name_and_back():
    for j in joints.JOINTS:
        assert joints.JOINTS[joints.shadow_index(j.shadow_name)].model_name == j.model_name
        assert joints.JOINTS[joints.model_index(j.model_name)].shadow_name == j.shadow_name


def test_naming_offsets_follow_the_documented_trap():
    table = {j.model_name.split(":")[1]: j.shadow_name for j in joints.JOINTS}
    assert table["FFJ3"] == "rh_FFJ4" and table["FFJ0"] == "rh_FFJ1"
    assert table["WRJ1"] == "rh_WRJ2" and table["WRJ0"] == "rh_WRJ1"
    assert [table[f"THJ{i}"] for i in range(4, -1, -1)] == [f"rh_THJ{i}" for i in range(5, 0, -1)]
    assert table["LFJ4"] == "rh_LFJ5"
    flipped = [j.shadow_name for j in joints.JOINTS if j.sign < 0]
    assert flipped == ["rh_THJ1"]


def test_ranges_agree_with_the_model(block_scene):
    m = block_scene.model
    for j in joints.JOINTS:
        np.testing.assert_allclose(m.jnt_range[m.joint(j.model_name).id], j.model_range, atol=1e-6)
    for a in joints.ACTUATORS:
        act = m.actuator(a.model_name)
        np.testing.assert_allclose(act.ctrlrange, a.ctrl_range, atol=1e-6)
        assert m.joint(act.trnid[0]).name == a.model_joint


def test_sign_mapped_model_ranges_lie_inside_shadow_limits():
    for j in joints.JOINTS:
        low, high = j.command_range
        assert j.shadow_range[0] - 1e-9 <= low <= high <= j.shadow_range[1] + 1e-9, j
    thumb = joints.JOINTS[joints.shadow_index("rh_THJ1")]
    assert thumb.model_range == (-1.571, 0.0) and thumb.command_range == (0.0, 1.571)


def test_coupled_ratio_matches_the_model_tendon(block_scene):
    m = block_scene.model
    for finger in ("FF", "MF", "RF", "LF"):
        tendon = m.tendon(f"robot0:T_{finger}J1c").id
        adr, num = m.tendon_adr[tendon], m.tendon_num[tendon]
        coefs = {m.joint(m.wrap_objid[adr + k]).name: m.wrap_prm[adr + k] for k in range(num)}
        ratio = -coefs[f"robot0:{finger}J1"] / coefs[f"robot0:{finger}J0"]
        assert ratio == pytest.approx(joints.COUPLED_DISTAL_RATIO)


def test_coupled_actuators_are_the_four_distal_pairs():
    coupled = {a.shadow_name: a.shadow_joints for a in joints.ACTUATORS if a.coupled}
    assert coupled == {f"rh_{f}J0": (f"rh_{f}J2", f"rh_{f}J1") for f in ("FF", "MF", "RF", "LF")}
    assert joints.ACTUATORS[4].controller_topic == "/sh_rh_ffj0_position_controller/command"


def test_position_conversion_round_trip():
    rng = np.random.default_rng(0)
    q = rng.uniform(*joints.COMMAND_LIMITS.T, size=(100, 24))
    np.testing.assert_allclose(joints.model_to_shadow_positions(joints.shadow_to_model_positions(q)), q)
    model = joints.shadow_to_model_positions(q)
    assert np.all(model[:, 23] <= 0)  # the thumb distal joint bends negative in the model


def test_actuator_targets_round_trip_through_joint_targets_and_motor_commands():
    rng = np.random.default_rng(1)
    ctrl = rng.uniform(*joints.CTRL_LIMITS.T, size=(200, 20))
    targets = joints.actuator_targets_to_joint_targets(ctrl)
    assert targets.shape == (200, 24)
    assert np.all(targets >= joints.COMMAND_LIMITS[:, 0] - 1e-12) and np.all(targets <= joints.COMMAND_LIMITS[:, 1] + 1e-12)
    np.testing.assert_allclose(joints.joint_targets_to_actuator_targets(targets), ctrl, atol=1e-12)
    motors = joints.actuator_targets_to_motor_commands(ctrl)
    np.testing.assert_allclose(joints.motor_commands_to_actuator_targets(motors), ctrl, atol=1e-12)
    j0 = motors[:, [a.index for a in joints.ACTUATORS if a.coupled]]
    assert np.all((j0 >= 0) & (j0 <= np.pi + 1e-9))


def test_coupled_j0_is_sum_of_expanded_joints():
    ctrl = np.zeros(20)
    ctrl[4] = 0.5  # FF middle joint
    targets = joints.actuator_targets_to_joint_targets(ctrl)
    j2, j1 = targets[joints.shadow_index("rh_FFJ2")], targets[joints.shadow_index("rh_FFJ1")]
    assert j2 == pytest.approx(0.5) and j1 == pytest.approx(0.5 * joints.COUPLED_DISTAL_RATIO)
    assert joints.actuator_targets_to_motor_commands(ctrl)[4] == pytest.approx(j1 + j2)


def test_unknown_names_say_what_is_valid():
    with pytest.raises(KeyError, match="rh_FFJ4"):
        joints.shadow_index("rh_FFJ9")
    with pytest.raises(KeyError, match="robot0:FFJ3"):
        joints.model_index("FFJ3")


def test_in_limit_joint_targets_give_in_limit_motor_commands():
    """Both joints of a coupled finger at their (rounded) limits must not command J0 past pi."""
    rng = np.random.default_rng(0)
    targets = rng.uniform(joints.COMMAND_LIMITS[:, 0], joints.COMMAND_LIMITS[:, 1], (1000, joints.NUM_JOINTS))
    targets[:10] = joints.COMMAND_LIMITS[:, 1]
    commands = joints.joint_targets_to_motor_commands(targets)
    assert (commands >= joints.MOTOR_COMMAND_LIMITS[:, 0]).all() and (commands <= joints.MOTOR_COMMAND_LIMITS[:, 1]).all()
