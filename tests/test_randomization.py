"""Domain randomization: each group changes exactly what it claims, within range, and never drifts."""
import copy

import numpy as np
import pytest

from dactyl_core import randomization as rz
from dactyl_core.config import ConfigError, load
from dactyl_core.randomization import PhysicsRandomization, RandomizationConfig


@pytest.fixture(scope="module")
def randomizer(block_scene):
    return rz.ModelRandomizer(block_scene.model, block_scene, PhysicsRandomization())


def _changed_fields(a, b):
    fields = [f for f in rz.ModelRandomizer.FIELDS if not np.array_equal(getattr(a, f), getattr(b, f))]
    if not np.array_equal(a.opt.gravity, b.opt.gravity):
        fields.append("opt.gravity")
    if a.opt.timestep != b.opt.timestep:
        fields.append("opt.timestep")
    return set(fields)


def test_physics_draw_changes_only_its_fields_within_ranges(block_scene, randomizer):
    nominal = block_scene.model
    model = copy.deepcopy(nominal)
    c = PhysicsRandomization()
    rng = np.random.default_rng(0)
    for _ in range(20):
        params = randomizer.apply(model, rng)
        changed = _changed_fields(nominal, model)
        assert changed <= set(rz.ModelRandomizer.FIELDS) | {"opt.gravity", "opt.timestep"}
        assert {"geom_size", "body_mass", "dof_damping", "actuator_gainprm", "geom_friction"} <= changed
        obj = block_scene.object_body
        size = model.geom_size[nominal.geom("object").id] / nominal.geom_size[nominal.geom("object").id]
        assert np.allclose(size, params["object_size_scale"]) and c.object_size_scale[0] <= size[0] <= c.object_size_scale[1]
        mass_ratio = model.body_mass[obj] / nominal.body_mass[obj] / params["object_size_scale"] ** 3
        assert c.object_mass_scale[0] - 1e-9 <= mass_ratio <= c.object_mass_scale[1] + 1e-9
        kp = model.actuator_gainprm[:, 0] / nominal.actuator_gainprm[:, 0]
        assert np.all((kp >= c.actuator_kp_scale[0] - 1e-9) & (kp <= c.actuator_kp_scale[1] + 1e-9))
        np.testing.assert_allclose(model.actuator_biasprm[:, 1], -model.actuator_gainprm[:, 0])  # still a position servo
        damping = model.dof_damping[block_scene.hand_qvel] / nominal.dof_damping[block_scene.hand_qvel]
        assert np.all((damping >= c.joint_damping_scale[0] - 1e-9) & (damping <= c.joint_damping_scale[1] + 1e-9))
        assert c.timestep_scale[0] <= model.opt.timestep / nominal.opt.timestep <= c.timestep_scale[1]
        assert np.all(model.jnt_range[:, 0] <= model.jnt_range[:, 1])


def test_model_returns_to_nominal_between_episodes(block_scene, randomizer):
    model = copy.deepcopy(block_scene.model)
    rng = np.random.default_rng(1)
    for _ in range(5):
        randomizer.apply(model, rng)
    off = rz.ModelRandomizer(block_scene.model, block_scene, PhysicsRandomization(enabled=False))
    params = off.apply(model, rng)
    assert _changed_fields(block_scene.model, model) == set()
    assert params == rz.NOMINAL_PARAMETERS


def test_prism_size_scales_its_mesh(prism_scene):
    r = rz.ModelRandomizer(prism_scene.model, prism_scene, PhysicsRandomization())
    model = copy.deepcopy(prism_scene.model)
    params = r.apply(model, np.random.default_rng(2))
    mesh = prism_scene.model.mesh("prism_mesh")
    verts = slice(mesh.vertadr[0], mesh.vertadr[0] + mesh.vertnum[0])
    np.testing.assert_allclose(model.mesh_vert[verts], prism_scene.model.mesh_vert[verts] * params["object_size_scale"], rtol=1e-6)


def test_observation_noise_statistics_match_the_config():
    c = rz.ObservationNoiseConfig(fingertip_freeze_rate=0.0, object_freeze_rate=0.0)
    n = 4000
    noise = rz.ObservationNoise(c, n, 0.08)
    rng = np.random.default_rng(0)
    noise.reset(np.ones(n, bool), rng)
    tips, pos, quat = np.zeros((n, 5, 3)), np.zeros((n, 3)), np.tile([1.0, 0, 0, 0], (n, 1))
    a = noise.apply(tips, pos, quat, rng)
    b = noise.apply(tips, pos, quat, rng)
    total = np.sqrt(c.fingertip_pos.correlated ** 2 + c.fingertip_pos.uncorrelated ** 2)
    assert a[0].std() == pytest.approx(total, rel=0.05)
    # Between two steps the correlated part cancels: the difference has sqrt(2) x the uncorrelated sigma.
    assert (a[0] - b[0]).std() == pytest.approx(np.sqrt(2) * c.fingertip_pos.uncorrelated, rel=0.05)
    assert (a[1] - b[1]).std() == pytest.approx(np.sqrt(2) * c.object_pos.uncorrelated, rel=0.05)
    assert np.std(a[1]) == pytest.approx(np.hypot(c.object_pos.correlated, c.object_pos.uncorrelated), rel=0.05)
    from dactyl_core import rotations

    angles = rotations.distance(a[2], quat)
    assert np.sqrt(np.mean(angles ** 2)) == pytest.approx(np.hypot(c.object_rot.correlated, c.object_rot.uncorrelated), rel=0.1)


def test_marker_freezing_holds_the_last_value():
    c = rz.ObservationNoiseConfig(fingertip_freeze_rate=1e6, object_freeze_rate=0.0, freeze_duration=(0.4, 0.4))
    noise = rz.ObservationNoise(c, 1, 0.08)
    rng = np.random.default_rng(0)
    noise.reset(np.ones(1, bool), rng)
    quat = np.array([[1.0, 0, 0, 0]])
    first = noise.apply(np.zeros((1, 5, 3)), np.zeros((1, 3)), quat, rng)[0].copy()
    frozen = [noise.apply(np.full((1, 5, 3), float(k)), np.zeros((1, 3)), quat, rng)[0] for k in range(1, 6)]
    for value in frozen:  # frozen for 0.4 s = 5 control steps: the fingertips repeat the first reading
        np.testing.assert_array_equal(value, first)


def test_action_perturbation_and_forces():
    c = rz.UnmodeledConfig()
    ap = rz.ActionPerturbation(c, 1000)
    rng = np.random.default_rng(0)
    ap.reset(np.ones(1000, bool), rng)
    assert ap.latency.min() >= 0 and ap.latency.max() <= c.max_action_latency
    assert np.log(ap.backlash / c.backlash).std() == pytest.approx(c.backlash_log_sigma, rel=0.05)
    motor = ap.through_backlash(np.zeros((1000, 20)), np.full((1000, 20), 0.001))
    assert np.all(motor <= 0.001) and np.all(motor >= 0.0)  # inside the dead band the motor may stay put
    forces = rz.ObjectForces(c, 1000, 10)
    wrench = forces.step(np.full(1000, 0.1), rng).copy()
    pushed = np.abs(wrench).sum(axis=1) > 0
    assert pushed.mean() == pytest.approx(c.object_force_probability, abs=0.03)
    assert wrench[pushed, :3].std() == pytest.approx(c.object_force_sigma * 0.1, rel=0.2)
    decayed = forces.step(np.full(1000, 0.1), np.random.default_rng(99))
    old = pushed & (np.abs(decayed - wrench * c.object_force_decay ** 10).sum(axis=1) < 1e-12)
    assert old.sum() > 0.8 * pushed.sum()  # most pushes just decayed (a few got a new push on top)


def test_presets_switch_exactly_their_groups():
    base = RandomizationConfig()
    for name, switches in rz.PRESETS.items():
        cfg = rz.apply_preset(base, name)
        assert {g: getattr(cfg, g).enabled for g in switches} == switches
        assert cfg.physics.object_mass_scale == base.physics.object_mass_scale  # ranges untouched
    with pytest.raises(ConfigError, match="no-obs-noise"):
        rz.apply_preset(base, "no-noise")


def test_shipped_yaml_equals_defaults():
    assert rz.load_randomization_config() == RandomizationConfig()


@pytest.mark.parametrize("data, message", [
    ({"physics": {"object_mass_scal": [0.5, 1.5]}}, r"physics: unknown key\(s\) \['object_mass_scal'\]"),
    ({"physics": {"object_mass_scale": [1.5, 0.5]}}, r"physics.object_mass_scale: range \[1.5, 0.5\] is inverted"),
    ({"physics": {"actuator_kp_scale": [-1.0, 2.0]}}, r"physics.actuator_kp_scale.*must be positive"),
    ({"physics": {"gravity_sigma": -0.4}}, r"physics.gravity_sigma: -0.4 must not be negative"),
    ({"observation_noise": {"object_pos": {"correlated": "big", "uncorrelated": 0.1}}}, r"object_pos.correlated: expected a number"),
    ({"unmodeled": {"enabled": "yes"}}, r"unmodeled.enabled: expected true or false"),
    ({"unmodeled": {"max_action_latency": 2.0}}, r"max_action_latency"),
])
def test_bad_randomization_yaml_is_refused_naming_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        load(RandomizationConfig, data, "randomization.yaml")
