"""The render-set format: numbered shards (.npz) and a manifest (manifest.json) that lists the finished ones.

A shard holds `sets` frame sets: images (sets, cameras, H, W, 3) uint8 RGB in the manifest's camera
order, the object pose in the world frame and in the hand (palm) frame, each camera's pose and field of
view as rendered, and what the visual randomization drew. The manifest names every finished shard with its
frame-set count and SHA-256, and is rewritten atomically after each shard, so a reader never sees a
half-written shard and an interrupted render resumes where it stopped.

Bad shards (listed but missing, wrong checksum, unreadable, wrong shapes) are reported by file name:
`open_dataset(..., on_bad_shard="error")` refuses the dataset naming all of them; "skip" leaves them out
and names them in `Dataset.skipped`.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LABEL_KEYS = ("position_world", "quat_world", "position_hand", "quat_hand", "camera_pos", "camera_quat",
              "camera_fovy", "face_colours", "lights_on")


class DatasetError(ValueError):
    """A render set cannot be used as asked; the message names the files at fault."""


def project_to_pixels(point: np.ndarray, camera_pos: np.ndarray, camera_quat: np.ndarray, fovy_deg: float,
                      width: int, height: int) -> np.ndarray:
    """Pixel (column, row) of a world point in a camera as the labels describe it (MuJoCo camera: looks
    along its -z, y up; rows grow downwards)."""
    from .. import rotations
    from ..scene import intrinsics_from_fovy

    local = rotations.to_matrix(camera_quat).T @ (np.asarray(point) - camera_pos)
    k = intrinsics_from_fovy(width, height, fovy_deg)
    depth = -local[2]
    return np.array([k.cx + k.fx * local[0] / depth, k.cy - k.fy * local[1] / depth])


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.npz"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(root: str | Path) -> dict:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{path} does not exist: not a render set (make one with `dactyl render-dataset`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not valid JSON ({err})") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DatasetError(f"{path}: format version {manifest.get('format_version')}, this code reads {FORMAT_VERSION}")
    return manifest


def write_manifest(root: str | Path, manifest: dict) -> None:
    path = Path(root) / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)


def write_shard(root: Path, index: int, arrays: dict[str, np.ndarray]) -> dict:
    """Write one shard atomically; returns its manifest entry."""
    path = root / shard_name(index)
    tmp = root / (shard_name(index) + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return {"file": path.name, "index": index, "sets": int(len(arrays["images"])), "sha256": file_sha256(path)}


def check_shard(root: Path, entry: dict, cameras: int, image_shape: tuple[int, int]) -> str | None:
    """Why a listed shard cannot be used, or None when it is sound (file present, checksum, shapes)."""
    path = root / entry["file"]
    if not path.is_file():
        return f"{entry['file']}: missing"
    if file_sha256(path) != entry["sha256"]:
        return f"{entry['file']}: checksum mismatch (corrupt or modified)"
    try:
        with np.load(path) as shard:
            images = shard["images"]
            missing = [k for k in LABEL_KEYS if k not in shard.files]
    except Exception as err:  # zip and npy errors come in many types
        return f"{entry['file']}: unreadable ({type(err).__name__}: {err})"
    if missing:
        return f"{entry['file']}: lacks {missing}"
    expected = (entry["sets"], cameras, *image_shape, 3)
    if images.shape != expected or images.dtype != np.uint8:
        return f"{entry['file']}: images {images.dtype}{list(images.shape)}, expected uint8{list(expected)}"
    return None


@dataclass
class Dataset:
    root: Path
    manifest: dict
    shards: list[dict]  # the usable entries
    skipped: list[str] = field(default_factory=list)  # why each bad shard was left out

    @property
    def cameras(self) -> list[str]:
        return list(self.manifest["cameras"])

    @property
    def num_sets(self) -> int:
        return sum(s["sets"] for s in self.shards)

    def load_shard(self, entry: dict) -> dict[str, np.ndarray]:
        with np.load(self.root / entry["file"]) as shard:
            return {k: shard[k] for k in shard.files}


def open_dataset(root: str | Path, on_bad_shard: str = "error", verify: bool = True,
                 known: dict[str, str] | None = None) -> Dataset:
    """Open a render set; check every listed shard (skipping files whose checksum is in `known`)."""
    if on_bad_shard not in ("error", "skip"):
        raise ValueError(f"on_bad_shard must be 'error' or 'skip', got {on_bad_shard!r}")
    root = Path(root)
    manifest = read_manifest(root)
    image_shape = (manifest["image_height"], manifest["image_width"])
    good, bad = [], []
    for entry in manifest["shards"]:
        if known and known.get(entry["file"]) == entry["sha256"]:
            good.append(entry)
            continue
        problem = check_shard(root, entry, len(manifest["cameras"]), image_shape) if verify else None
        (bad.append(problem) if problem else good.append(entry))
    if bad and on_bad_shard == "error":
        raise DatasetError(f"{root}: {len(bad)} bad shard(s): " + "; ".join(bad)
                           + " (re-render them with `dactyl render-dataset` on the same folder, or skip them)")
    return Dataset(root, manifest, good, bad)
