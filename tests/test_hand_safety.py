"""The hand driver's safety filter, on its own: validation, clamping, rate limiting, holding.

The property test drives the filter with arbitrary command sequences (garbage included) and checks the
two promises the driver makes about everything it forwards."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dactyl_core import joints
from shadow_hand_driver.safety import CommandError, SafetyFilter, parse_command, parse_joint_states

NAMES = list(joints.SHADOW_JOINT_NAMES)
LOW, HIGH = joints.COMMAND_LIMITS.T
MAX_SPEED, PERIOD = 2.0, 0.08


def test_parse_command_accepts_any_order_and_refuses_malformed_commands():
    targets = np.linspace(0.0, 0.2, 24)
    order = np.random.default_rng(0).permutation(24)
    np.testing.assert_array_equal(parse_command([NAMES[i] for i in order], targets[order]), targets)
    with pytest.raises(CommandError, match="unknown joint name"):
        parse_command(["robot0:FFJ0"] + NAMES[1:], targets)
    with pytest.raises(CommandError, match="missing"):
        parse_command(NAMES[:20], targets[:20])
    with pytest.raises(CommandError, match="more than once"):
        parse_command(NAMES[:23] + [NAMES[0]], targets)
    with pytest.raises(CommandError, match="24 joint names but 23 positions"):
        parse_command(NAMES, targets[:23])
    for bad in (np.nan, np.inf, -np.inf):
        values = targets.copy()
        values[5] = bad
        with pytest.raises(CommandError, match="non-finite.*rh_FFJ1"):
            parse_command(NAMES, values)


def test_joint_states_may_carry_other_joints_but_not_miss_hand_joints():
    pose = np.linspace(-0.1, 0.1, 24)
    np.testing.assert_array_equal(parse_joint_states(["ra_shoulder"] + NAMES[::-1], [9.0] + list(pose[::-1])), pose)
    with pytest.raises(CommandError, match="1 hand joint"):
        parse_joint_states(NAMES[1:], pose[1:])
    with pytest.raises(CommandError, match="non-finite"):
        parse_joint_states(NAMES, np.full(24, np.nan))
    with pytest.raises(CommandError, match="24 joint names but 0 positions"):
        parse_joint_states(NAMES, [])


def test_filter_clamps_rate_limits_and_reports_which_joints():
    safety = SafetyFilter(MAX_SPEED, PERIOD)
    with pytest.raises(CommandError, match="not known"):
        safety.filter(np.zeros(24), 0.0)
    safety.prime(np.zeros(24), 0.0)
    far = np.zeros(24)
    far[joints.shadow_index("rh_FFJ3")] = 5.0  # beyond the 1.571 limit and far beyond one step
    result = safety.filter(far, 1.0)
    assert result.clamped == ("rh_FFJ3",) and result.rate_limited == ("rh_FFJ3",)
    assert result.command[joints.shadow_index("rh_FFJ3")] == pytest.approx(MAX_SPEED * PERIOD)
    # a burst: 10 ms later only 10 ms worth of motion is allowed
    result = safety.filter(far, 1.01)
    assert result.command[joints.shadow_index("rh_FFJ3")] == pytest.approx(MAX_SPEED * PERIOD + MAX_SPEED * 0.01)
    for step in range(2, 40):
        result = safety.filter(far, 1.01 + step * PERIOD)
    assert result.command[joints.shadow_index("rh_FFJ3")] == pytest.approx(HIGH[joints.shadow_index("rh_FFJ3")])
    np.testing.assert_array_equal(safety.hold(), result.command)


def test_a_clock_that_jumps_back_does_not_unlock_motion():
    safety = SafetyFilter(MAX_SPEED, PERIOD)
    safety.prime(np.zeros(24), 100.0)
    spent = safety.filter(np.full(24, 0.3), 100.0).command  # the budget of the pause before: one period's worth
    assert np.abs(spent).max() == pytest.approx(MAX_SPEED * PERIOD)
    after_reset = safety.filter(np.full(24, 0.3), 0.0).command  # sim reset: time went back, and earned nothing
    np.testing.assert_array_equal(after_reset, spent)
    second = safety.filter(np.full(24, 0.3), PERIOD).command
    assert np.abs(second - after_reset).max() <= MAX_SPEED * PERIOD + 1e-12


def test_a_target_within_the_budget_is_forwarded_exactly_and_not_reported_as_slowed():
    """0.1 + (0.01 - 0.1) is not 0.01 in floating point: the filter used to forward that and report the joint
    as rate-limited, on about half the moves of a joint to below half its position (seen in the graph)."""
    safety = SafetyFilter(MAX_SPEED, PERIOD)
    start, target = np.full(24, 0.1), np.full(24, 0.01)
    assert (start + (np.clip(target, LOW, HIGH) - start) != np.clip(target, LOW, HIGH)).any()
    safety.prime(start, 0.0)
    result = safety.filter(target, PERIOD)
    assert result.rate_limited == ()
    np.testing.assert_array_equal(result.command, np.clip(target, LOW, HIGH))


def test_prime_clamps_a_measured_pose_outside_the_limits():
    safety = SafetyFilter(MAX_SPEED, PERIOD)
    pose = np.zeros(24)
    pose[joints.shadow_index("rh_THJ1")] = -0.1  # a little beyond the command range
    safety.prime(pose, 0.0)
    assert safety.hold()[joints.shadow_index("rh_THJ1")] == 0.0
    with pytest.raises(CommandError):
        safety.prime(np.full(24, np.nan), 0.0)


commands = st.tuples(
    st.floats(0.0, 0.3),  # seconds since the previous command (bursts, pauses)
    st.lists(st.floats(-10.0, 10.0), min_size=24, max_size=24),
    st.sampled_from(["ok", "ok", "ok", "ok", "shuffled", "dropped", "renamed", "nan", "inf", "huge"]),
    st.integers(0, 23),  # which joint a corruption hits
)
CORRUPT = {"nan": np.nan, "inf": -np.inf, "huge": 1e300}


@settings(max_examples=300, deadline=None)
@given(start=st.lists(st.floats(-2.0, 2.0), min_size=24, max_size=24), sequence=st.lists(commands, max_size=40),
       max_speed=st.floats(0.1, 5.0), period=st.floats(0.01, 0.2))
def test_every_forwarded_command_is_within_limits_and_rate_limits(start, sequence, max_speed, period):
    safety = SafetyFilter(max_speed, period)
    now = 0.0
    safety.prime(np.array(start), now)
    previous = safety.hold()
    forwarded = [(now, previous)]  # what the hand was sent (the primed pose first) and when
    for dt, positions, corruption, joint in sequence:
        now += dt
        names = list(NAMES)
        if corruption == "shuffled":
            names = names[::-1]
        elif corruption == "dropped":
            names = names[:-1]
        elif corruption == "renamed":
            names[joint] = names[joint].replace("rh_", "")
        elif corruption in CORRUPT:
            positions[joint] = CORRUPT[corruption]
        try:
            command = safety.filter(parse_command(names, positions[: len(names)]), now).command
        except CommandError:
            command = safety.hold()  # what the driver forwards instead: the last safe pose
            assert np.array_equal(command, previous)
            continue
        assert np.isfinite(command).all()
        assert (command >= LOW).all() and (command <= HIGH).all()
        # One command moves a joint at most one control period's worth, and over any span T since an
        # earlier command at most max_speed * (period + T): bursts add up to nothing faster.
        assert np.abs(command - previous).max() <= max_speed * period + 1e-9
        for then, earlier in forwarded:
            assert np.abs(command - earlier).max() <= max_speed * (period + now - then) + 1e-9
        previous = command
        forwarded.append((now, command))


def test_commands_with_jittered_arrival_at_a_legitimate_speed_are_not_slowed():
    """A policy moving every joint at 65% of the limit (the trained one: ~1.3 of 2 rad/s), its commands
    arriving up to 20% of a period early or late: the budget carries what an early command lacks over from
    the late one before it, where a limit on each command's own dt slowed every early command."""
    rng = np.random.default_rng(0)
    safety = SafetyFilter(MAX_SPEED, PERIOD)
    middle = (LOW + HIGH) / 2
    safety.prime(middle, 0.0)
    step = 0.65 * MAX_SPEED * PERIOD
    span = np.minimum(HIGH - middle, middle - LOW)  # each joint swings within its own range
    target, direction = middle.copy(), np.ones(24)
    for k in range(1, 200):
        turn = np.abs(target + direction * step - middle) > span
        direction[turn] *= -1
        target = target + direction * np.minimum(step, span)
        result = safety.filter(target, k * PERIOD + rng.uniform(-0.2, 0.2) * PERIOD)
        assert result.rate_limited == (), (k, result.rate_limited)
        np.testing.assert_allclose(result.command, target)
