"""PPO training: learning on an easy setting, GAE, recurrent state handling, exact resume, Ray workers
that die, bad input."""
import json
import os
import shutil
import signal
import threading

import numpy as np
import onnx
import pytest
import torch

from dactyl_core import task
from dactyl_core.config import ConfigError
from dactyl_core.onnx_models import ModelContractError, OnnxPolicy
from dactyl_training.checkpoint import CheckpointPolicy, load_policy_for_export, read_checkpoint
from dactyl_training.config import load_train_config
from dactyl_training.networks import NetworkConfig, RecurrentTrunk
from dactyl_training.ppo import EpisodeStats, Learner, RolloutWorker, build_networks, compute_gae, log_probabilities, sample_bins
from dactyl_training.train import CHECKPOINT_NAME, MIN_DIRECTION_WEIGHT, StageTrials, Trainer, direction_weights

# Easy: no randomization, and the block counts as dropped 1 cm below where it rests, so a random policy
# "drops" it often (-20) and holding it steady is quickly learnt.
EASY = {
    "env": {"randomization": "none", "num_envs": 16, "threads": 1,
            "overrides": {"task": {"drop_height": 0.16, "goal_timeout_steps": 100}}},
    "network": {"dense": 64, "lstm": 32},
    "ppo": {"rollout_steps": 16, "epochs": 4, "minibatches": 2, "learning_rate": 0.001, "entropy_coef": 0.0},
    "run": {"total_env_steps": 6144, "seed": 0, "checkpoint_every": 1000},
}
TINY = {
    "env": {"randomization": "all", "num_envs": 4, "threads": 1, "overrides": {"task": {"goal_timeout_steps": 6}}},
    "network": {"dense": 32, "lstm": 16},
    "ppo": {"rollout_steps": 8, "epochs": 2, "minibatches": 2},
    "run": {"total_env_steps": 10_000, "seed": 3, "checkpoint_every": 1000},
}


def _rewards(out_dir):
    return [json.loads(line)["reward/mean_step"] for line in (out_dir / "progress.jsonl").read_text().splitlines()]


def test_learns_to_hold_the_block_on_an_easy_setting(tmp_path):
    trainer = Trainer(load_train_config(EASY), tmp_path, progress=False)
    trainer.run()
    trainer.close()
    rewards = _rewards(tmp_path)
    start, end = np.mean(rewards[:2]), np.mean(rewards[-len(rewards) // 4:])
    # A random policy loses ~0.25 per step here (measured with the learning rate at ~0: -0.23 to -0.30).
    assert start < -0.1, rewards
    assert end > start + 0.1, rewards


def test_gae_matches_a_hand_computed_example():
    rewards = np.array([[1.0], [2.0], [3.0]])
    values = np.array([[0.5], [1.0], [1.5]])
    dones = np.array([[0.0], [1.0], [0.0]])  # the trial ends at t=1: no bootstrap from t=2 into t=1
    advantages, returns = compute_gae(rewards, values, dones, np.array([2.0]), gamma=0.9, gae_lambda=0.8)
    # t=2: 3 + 0.9*2.0 - 1.5 = 3.3; t=1: 2 - 1.0 = 1.0; t=0: (1 + 0.9*1.0 - 0.5) + 0.9*0.8*1.0 = 2.12
    np.testing.assert_allclose(advantages[:, 0], [2.12, 1.0, 3.3])
    np.testing.assert_allclose(returns[:, 0], [2.62, 2.0, 4.8])


def test_written_out_log_probabilities_match_torch_categorical():
    logits = torch.randn(4, 3, 20, 11, dtype=torch.float64) * 3
    actions = torch.randint(0, 11, (4, 3, 20))
    log_p = log_probabilities(logits)
    reference = torch.distributions.Categorical(logits=logits)
    torch.testing.assert_close(log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1), reference.log_prob(actions))
    torch.testing.assert_close(-(log_p.exp() * log_p).sum(-1), reference.entropy())


def test_sampled_bins_follow_the_distribution():
    probabilities = torch.tensor([0.5, 0.0, 0.2, 0.3])
    log_p = probabilities.log().expand(20_000, 3, 4)
    bins = sample_bins(log_p, torch.Generator().manual_seed(0))
    assert bins.shape == (20_000, 3) and bins.dtype == torch.int64
    frequencies = torch.bincount(bins.flatten(), minlength=4) / bins.numel()
    torch.testing.assert_close(frequencies, probabilities, atol=0.01, rtol=0)  # 0.01 is ~4 standard errors


def test_recurrent_state_is_zeroed_at_episode_starts():
    torch.manual_seed(0)
    trunk = RecurrentTrunk(5, NetworkConfig(dense=8, lstm=6))
    x = torch.randn(7, 3, 5)
    starts = torch.zeros(7, 3)
    starts[4, 1] = 1.0
    state = (torch.randn(1, 3, 6), torch.randn(1, 3, 6))
    out, _ = trunk(x, state, starts)
    fresh, _ = trunk(x[4:, 1:2], trunk.initial_state(1), torch.zeros(3, 1))
    torch.testing.assert_close(out[4:, 1:2], fresh)  # after the start: as if the trial began from zero
    assert not torch.allclose(out[:4, 1], trunk(x[:4, 1:2], trunk.initial_state(1), torch.zeros(4, 1))[0][:, 0])


def test_learner_replays_rollouts_across_episode_and_rollout_boundaries():
    """The learner's truncated BPTT from stored states reproduces the acting policy's log-probs exactly,
    with trials ending inside the rollout (every 6 steps) and continuing across rollouts."""
    config = load_train_config(TINY)
    worker = RolloutWorker(config, seed=1)
    worker.collect(5)
    rollout = worker.collect(8)
    assert rollout.dones.any() and rollout.starts[1:].any()
    assert np.abs(rollout.policy_state[0]).sum() > 0  # the second rollout starts mid-trial
    policy = worker.policy
    with torch.no_grad():
        logits, _ = policy(torch.from_numpy(rollout.policy_obs), tuple(map(torch.from_numpy, rollout.policy_state)),
                           torch.from_numpy(rollout.starts))
        logprobs = torch.distributions.Categorical(logits=logits).log_prob(torch.from_numpy(rollout.actions)).sum(-1)
        values, _ = worker.value(torch.from_numpy(rollout.value_obs), tuple(map(torch.from_numpy, rollout.value_state)),
                                 torch.from_numpy(rollout.starts))
    np.testing.assert_allclose(logprobs.numpy(), rollout.logprobs, atol=1e-4)
    np.testing.assert_allclose(values.numpy(), rollout.values, atol=1e-5)


def test_feed_forward_switch_trains(tmp_path):
    config = load_train_config({**TINY, "network": {"dense": 32, "lstm": 16, "recurrent": False}})
    trainer = Trainer(config, tmp_path, progress=False)
    summary = trainer.run(max_iterations=2)
    trainer.close()
    assert summary["iteration"] == 2 and not any(isinstance(m, torch.nn.LSTM) for m in trainer.learner.policy.modules())


def _flat(trainer):
    return torch.cat([p.detach().flatten() for p in [*trainer.learner.policy.state_dict().values(),
                                                     *trainer.learner.value.state_dict().values()]])


def test_resume_continues_exactly(tmp_path):
    config = load_train_config(TINY)
    straight = Trainer(config, tmp_path / "a", progress=False)
    straight.run(max_iterations=2)
    shutil.copy(tmp_path / "a" / CHECKPOINT_NAME, tmp_path / "after2.pt")
    straight.run(max_iterations=2)
    straight.close()

    resumed = Trainer(None, tmp_path / "b", resume_from=tmp_path / "after2.pt", progress=False)
    assert resumed.rollouts.restored and resumed.iteration == 2 and resumed.env_steps == 2 * 4 * 8
    resumed.run(max_iterations=2)
    resumed.close()
    assert resumed.env_steps == straight.env_steps
    torch.testing.assert_close(_flat(resumed), _flat(straight), rtol=0, atol=0)
    a, b = straight.learner.optimizer.state_dict(), resumed.learner.optimizer.state_dict()
    for key in a["state"]:
        torch.testing.assert_close(a["state"][key]["exp_avg_sq"], b["state"][key]["exp_avg_sq"], rtol=0, atol=0)


def test_curriculum_moves_goals_away_as_they_are_met_and_resumes_at_its_stage(tmp_path):
    # Goals 0.3 rad away are inside the 0.4 rad success threshold: nearly every step succeeds, every trial
    # ends after 4 successes, and two iterations (8 steps each) finish the 12 trials the first stage is
    # judged on, so it ends at the start of iteration 2. Goals 0.35 rad away are sometimes missed at
    # first; a goal times out after 6 steps, so no trial runs long (a block waits for the oldest one).
    config = load_train_config({
        **TINY, "env": {**TINY["env"], "overrides": {"task": {"max_successes": 4, "goal_timeout_steps": 6}}},
        "curriculum": {"enabled": True, "start_angle": 0.3, "end_angle": 0.4, "angle_step": 0.05,
                       "promote_at": 3.0, "trials": 12}})
    trainer = Trainer(config, tmp_path / "a", progress=False)
    task_config = trainer.rollouts.worker.env.config.task
    assert trainer.goal_angle == 0.3 and task_config.goal_mode == "nearby" and task_config.nearby_goal_angle == 0.3
    trainer.run(max_iterations=2)
    assert trainer.goal_angle == pytest.approx(0.35)
    assert trainer.rollouts.worker.env.config.task.nearby_goal_angle == trainer.goal_angle
    shutil.copy(tmp_path / "a" / CHECKPOINT_NAME, tmp_path / "after2.pt")
    trainer.run(max_iterations=8)
    trainer.close()
    angles = [json.loads(line)["curriculum/goal_angle"] for line in (tmp_path / "a" / "progress.jsonl").open()]
    assert angles[:2] == pytest.approx([0.3, 0.35]) and angles[-1] == 0.4  # the last stage, and no further
    assert np.all(np.diff(angles) >= 0) and max(angles) == 0.4

    resumed = Trainer(None, tmp_path / "b", resume_from=tmp_path / "after2.pt", progress=False)
    assert resumed.goal_angle == pytest.approx(0.35) and resumed.rollouts.restored
    resumed.run(max_iterations=8)
    resumed.close()
    assert resumed.goal_angle == trainer.goal_angle
    torch.testing.assert_close(_flat(resumed), _flat(trainer), rtol=0, atol=0)

    restarted = Trainer(None, tmp_path / "c", resume_from=tmp_path / "after2.pt", progress=False, restart_curriculum=True)
    assert restarted.goal_angle == 0.3 and not restarted.stage_trials.trials  # the config's first stage, nothing judged
    assert restarted.rollouts.worker.env.config.task.nearby_goal_angle == 0.3
    assert restarted.env_steps == read_checkpoint(tmp_path / "after2.pt")["env_steps"]  # the rest continues
    restarted.close()
    with pytest.raises(ConfigError, match="start_angle 1.0 is above end_angle 0.5"):
        load_train_config({"curriculum": {"enabled": True, "start_angle": 1.0, "end_angle": 0.5}})


def test_a_stage_is_judged_on_disjoint_blocks_of_trials(tmp_path):
    config = load_train_config({**TINY, "curriculum": {"enabled": True, "start_angle": 0.5, "promote_at": 2.0, "trials": 4}})
    trainer = Trainer(config, tmp_path, progress=False)
    stage = trainer.stage_trials
    stage.horizon = 100  # every trial below has ended
    stage.trials = [(0, 2), (1, 2), (2, 1), (3, 2)]  # 1.75: this block fails and is not judged again
    trainer._advance_curriculum()
    assert trainer.goal_angle == 0.5 and not stage.trials
    stage.trials = [(4, 3), (5, 2), (6, 1)]  # not a whole block yet
    trainer._advance_curriculum()
    assert trainer.goal_angle == 0.5 and len(stage.trials) == 3
    stage.trials.append((7, 2))
    trainer._advance_curriculum()
    assert trainer.goal_angle == pytest.approx(0.6) and not stage.trials
    trainer.close()


def test_a_stage_is_judged_on_trials_in_the_order_they_started():
    """The trials that end first after a promotion are the short ones (drops); the block waits for the
    trials that started before them."""
    stage = StageTrials(size=3)
    # Rollout 1, 8 steps: two drops end; the oldest trial still running started 7 steps ago (step 1).
    stage.add(EpisodeStats(successes=[0, 0], start_angles=[0.5, 0.5], started_ago=[3, 2], oldest_running=7), 0.5, 8)
    assert stage.trials == [(5, 0), (6, 0)] and stage.horizon == 1 and stage.next_block() is None
    # Rollout 2: the two long trials end (started at steps 1 and 4); a trial of another stage is not counted.
    stage.add(EpisodeStats(successes=[4, 3, 9], start_angles=[0.5, 0.5, 0.4], started_ago=[15, 12, 14],
                           oldest_running=2), 0.5, 8)
    assert stage.horizon == 14
    assert stage.next_block() == [4, 3, 0] and stage.trials == [(6, 0)]
    assert stage.next_block() is None
    # Trials that started at the same step are judged together, so end order cannot pick among them.
    stage.trials, stage.horizon = [(20, 1), (21, 5), (21, 0), (21, 2), (22, 3)], 30
    assert stage.next_block() == [1, 5, 0, 2] and stage.trials == [(22, 3)]


def test_a_stage_is_judged_only_on_trials_that_started_at_it():
    """Trials running at a promotion finish at the new stage with successes from the old, easier one."""
    config = load_train_config({**TINY, "env": {**TINY["env"], "overrides": {"task": {
        "goal_mode": "nearby", "nearby_goal_angle": 0.3, "max_successes": 4}}}})
    worker = RolloutWorker(config, seed=0)
    before = worker.collect(2)  # every trial is 2 steps in
    worker.set_goals(0.35)
    after = worker.collect(8)
    assert not before.episodes.successes and len(after.episodes.successes) >= 4
    # Each of the 4 envs had one trial running at the change; it ends within 6 steps (the goal timeout).
    angles = after.episodes.start_angles
    assert angles.count(0.3) == 4 and angles.count(0.35) == len(angles) - 4
    # Each env's first trial started at the reset, 10 steps before the end of `after`; the trials still
    # running started within it.
    assert [ago for ago, a in zip(after.episodes.started_ago, angles) if a == 0.3] == [10] * 4
    assert all(ago < 8 for ago, a in zip(after.episodes.started_ago, angles) if a == 0.35)
    assert after.episodes.oldest_running < 8
    stage = StageTrials(size=1)
    stage.add(after.episodes, 0.35, 8)
    assert sorted(s for _, s in stage.trials) == sorted(s for s, a in zip(after.episodes.successes, angles) if a == 0.35)
    worker.close()


def test_goals_are_counted_by_the_way_they_turn_the_object():
    """Nearby goals about -y land in the -y column; every goal that ended a trial unreached is a miss, and
    the logs give the fraction reached per direction."""
    from dactyl_training.ppo import describe_episodes

    config = load_train_config({**TINY, "env": {**TINY["env"], "overrides": {"task": {
        "goal_mode": "nearby", "nearby_goal_angle": 0.3, "nearby_goal_axis": "-y", "goal_timeout_steps": 6}}}})
    worker = RolloutWorker(config, seed=0)
    rollout = worker.collect(24)
    counts = rollout.episodes.goals_by_direction
    minus_y = task.SIGNED_AXES.index("-y")
    assert counts.sum() == counts[:, minus_y].sum() > 0
    reasons = np.asarray(rollout.episodes.reasons)
    assert counts[1, minus_y] == np.isin(reasons, (task.DROPPED, task.TIMED_OUT)).sum()  # each such trial missed one
    assert rollout.episodes.goals_reached == counts[0, minus_y]
    stats = describe_episodes(rollout.episodes)
    assert [key for key in stats if key.startswith("goals/")] == ["goals/reached_-y", "goals/ended_-y"]
    assert stats["goals/reached_-y"] == counts[0, minus_y] / counts[:, minus_y].sum()
    assert stats["goals/ended_-y"] == counts[:, minus_y].sum()
    worker.close()


def test_directions_missed_more_are_drawn_more_and_the_counts_resume(tmp_path):
    reached_missed = np.array([[9, 5, 0, 10, 0, 1], [1, 5, 10, 0, 0, 3]])
    assert direction_weights(reached_missed) == pytest.approx([0.1, 0.5, 1.0, MIN_DIRECTION_WEIGHT, 1.0, 0.75])

    config = load_train_config({
        **TINY, "env": {**TINY["env"], "overrides": {"task": {"nearby_goal_axis": "world", "goal_timeout_steps": 6}}},
        "curriculum": {"enabled": True, "start_angle": 0.5, "weight_directions": True, "direction_window": 30}})
    trainer = Trainer(config, tmp_path / "a", progress=False)
    assert trainer.rollouts.worker.env.config.task.world_axis_weights == (1.0,) * 6  # nothing seen yet
    trainer.run(max_iterations=3)
    trainer.close()
    assert 0 < trainer.direction_goals.sum() <= 30 + 1e-9  # faded to the window
    weights = direction_weights(trainer.direction_goals)
    assert trainer.rollouts.worker.env.config.task.world_axis_weights == weights
    logged = json.loads((tmp_path / "a" / "progress.jsonl").read_text().splitlines()[-1])
    assert [logged[f"curriculum/weight_{name}"] for name in task.SIGNED_AXES] == list(weights)
    resumed = Trainer(None, tmp_path / "b", resume_from=tmp_path / "a" / CHECKPOINT_NAME, progress=False)
    np.testing.assert_array_equal(resumed.direction_goals, trainer.direction_goals)
    assert resumed.rollouts.worker.env.config.task.world_axis_weights == weights
    resumed.close()
    with pytest.raises(ConfigError, match="weight_directions .* needs curriculum.enabled and env.overrides.task.nearby_goal_axis 'world'"):
        load_train_config({"curriculum": {"enabled": True, "weight_directions": True}})


def test_sigterm_writes_a_checkpoint_and_stops(tmp_path):
    trainer = Trainer(load_train_config(TINY), tmp_path, progress=False)
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    summary = trainer.run()
    trainer.close()
    assert summary["stopped"] and summary["env_steps"] < 10_000
    assert read_checkpoint(tmp_path / CHECKPOINT_NAME)["iteration"] == summary["iteration"]


def test_checkpoint_runs_as_a_policy_and_exports(tmp_path):
    trainer = Trainer(load_train_config(TINY), tmp_path, progress=False)
    trainer.run(max_iterations=1)
    trainer.close()
    checkpoint = tmp_path / CHECKPOINT_NAME
    policy = CheckpointPolicy(checkpoint, num_envs=3)
    observations = np.random.default_rng(0).normal(size=(3, 50)).astype(np.float32)
    from dactyl_training.export import export_policy

    network, metadata = load_policy_for_export(checkpoint)
    assert metadata.env_steps == 32 and "lstm: 16" in metadata.training_config
    onnx_policy = OnnxPolicy(export_policy(network, metadata, tmp_path / "p.onnx"), num_envs=3)
    for _ in range(3):
        np.testing.assert_array_equal(policy.act(observations), onnx_policy.act(observations))


def test_ray_run_survives_a_killed_worker(tmp_path):
    ray = pytest.importorskip("ray")
    # With a curriculum whose first stage is met at once (see the curriculum test), so that the workers move
    # to the second stage in iteration 1 and the replacement must start there too.
    config = load_train_config({
        **TINY, "run": {**TINY["run"], "workers": 2},
        "env": {**TINY["env"], "overrides": {"task": {"max_successes": 4}}},
        "curriculum": {"enabled": True, "start_angle": 0.3, "end_angle": 0.35, "angle_step": 0.05,
                       "promote_at": 3.0, "trials": 8}})
    trainer = Trainer(config, tmp_path, progress=False)
    try:
        trainer.run(max_iterations=1)
        assert trainer.goal_angle == 0.35
        victim = trainer.rollouts.worker_pids()[0]
        # Kill it while the next rollouts are being collected.
        original = trainer.rollouts.collect

        def collect_and_kill(*args):
            threading.Timer(0.05, os.kill, (victim, signal.SIGKILL)).start()
            trainer.rollouts.collect = original
            return original(*args)

        trainer.rollouts.collect = collect_and_kill
        summary = trainer.run(max_iterations=2)
        assert summary["iteration"] == 3 and summary["env_steps"] == 3 * 2 * 4 * 8
        assert trainer.rollouts.replaced >= 1 and victim not in trainer.rollouts.worker_pids()
        angles = [s["env"]["attributes"]["config"].task.nearby_goal_angle for s in trainer.rollouts.snapshots()]
        assert angles == [0.35, 0.35]
    finally:
        trainer.close()
        ray.shutdown()


def test_training_benchmark_measures_every_worker_count_in_every_round():
    """Each Ray worker count is timed in the same rounds as the environment alone, so each gets its own
    same-run ratio (the machine's load drifts between rounds); two Ray trainers alive at once on 2 cores
    would wait forever for CPUs, so each round starts its own."""
    ray = pytest.importorskip("ray")
    from dactyl_training import bench

    lines = []
    result = bench.run(load_train_config(TINY), iterations=1, rounds=2, workers=[1], address=None, rss=False,
                       progress=lines.append)
    assert len(result.env_rate) == len(result.train_rate) == len(result.ray_rates[1]) == 2
    assert min(result.env_rate + result.train_rate + result.ray_rates[1]) > 0
    assert result.ray_ratio(1) == pytest.approx(float(np.median(np.array(result.ray_rates[1]) / np.array(result.env_rate))))
    assert len(lines) == 2 and all("1 Ray worker(s)" in line for line in lines)
    assert not ray.is_initialized()


# ------------------------------------------------------------------------------------------ bad input

def test_unknown_and_mistyped_config_keys_are_named(tmp_path):
    with pytest.raises(ConfigError, match="entropy_coeff"):
        load_train_config({"ppo": {"entropy_coeff": 0.01}})
    with pytest.raises(ConfigError, match="run.workers"):
        load_train_config({"run": {"workers": "two"}})
    path = tmp_path / "bad.yaml"
    path.write_text("network:\n  lstm: big\n")
    with pytest.raises(ConfigError, match="network.lstm"):
        load_train_config(str(path))


def test_resuming_another_architecture_says_what_differs(tmp_path):
    trainer = Trainer(load_train_config(TINY), tmp_path, progress=False)
    trainer.run(max_iterations=1)
    trainer.close()
    other = load_train_config({**TINY, "network": {"dense": 32, "lstm": 24}})
    with pytest.raises(ConfigError, match=r"network.lstm: checkpoint 16, config 24"):
        Trainer(other, tmp_path / "b", resume_from=tmp_path / CHECKPOINT_NAME, progress=False)


def test_foreign_files_are_refused(tmp_path):
    model = tmp_path / "plain.onnx"
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
                                   [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    onnx.save(onnx.helper.make_model(graph), model)
    with pytest.raises(ModelContractError, match="metadata"):
        OnnxPolicy(model)
    not_a_checkpoint = tmp_path / "x.pt"
    torch.save({"weights": 1}, not_a_checkpoint)
    with pytest.raises(ValueError, match="not a dactyl training checkpoint"):
        CheckpointPolicy(not_a_checkpoint)


def test_train_command_names_a_bad_key_and_exits_2(tmp_path, capsys):
    from dactyl_core.cli import main

    config = tmp_path / "bad.yaml"
    config.write_text("ppo:\n  clip_range: 0.2\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "clip_range" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "nothing"), "--resume", "--no-progress"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "run"), "--restart-curriculum", "--no-progress"]) == 2
    assert "--restart-curriculum needs --resume" in capsys.readouterr().err
