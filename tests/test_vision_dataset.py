"""Vision render sets: labels agree with what the cameras saw, the visual randomization varies what it should
and keeps the faces identifiable, rendering is deterministic and resumable, bad shards are named."""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from dactyl_core.config import ConfigError, load
from dactyl_core.vision.dataset import (DatasetError, open_dataset, project_to_pixels, read_manifest, shard_name,
                                        write_manifest, write_shard)
from dactyl_core.vision.randomization import (VisualRandomization, VisualRandomizer, build_render_scene, hue_distance_deg,
                                              load_visual_randomization, nominal_face_colours)
from dactyl_core.vision.render_set import FrameSetRenderer, RenderJob, render_dataset


@pytest.fixture(scope="module")
def frame_renderer(tmp_path_factory):
    renderer = FrameSetRenderer(RenderJob(out=str(tmp_path_factory.mktemp("unused")), sets=1, envs=2, seed=3),
                                load_visual_randomization())
    yield renderer
    renderer.close()


def test_labelled_position_projects_onto_the_object_in_every_camera(frame_renderer):
    """Render frame sets, then ask the segmentation (same draw, same state) where the object is."""
    r = frame_renderer
    rng = np.random.default_rng(0)
    r.env.reset()
    on_object = checked = 0
    for step in range(24):
        r.env.step(rng.integers(0, r.num_bins, (r.job.envs, 20)))
        for i in range(r.job.envs):
            record = r.frame_set(i, rng)
            for c, camera in enumerate(r.cameras):
                mask = r.renderer.object_mask(r.data, camera)
                if mask.sum() < 20:  # object out of view (fallen): nothing to check in this camera
                    continue
                h, w = mask.shape
                col, row = project_to_pixels(record["position_world"], record["camera_pos"][c], record["camera_quat"][c],
                                             record["camera_fovy"][c], w, h)
                rows, cols = np.nonzero(mask)
                # The centre always projects inside the object's silhouette extent (fingers may cover it) ...
                assert rows.min() - 1 <= row <= rows.max() + 1 and cols.min() - 1 <= col <= cols.max() + 1, (step, camera)
                r0, c0 = int(round(row)), int(round(col))
                on_object += mask[max(r0 - 1, 0):r0 + 2, max(c0 - 1, 0):c0 + 2].any()
                checked += 1
    # ... and lands on object pixels unless a finger occludes the centre.
    assert checked > 100 and on_object / checked > 0.85, (on_object, checked)


def test_hand_frame_labels_are_the_world_labels_seen_from_the_palm(frame_renderer):
    from dactyl_core import rotations

    r = frame_renderer
    record = r.frame_set(0, np.random.default_rng(1))
    palm = r.model.body("robot0:palm").id
    palm_rotation = rotations.to_matrix(r.data.xquat[palm])
    np.testing.assert_allclose(r.data.xpos[palm] + palm_rotation @ record["position_hand"], record["position_world"], atol=1e-9)
    world = rotations.multiply(r.data.xquat[palm], record["quat_hand"])
    assert rotations.distance(world, record["quat_world"]) < 1e-6


def test_randomization_varies_what_it_should_and_keeps_face_identity(frame_renderer):
    r = frame_renderer
    config = r.visual.config
    rng = np.random.default_rng(2)
    nominal = nominal_face_colours("block")
    draws = [r.visual.apply(rng) for _ in range(60)]
    faces = np.array([d.face_colours for d in draws], float)  # (draws, 6, 3)
    assert faces.std(axis=0).mean() > 8.0, "face colours should vary between frame sets"
    for draw in draws:  # every face stays nearest its own nominal hue: faces remain distinguishable
        distances = hue_distance_deg(draw.face_colours[:, None, :].repeat(6, 1), nominal[None, :, :].repeat(6, 0))
        assert (distances.argmin(axis=1) == np.arange(6)).all()
        assert (np.diag(distances) <= config.face_hue_jitter_deg + 1.5).all()  # + uint8 rounding
    hands = np.array([d.hand_rgb for d in draws])
    assert hands.min() >= config.hand_colour[0] and hands.max() <= config.hand_colour[1] and hands.std(axis=0).min() > 0.1
    lights = {d.lights_on for d in draws}
    assert lights == set(range(config.light_count[0], config.light_count[1] + 1))
    fovy = np.array([d.camera_fovy for d in draws]) - r.visual.nominal["cam_fovy"][r.visual.camera_ids]
    assert np.abs(fovy).max() <= config.camera_fovy_jitter_deg + 1e-9 and fovy.std() > 0.3
    moved = r.model.cam_pos[r.visual.camera_ids] - r.visual.nominal["cam_pos"][r.visual.camera_ids]
    assert 0 < np.abs(moved).max() <= 3 * config.camera_position_sigma + 1e-12
    image = np.full((64, 64, 3), 128, np.uint8)
    effects = [r.visual.degrade(image, rng)[1] for _ in range(60)]
    assert 0.2 < np.mean(["jpeg_quality" in e for e in effects]) < 0.95
    assert 0.1 < np.mean(["blur_sigma" in e for e in effects]) < 0.8


def test_disabled_randomization_restores_the_nominal_scene(frame_renderer, tmp_path):
    r = frame_renderer
    r.visual.apply(np.random.default_rng(4))
    plain = VisualRandomizer(r.scene, r.renderer, dataclasses.replace(r.visual.config, enabled=False))
    draw = plain.apply(np.random.default_rng(5))
    for name, value in plain.nominal.items():
        np.testing.assert_array_equal(getattr(r.model, name), value, err_msg=name)
    np.testing.assert_array_equal(draw.face_colours, nominal_face_colours("block"))
    image = np.arange(300, dtype=np.uint8).reshape(10, 10, 3)
    assert plain.degrade(image, np.random.default_rng(0))[0] is image


def test_visual_randomization_config_refuses_lost_face_identity_and_unknown_keys():
    with pytest.raises(ConfigError, match="identity"):
        VisualRandomization(face_hue_jitter_deg=20.0)
    with pytest.raises(ConfigError, match="unknown key"):
        load(VisualRandomization, {"face_colour_jitter": 1.0})
    with pytest.raises(ConfigError, match="light_count"):
        VisualRandomization(light_count=(0, 9))


def test_render_is_deterministic_and_resumes_a_missing_shard(tmp_path):
    job = RenderJob(out=str(tmp_path / "set"), sets=4, shard_size=2, seed=7, envs=2)
    manifest = render_dataset(job, show_progress=False)
    assert manifest["total_sets"] == 4 and [s["file"] for s in manifest["shards"]] == [shard_name(0), shard_name(1)]
    first = {k: v.copy() for k, v in np.load(tmp_path / "set" / shard_name(1)).items()}
    (tmp_path / "set" / shard_name(1)).unlink()
    with pytest.raises(DatasetError, match=f"{shard_name(1)}: missing"):
        open_dataset(tmp_path / "set")
    render_dataset(job, show_progress=False)  # re-renders only the missing shard, identically
    again = np.load(tmp_path / "set" / shard_name(1))
    for key, value in first.items():
        np.testing.assert_array_equal(again[key], value, err_msg=key)
    assert open_dataset(tmp_path / "set").num_sets == 4
    with pytest.raises(DatasetError, match="different render job"):
        render_dataset(dataclasses.replace(job, seed=8), show_progress=False)


def synthetic_set(root, shards=3, sets=2):
    """A render set with random images (format tests need no rendering)."""
    root.mkdir()
    rng = np.random.default_rng(0)
    manifest = {"format_version": 1, "object": "block", "cameras": ["cam_left", "cam_center", "cam_right"],
                "image_height": 200, "image_width": 200, "visual_randomization": {"enabled": True}, "shards": []}
    for k in range(shards):
        arrays = {"images": rng.integers(0, 256, (sets, 3, 200, 200, 3), dtype=np.uint8),
                  "position_world": rng.normal([1.0, 0.87, 0.17], 0.01, (sets, 3)),
                  "quat_world": np.tile([1.0, 0, 0, 0], (sets, 1)), "position_hand": np.zeros((sets, 3)),
                  "quat_hand": np.tile([1.0, 0, 0, 0], (sets, 1)), "camera_pos": np.zeros((sets, 3, 3)),
                  "camera_quat": np.zeros((sets, 3, 4)), "camera_fovy": np.zeros((sets, 3)),
                  "face_colours": np.zeros((sets, 6, 3), np.uint8), "lights_on": np.ones(sets, np.int64)}
        manifest["shards"].append(write_shard(root, k, arrays))
    write_manifest(root, manifest)
    return root


def test_missing_and_corrupt_shards_are_named_then_refused_or_skipped(tmp_path):
    root = synthetic_set(tmp_path / "set")
    (root / shard_name(0)).unlink()
    corrupt = root / shard_name(2)
    corrupt.write_bytes(corrupt.read_bytes()[:1000])
    with pytest.raises(DatasetError) as refused:
        open_dataset(root)
    assert f"{shard_name(0)}: missing" in str(refused.value) and f"{shard_name(2)}: checksum mismatch" in str(refused.value)
    dataset = open_dataset(root, on_bad_shard="skip")
    assert [s["file"] for s in dataset.shards] == [shard_name(1)] and len(dataset.skipped) == 2
    manifest = read_manifest(root)  # a shard whose checksum was updated but whose zip is broken: unreadable
    manifest["shards"][2]["sha256"] = __import__("dactyl_core.vision.dataset", fromlist=["x"]).file_sha256(corrupt)
    write_manifest(root, manifest)
    assert "unreadable" in " ".join(open_dataset(root, on_bad_shard="skip").skipped)
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        open_dataset(root)


def test_eval_vision_names_a_bad_shard(tmp_path, small_pose_model):
    _, model = small_pose_model
    root = synthetic_set(tmp_path / "set", shards=2, sets=1)
    (root / shard_name(1)).unlink()
    dactyl = [sys.executable, "-m", "dactyl_core.cli", "eval-vision", str(model), "--data", str(root), "--plain-data", ""]
    refused = subprocess.run(dactyl, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and f"{shard_name(1)}: missing" in refused.stderr
    out = tmp_path / "eval.json"
    skipped = subprocess.run(dactyl + ["--skip-bad-shards", "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert skipped.returncode == 0, skipped.stderr
    assert f"skipped bad shard {shard_name(1)}: missing" in skipped.stdout
    report = json.loads(out.read_text())
    assert report["frame_sets"] == 1 and set(report["position_mm"]) == {"mean", "median", "p90"}
