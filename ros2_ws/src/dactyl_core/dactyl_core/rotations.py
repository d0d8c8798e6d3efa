"""Quaternion and rotation math, vectorised over leading dimensions.

Convention: unit quaternions are (w, x, y, z) as in MuJoCo, and act on column vectors (active rotations).
ROS messages store (x, y, z, w): convert at the message boundary with `to_xyzw` / `from_xyzw`.
"""
from __future__ import annotations

import itertools

import numpy as np

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


def normalize(q: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q / np.maximum(np.sqrt(np.einsum("...i,...i->...", q, q))[..., None], eps)


def canonical(q: np.ndarray) -> np.ndarray:
    """q and -q are the same rotation; pick the one with w >= 0."""
    q = np.asarray(q, dtype=np.float64)
    return np.where(q[..., :1] < 0, -q, q)


def conjugate(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _hamilton_table() -> np.ndarray:
    """H with (a * b)_k = sum over i, j of a_i b_j H[k, j, i]. In the terms below, "+12" is +a_1 b_2."""
    table = np.zeros((4, 4, 4))
    for k, terms in enumerate(("+00 -11 -22 -33", "+01 +10 +23 -32", "+02 -13 +20 +31", "+03 +12 -21 +30")):
        for term in terms.split():
            table[k, int(term[2]), int(term[1])] = 1.0 if term[0] == "+" else -1.0
    return table


HAMILTON = _hamilton_table()


def multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b (apply b first, then a).

    As two einsums (a's left-multiplication matrix, then its product with b): on the small batches of
    the environment and the policy node, two calls cost far less than sixteen element-wise products.
    """
    left = np.einsum("kji,...i->...kj", HAMILTON, np.asarray(a, dtype=np.float64))
    return np.einsum("...kj,...j->...k", left, np.asarray(b, dtype=np.float64))


def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle (radians, in [0, pi]) between orientations a and b; q and -q are equal."""
    dot = np.abs(np.sum(normalize(a) * normalize(b), axis=-1))
    return 2.0 * np.arccos(np.clip(dot, 0.0, 1.0))


def relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation that takes orientation a to orientation b: b = relative(a, b) * a."""
    return multiply(b, conjugate(a))


def from_axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    axis = normalize(axis)
    half = 0.5 * np.asarray(angle, dtype=np.float64)[..., None]
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1)


def to_axis_angle(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = canonical(normalize(q))
    angle = 2.0 * np.arccos(np.clip(q[..., 0], -1.0, 1.0))
    s = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    axis = np.where(s > 1e-12, q[..., 1:] / np.maximum(s, 1e-12), np.array([1.0, 0.0, 0.0]))
    return axis, angle


def to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = np.moveaxis(normalize(q), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def from_matrix(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions with w >= 0 (Shepperd's method, vectorised)."""
    m = np.asarray(m, dtype=np.float64)
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    candidates = np.stack(
        [
            np.stack([1 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
            np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m[..., 0, 0] - trace, m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
            np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 + 2 * m[..., 1, 1] - trace, m[..., 1, 2] + m[..., 2, 1]], -1),
            np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 + 2 * m[..., 2, 2] - trace], -1),
        ],
        axis=-2,
    )
    diag = np.stack([trace, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], -1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    return canonical(normalize(q))


def look_at(position: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Orientation of a MuJoCo camera (looks along its -z, y up) at `position` aimed at `target`."""
    back = normalize(np.asarray(position, float) - np.asarray(target, float))
    right = np.cross(np.asarray(up, float), back)
    if np.linalg.norm(right) < 1e-9:  # looking straight down or up: any right vector will do
        right = np.array([1.0, 0.0, 0.0])
    right = normalize(right)
    cam_up = np.cross(back, right)
    return from_matrix(np.stack([right, cam_up, back], axis=-1))


def random_uniform(rng: np.random.Generator, size: int | tuple[int, ...] = ()) -> np.ndarray:
    """Uniformly distributed random rotations (Shoemake's method)."""
    shape = (size,) if isinstance(size, int) else tuple(size)
    u1, u2, u3 = rng.random((3,) + shape)
    a, b = np.sqrt(1 - u1), np.sqrt(u1)
    q = np.stack([a * np.sin(2 * np.pi * u2), a * np.cos(2 * np.pi * u2), b * np.sin(2 * np.pi * u3), b * np.cos(2 * np.pi * u3)], -1)
    return canonical(q)


def _face_aligned() -> np.ndarray:
    mats = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            for row, (col, s) in enumerate(zip(perm, signs)):
                m[row, col] = s
            if np.linalg.det(m) > 0:
                mats.append(m)
    return from_matrix(np.array(mats))


#: The 24 rotations that map the axes of a cube onto axes (each face onto a face), shape (24, 4).
FACE_ALIGNED = _face_aligned()


def to_xyzw(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 1:], q[..., :1]], axis=-1)


def from_xyzw(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 3:], q[..., :3]], axis=-1)
