from dactyl_core.cli import Verb


class BenchTrainVerb(Verb):
    help = "benchmark training throughput as a ratio of the environment's own stepping rate (same run), Ray scaling, peak RSS"

    def add_arguments(self, parser):
        parser.add_argument("--config", default="small", help="training YAML or shipped name (default: small)")
        parser.add_argument("--iterations", type=int, default=1, help="PPO iterations per measurement (default 1)")
        parser.add_argument("--rounds", type=int, default=10, help="alternating rounds; medians reported (default 10)")
        parser.add_argument("--workers", default="1,2",
                            help="Ray rollout worker counts to measure, comma-separated; '' skips Ray (default 1,2)")
        parser.add_argument("--address", default=None, help="Ray cluster to use (default: a local one)")
        parser.add_argument("--no-rss", action="store_true", help="skip the peak-memory run")
        parser.add_argument("--json", default=None, help="also write the samples to this JSON file")

    def main(self, args) -> int:
        import dataclasses
        import json
        import sys
        from pathlib import Path

        import numpy as np

        from ..bench import run
        from ..config import load_train_config

        config = load_train_config(args.config)
        workers = [int(w) for w in args.workers.split(",") if w.strip()]
        print(f"config {args.config}: {config.env.num_envs} envs x {config.ppo.rollout_steps} steps per iteration, "
              f"network {config.network.dense}/{config.network.lstm}, {config.ppo.epochs} epochs; "
              f"{args.rounds} rounds of {args.iterations} iterations")
        result = run(config, args.iterations, args.rounds, workers, args.address, not args.no_rss,
                     progress=lambda line: print(line, file=sys.stderr))
        env, train = float(np.median(result.env_rate)), float(np.median(result.train_rate))
        print(f"{'env steps per second (medians)':<56} {'':>8}  ratio to the environment")
        print(f"{'batched environment alone (random actions)':<56} {env:>8.0f}")
        print(f"{'PPO training, single process (rollout + learning)':<56} {train:>8.0f}  {result.ratio:.2f}")
        for count, rates in result.ray_rates.items():
            print(f"{f'PPO training, {count} Ray rollout worker(s)':<56} {np.median(rates):>8.0f}  {result.ray_ratio(count):.2f}")
        if len(result.ray_rates) > 1:
            counts = sorted(result.ray_rates)
            print(f"ray scaling {counts[0]} -> {counts[-1]} workers: "
                  f"{result.ray_ratio(counts[-1]) / result.ray_ratio(counts[0]):.2f}x")
        if result.peak_rss_gb is not None:
            print(f"peak RSS (single-process run): {result.peak_rss_gb:.2f} GB")
        print(f"training_vs_env={result.ratio:.2f} rollout_share={np.median(result.rollout_fraction):.2f}")
        if args.json:
            Path(args.json).write_text(json.dumps(dataclasses.asdict(result), indent=2))
            print(f"wrote {args.json}")
        return 0
