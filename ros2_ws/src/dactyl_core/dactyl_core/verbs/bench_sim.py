from ..cli import Verb


class BenchSimVerb(Verb):
    help = "benchmark simulation throughput against our raw physics limit and gymnasium-robotics (same run)"

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=0.25,
                            help="length of one slice of one measurement (default 0.25: shorter than this VM's speed swings)")
        parser.add_argument("--rounds", type=int, default=48,
                            help="rounds, each one slice of every measurement in turn; rates are medians, "
                                 "ratios are medians of same-round ratios (default 48)")
        parser.add_argument("--envs-per-core", type=int, default=32,
                            help="environments per physics thread (default 32: the small training config, 64 envs on 2 cores)")
        parser.add_argument("--randomization", default="all", help="randomization setting of our env (default all)")
        parser.add_argument("--skip-gymnasium", action="store_true",
                            help="do not measure the gymnasium-robotics baseline (it needs its own venv, built on first use)")
        parser.add_argument("--json", default=None, help="also write all samples to this JSON file")

    def main(self, args) -> int:
        import json
        import sys
        from pathlib import Path

        from ..bench import sim
        from ..env import load_env_config

        config = load_env_config(randomization=args.randomization)
        gymnasium = None
        if not args.skip_gymnasium:
            from ..bench.gymnasium_baseline import GymnasiumBaseline, ensure_baseline_venv

            root = Path.cwd()
            ensure_baseline_venv(root)
            gymnasium = lambda processes: GymnasiumBaseline(processes, root)  # noqa: E731
        physics = config.scene.physics
        print(f"workload: uniformly random action bins; control period {physics.control_period * 1000:g} ms "
              f"(ours: {physics.substeps} x {physics.timestep * 1000:g} ms, gymnasium-robotics: 40 x 2 ms); "
              f"{args.rounds} rounds of one {args.seconds:g} s slice of each measurement; rates: medians; "
              f"ratios: medians of same-round ratios")
        result = sim.run(config, args.seconds, args.rounds, args.envs_per_core, gymnasium,
                         progress=lambda line: print(line, file=sys.stderr))
        cores = result.cores
        rows = [("raw physics limit of our scene (mj_step rate / substeps)", "raw_limit_1core"),
                (f"raw limit, {args.envs_per_core} simulations in our PhysicsPool", "raw_limit_batch_1core"),
                ("ours, 1 core", "ours_1core"), (f"ours, {cores} cores", f"ours_{cores}cores"),
                ("gymnasium-robotics HandManipulateBlock-v1, 1 core", "gymnasium_1core"),
                (f"gymnasium-robotics HandManipulateBlock-v1, {cores} cores", f"gymnasium_{cores}cores")]
        print(f"{'control steps per second':<60} {'median':>8}")
        for label, key in rows:
            value = result.median(key)
            if value is not None:
                print(f"{label:<60} {value:>8.0f}")
        scaling = result.paired_ratio(f"ours_{cores}cores", "ours_1core")
        print(f"scaling 1 -> {cores} cores: {scaling:.2f}x")
        if args.json:
            Path(args.json).write_text(json.dumps(result.to_dict(), indent=2))
            print(f"wrote {args.json}")
        vs_batch = result.paired_ratio("ours_1core", "raw_limit_batch_1core")
        print(f"ours / raw limit of a {args.envs_per_core}-simulation batch: {vs_batch:.2f} (our per-step work and the "
              f"randomized physics; the rest of vs_raw_limit is the batch's own cost)")
        vs_gym = result.paired_ratio("ours_1core", "gymnasium_1core")
        vs_raw = result.paired_ratio("ours_1core", "raw_limit_1core")
        print(f"vs_gymnasium={'n/a' if vs_gym is None else f'{vs_gym:.2f}'} vs_raw_limit={vs_raw:.2f}")
        return 0
