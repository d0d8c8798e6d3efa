"""Quaternion math: properties over random rotations (hypothesis) and known cases."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dactyl_core import rotations as rot

quaternions = arrays(np.float64, 4, elements=st.floats(-1, 1, allow_nan=False)).filter(lambda q: np.linalg.norm(q) > 0.1).map(rot.normalize)


@settings(max_examples=200, deadline=None)
@given(quaternions, quaternions)
def test_distance_is_symmetric_and_bounded(a, b):
    d = rot.distance(a, b)
    assert d == pytest.approx(rot.distance(b, a), abs=1e-9)
    assert 0.0 <= d <= np.pi + 1e-12


@settings(max_examples=200, deadline=None)
@given(quaternions)
def test_distance_is_zero_for_the_same_rotation_up_to_sign(q):
    assert rot.distance(q, q) == pytest.approx(0.0, abs=1e-6)
    assert rot.distance(q, -q) == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(quaternions, st.floats(1e-3, np.pi), arrays(np.float64, 3, elements=st.floats(-1, 1)).filter(lambda v: np.linalg.norm(v) > 0.1))
def test_distance_equals_the_angle_of_the_relative_rotation(q, angle, axis):
    other = rot.multiply(rot.from_axis_angle(axis, angle), q)
    assert rot.distance(q, other) == pytest.approx(angle, abs=1e-6)
    assert rot.distance(q, other) > 0


@settings(max_examples=100, deadline=None)
@given(quaternions, quaternions)
def test_relative_takes_a_to_b(a, b):
    assert rot.distance(rot.multiply(rot.relative(a, b), a), b) == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(quaternions)
def test_matrix_round_trip_and_rotation_agree(q):
    m = rot.to_matrix(q)
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(m) == pytest.approx(1.0)
    assert rot.distance(rot.from_matrix(m), q) == pytest.approx(0.0, abs=1e-6)
    v = np.array([0.3, -0.2, 0.9])
    np.testing.assert_allclose(rot.rotate(q, v), m @ v, atol=1e-9)


def test_vectorised_over_leading_dimensions():
    rng = np.random.default_rng(0)
    a, b = rot.random_uniform(rng, (5, 7)), rot.random_uniform(rng, (5, 7))
    assert rot.distance(a, b).shape == (5, 7)
    assert rot.multiply(a, b).shape == (5, 7, 4)
    assert rot.to_matrix(a).shape == (5, 7, 3, 3)


def test_random_rotations_are_uniform():
    q = rot.random_uniform(np.random.default_rng(0), 20000)
    # The angle of a uniform random rotation has density (1 - cos t) / pi: mean pi/2 + 2/pi.
    angles = rot.distance(q, rot.IDENTITY)
    assert angles.mean() == pytest.approx(np.pi / 2 + 2 / np.pi, abs=0.02)


def test_face_aligned_set():
    faces = rot.FACE_ALIGNED
    assert faces.shape == (24, 4)
    d = rot.distance(faces[:, None], faces[None, :])
    off_diagonal = d[~np.eye(24, dtype=bool)]
    assert off_diagonal.min() == pytest.approx(np.pi / 2, abs=1e-9)  # all distinct, at least 90 deg apart
    mats = np.round(rot.to_matrix(faces))
    assert np.all(np.abs(mats).sum(axis=-1) == 1)


def test_look_at_points_the_camera_minus_z_at_the_target():
    q = rot.look_at([1.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    forward = rot.rotate(q, [0.0, 0.0, -1.0])
    np.testing.assert_allclose(forward, np.array([-1.0, 0.0, -1.0]) / np.sqrt(2), atol=1e-9)


def test_ros_order_round_trip():
    q = rot.random_uniform(np.random.default_rng(3), 4)
    np.testing.assert_allclose(rot.from_xyzw(rot.to_xyzw(q)), q)
    assert rot.to_xyzw(rot.IDENTITY).tolist() == [0.0, 0.0, 0.0, 1.0]
