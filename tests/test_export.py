"""Policy export: ONNX Runtime reproduces torch, the metadata is complete, foreign files are refused."""
import numpy as np
import onnx
import pytest
import torch

from dactyl_core.env import load_env_config
from dactyl_core.observations import POLICY_LAYOUT
from dactyl_core.onnx_models import ModelContractError, OnnxPolicy, PolicyMetadata, read_props
from dactyl_training.export import export_policy, policy_metadata, torch_reference_step
from dactyl_training.networks import NetworkConfig, PolicyNetwork


def _policy(recurrent: bool) -> PolicyNetwork:
    torch.manual_seed(0)
    policy = PolicyNetwork(POLICY_LAYOUT.size, 20, 11, NetworkConfig(dense=64, lstm=32, recurrent=recurrent))
    policy.trunk.normalizer.update(torch.randn(500, POLICY_LAYOUT.size) * 2.0 + 0.5)
    with torch.no_grad():  # a trained-looking head, so that bins differ between steps
        policy.head.weight.normal_(0, 0.3)
    return policy


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    policy = _policy(True)
    path = export_policy(policy, policy_metadata(policy, load_env_config(), "test", 123), tmp_path_factory.mktemp("m") / "p.onnx")
    return policy, path


def test_onnx_matches_torch_on_100_random_sequences(exported):
    policy, path = exported
    runner = OnnxPolicy(path, num_envs=4)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(100):
        runner.reset()
        state = None
        for _ in range(5):
            obs = rng.normal(0.5, 2.0, (4, POLICY_LAYOUT.size)).astype(np.float32)
            reference, state = torch_reference_step(policy, obs, state)
            bins = runner.act(obs)
            worst = max(worst, float(np.abs(runner.last_logits - reference).max()))
            np.testing.assert_array_equal(bins, reference.argmax(-1))
    assert worst < 1e-4


def test_feed_forward_export(tmp_path):
    policy = _policy(False)
    path = export_policy(policy, policy_metadata(policy, load_env_config()), tmp_path / "ff.onnx")
    runner = OnnxPolicy(path, num_envs=3)
    obs = np.random.default_rng(1).normal(size=(3, POLICY_LAYOUT.size)).astype(np.float32)
    reference, _ = torch_reference_step(policy, obs)
    np.testing.assert_allclose(runner.act(obs), reference.argmax(-1))
    assert not runner.metadata.recurrent


def test_metadata_describes_the_model(exported):
    policy, path = exported
    meta = PolicyMetadata.from_props(read_props(path))
    assert meta.observation_layout == POLICY_LAYOUT
    assert meta.actions.num_bins == 11 and meta.control_period == pytest.approx(0.08)
    assert meta.actuators_shadow[4] == "rh_FFJ0" and meta.actuators_model[4] == "robot0:A_FFJ1"
    np.testing.assert_allclose(meta.normalizer_mean, policy.trunk.normalizer.mean.numpy())
    assert meta.env_steps == 123 and meta.training_config == "test" and meta.git_revision


def test_a_file_without_our_metadata_is_refused(exported, tmp_path):
    _, path = exported
    model = onnx.load(str(path))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(ModelContractError, match="not a dactyl model"):
        OnnxPolicy(bare)
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelContractError, match="not a readable ONNX file"):
        OnnxPolicy(tmp_path / "junk.onnx")


def test_a_policy_for_another_control_period_is_refused(exported):
    _, path = exported
    with pytest.raises(ModelContractError, match="control period"):
        OnnxPolicy(path, control_period=0.04)
