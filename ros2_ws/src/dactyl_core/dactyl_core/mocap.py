"""Motion capture (PhaseSpace): marker frames, the world <-> PhaseSpace calibration, and pose fitting.

PhaseSpace reports markers by LED id in millimetres with Y up; a marker with `cond <= 0` was not seen.
Our world frame is z up in metres. A calibrated rigid transform (config/mocap_calibration.yaml) maps one
into the other, `p_world = R @ (p_mm / 1000) + t`; R must be a proper rotation, never a reflection.

The object carries the markers the scene defines (`Scene.object_marker_layout`, object frame, metres);
each fingertip carries one. `MarkerFitter` turns one frame of markers into the object pose (Kabsch fit
with the determinant correction; fewer than 3 markers or a high residual are refused) and the fingertip
positions. `simulate_markers` is the other direction: what PhaseSpace would report for a MuJoCo state.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import rotations
from .config import ConfigError, load

CONFIG_FILE = Path(__file__).resolve().parent / "config" / "mocap_calibration.yaml"
MM_PER_M = 1000.0
NUM_FINGERTIPS = 5  # FF, MF, RF, LF, TH (scene.FINGERS order)

Vector3 = tuple[float, float, float]


@dataclass(frozen=True)
class MocapCalibration:
    """world <- PhaseSpace rigid transform and which LED ids sit where."""

    rotation: tuple[Vector3, Vector3, Vector3]  # R, rows; columns are the PhaseSpace axes seen in the world
    translation: Vector3  # m: where the PhaseSpace origin is in the world
    object_marker_first_id: int = 0  # object marker i has LED id first_id + i
    fingertip_marker_ids: tuple[int, int, int, int, int] = (16, 17, 18, 19, 20)  # FF, MF, RF, LF, TH

    def __post_init__(self):
        r = np.asarray(self.rotation, dtype=np.float64)
        if not np.isfinite(r).all() or not np.isfinite(self.translation).all():
            raise ConfigError("mocap calibration: rotation and translation must be finite")
        orthogonality = np.abs(r @ r.T - np.eye(3)).max()
        if orthogonality > 1e-3:
            raise ConfigError(f"mocap calibration: rotation is not orthonormal (|R R^T - I| = {orthogonality:.3g})")
        det = np.linalg.det(r)
        if det < 0:
            raise ConfigError(f"mocap calibration: rotation has det {det:.3f}: a reflection, not a rotation; "
                              "flip the sign of one axis (PhaseSpace and the world are both right-handed)")
        if self.object_marker_first_id < 0 or min(self.fingertip_marker_ids) < 0:
            raise ConfigError("mocap calibration: marker ids must not be negative")
        if len(set(self.fingertip_marker_ids)) != NUM_FINGERTIPS:
            raise ConfigError(f"mocap calibration: fingertip_marker_ids {self.fingertip_marker_ids} must be distinct")

    @property
    def matrix(self) -> np.ndarray:
        """R, re-orthonormalised (a calibration file holds a few decimals)."""
        u, _, vt = np.linalg.svd(np.asarray(self.rotation, dtype=np.float64))
        return u @ vt

    def object_marker_ids(self, count: int) -> np.ndarray:
        ids = self.object_marker_first_id + np.arange(count)
        clash = set(ids.tolist()) & set(self.fingertip_marker_ids)
        if clash:
            raise ConfigError(f"mocap calibration: object marker ids {sorted(clash)} are also fingertip marker ids")
        return ids

    def to_world(self, positions_mm: np.ndarray) -> np.ndarray:
        """Points (..., 3) in PhaseSpace millimetres -> world metres."""
        return np.asarray(positions_mm, dtype=np.float64) / MM_PER_M @ self.matrix.T + np.asarray(self.translation)

    def to_mocap(self, positions_m: np.ndarray) -> np.ndarray:
        """Points (..., 3) in world metres -> PhaseSpace millimetres."""
        return (np.asarray(positions_m, dtype=np.float64) - np.asarray(self.translation)) @ self.matrix * MM_PER_M

    def orientation_to_world(self, quat_mocap: np.ndarray) -> np.ndarray:
        """An orientation expressed in the PhaseSpace frame (w, x, y, z) -> the same orientation in the world."""
        return rotations.multiply(rotations.from_matrix(self.matrix), quat_mocap)


def load_calibration(source=None) -> MocapCalibration:
    """The calibration from a YAML path or mapping (default: config/mocap_calibration.yaml); strict."""
    return load(MocapCalibration, CONFIG_FILE if source is None else source)


@dataclass(frozen=True)
class PointPair:
    world: Vector3  # m, where a marker was placed, in the world frame
    phasespace: Vector3  # mm, what PhaseSpace reported for it


@dataclass(frozen=True)
class CalibrationPoints:
    """The input of `calibrate`: a marker placed at known world positions and PhaseSpace's readings."""

    pairs: tuple[PointPair, ...]

    def __post_init__(self):
        if len(self.pairs) < 3:
            raise ConfigError(f"calibration points: {len(self.pairs)} pair(s); at least 3 non-collinear are needed (4+ advised)")


def calibrate(points: CalibrationPoints, base: MocapCalibration) -> tuple[MocapCalibration, float]:
    """The world <- PhaseSpace transform that best maps the readings onto the known positions (Kabsch).

    Marker ids are kept from `base`. Returns the calibration and its rms residual in metres; a
    reflection cannot come out (determinant correction), so a mirrored setup shows as a large residual.
    """
    world = np.array([p.world for p in points.pairs], dtype=np.float64)
    readings = np.array([p.phasespace for p in points.pairs], dtype=np.float64) / MM_PER_M
    try:
        fit = fit_rigid(readings, world)
    except PoseFitError as err:
        raise ConfigError(f"calibration points: {err}") from None
    rotation = tuple(tuple(float(v) for v in row) for row in fit.rotation)
    return dataclasses.replace(base, rotation=rotation, translation=tuple(float(v) for v in fit.translation)), fit.rms_residual


@dataclass(frozen=True)
class MarkerFrame:
    """One PhaseSpace frame: every reported marker, seen or not."""

    ids: np.ndarray  # (N,) uint32
    positions_mm: np.ndarray  # (N, 3) PhaseSpace frame, millimetres, Y up
    cond: np.ndarray  # (N,) > 0 seen, <= 0 not seen

    def __post_init__(self):
        n = len(self.ids)
        if self.positions_mm.shape != (n, 3) or self.cond.shape != (n,):
            raise ValueError(f"marker frame: {n} ids but positions {self.positions_mm.shape} and cond {self.cond.shape}")
        if len(np.unique(self.ids)) != n:
            raise ValueError("marker frame: duplicate marker ids")

    @property
    def seen(self) -> np.ndarray:
        """Mask of usable markers: cond > 0 and finite coordinates."""
        return (self.cond > 0) & np.isfinite(self.positions_mm).all(axis=1) & np.isfinite(self.cond)


class PoseFitError(ValueError):
    """The markers do not determine a trustworthy pose; the message says why."""


@dataclass(frozen=True)
class RigidFit:
    rotation: np.ndarray  # (3, 3), det +1
    translation: np.ndarray  # (3,)
    rms_residual: float  # same units as the points
    num_markers: int


def kabsch(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rigid transform with `target ~ R @ source + t` (points (N, 3), N >= 3).

    The determinant correction keeps R a rotation when the best orthogonal fit would be a reflection
    (noisy or nearly coplanar points).
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_centre, target_centre = source.mean(axis=0), target.mean(axis=0)
    covariance = (target - target_centre).T @ (source - source_centre)
    u, _, vt = np.linalg.svd(covariance)
    correction = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ correction @ vt
    return rotation, target_centre - rotation @ source_centre


def fit_rigid(layout: np.ndarray, measured: np.ndarray, min_markers: int = 3, max_rms_residual: float = np.inf) -> RigidFit:
    """Kabsch fit of a known marker layout to measured positions (corresponding rows); refuses bad fits."""
    layout = np.asarray(layout, dtype=np.float64)
    measured = np.asarray(measured, dtype=np.float64)
    count = len(measured)
    if count < max(3, min_markers):
        raise PoseFitError(f"{count} marker(s) seen; a pose needs at least {max(3, min_markers)}")
    if np.linalg.matrix_rank(layout - layout.mean(axis=0), tol=1e-6) < 2:
        raise PoseFitError(f"the {count} seen markers are collinear; the rotation about their line is undetermined")
    rotation, translation = kabsch(layout, measured)
    residuals = measured - (layout @ rotation.T + translation)
    rms = float(np.sqrt(np.mean(np.sum(residuals ** 2, axis=1))))
    if not rms <= max_rms_residual:
        raise PoseFitError(f"fit residual {rms:.4g} (rms) exceeds the limit {max_rms_residual:.4g}: "
                           "a marker is misidentified, reflected or the object is deformed")
    return RigidFit(rotation, translation, rms, count)


@dataclass(frozen=True)
class ObjectPose:
    position: np.ndarray  # (3,) world, m
    quat: np.ndarray  # (4,) world, (w, x, y, z), w >= 0
    rms_residual: float  # m
    num_markers: int


class MarkerFitter:
    """Object pose and fingertip positions (world frame) from PhaseSpace frames."""

    def __init__(self, layout: np.ndarray, calibration: MocapCalibration, min_markers: int = 3,
                 max_rms_residual: float = 0.01):
        self.layout = np.asarray(layout, dtype=np.float64)  # (M, 3) object frame, m
        self.calibration = calibration
        self.object_ids = calibration.object_marker_ids(len(self.layout))
        self.fingertip_ids = np.asarray(calibration.fingertip_marker_ids)
        self.min_markers = min_markers
        self.max_rms_residual = max_rms_residual

    def object_pose(self, frame: MarkerFrame) -> ObjectPose:
        """Fit in the world frame, so the residual limit is in metres. Raises PoseFitError."""
        seen = frame.seen
        lookup = {int(i): k for k, i in enumerate(frame.ids) if seen[k]}
        rows = [(m, lookup[int(i)]) for m, i in enumerate(self.object_ids) if int(i) in lookup]
        if len(rows) < max(3, self.min_markers):
            raise PoseFitError(f"{len(rows)} of the object's {len(self.object_ids)} markers seen "
                               f"(ids {self.object_ids.tolist()}); a pose needs at least {max(3, self.min_markers)}")
        layout_rows, frame_rows = map(list, zip(*rows))
        measured = self.calibration.to_world(frame.positions_mm[frame_rows])
        fit = fit_rigid(self.layout[layout_rows], measured, self.min_markers, self.max_rms_residual)
        return ObjectPose(fit.translation, rotations.from_matrix(fit.rotation), fit.rms_residual, fit.num_markers)

    def fingertips(self, frame: MarkerFrame) -> tuple[np.ndarray, np.ndarray]:
        """(5, 3) world positions FF, MF, RF, LF, TH and a (5,) mask of those seen in this frame."""
        seen = frame.seen
        lookup = {int(i): k for k, i in enumerate(frame.ids) if seen[k]}
        positions = np.full((NUM_FINGERTIPS, 3), np.nan)
        found = np.array([int(i) in lookup for i in self.fingertip_ids])
        if found.any():
            rows = [lookup[int(i)] for i in self.fingertip_ids[found]]
            positions[found] = self.calibration.to_world(frame.positions_mm[rows])
        return positions, found


class FingertipHold:
    """The fingertips to publish: a marker momentarily unseen keeps its last position for `hold_time` s (LEDs
    flicker as fingers turn); past that the set is withheld, so the policy stops rather than act on a guess."""

    def __init__(self, hold_time: float):
        self.hold_time = hold_time
        self.positions = np.full((NUM_FINGERTIPS, 3), np.nan)
        self.times = np.full(NUM_FINGERTIPS, -np.inf)

    def update(self, positions: np.ndarray, seen: np.ndarray, now: float) -> np.ndarray:
        """Take this frame's (5, 3) `positions` where `seen`; return the mask of fingertips unseen too long."""
        self.positions[seen] = positions[seen]
        self.times[seen] = now
        return now - self.times > self.hold_time


def simulate_markers(scene, data, calibration: MocapCalibration, rng: np.random.Generator,
                     noise_std: float = 0.003, dropout_probability: float = 0.0) -> MarkerFrame:
    """What PhaseSpace would report for a MuJoCo state: every LED, noisy, some not seen.

    `noise_std` (m, per axis) and `dropout_probability` (per marker and frame) corrupt the marker sites of
    `scene` (object markers, then fingertip markers). An unseen marker comes with cond -1 and zeros, as
    the OWL API reports it.
    """
    return markers_from_world(data.site_xpos[scene.object_marker_sites], data.site_xpos[scene.fingertip_marker_sites],
                              calibration, rng, noise_std, dropout_probability)


def markers_from_world(object_markers: np.ndarray, fingertips: np.ndarray, calibration: MocapCalibration,
                       rng: np.random.Generator, noise_std: float = 0.003, dropout_probability: float = 0.0) -> MarkerFrame:
    """`simulate_markers` from marker positions already in the world frame (m): object markers (M, 3), then
    the five fingertip markers. The simulator passes positions that carry the training observation noise."""
    world = np.vstack([object_markers, fingertips])
    world = world + noise_std * rng.standard_normal(world.shape)
    ids = np.concatenate([calibration.object_marker_ids(len(object_markers)), calibration.fingertip_marker_ids])
    positions = calibration.to_mocap(world)
    lost = rng.random(len(ids)) < dropout_probability
    positions[lost] = 0.0
    cond = np.where(lost, -1.0, 1.0)
    return MarkerFrame(ids.astype(np.uint32), positions, cond)
