from ..cli import Verb
from ..task import NEARBY_GOAL_AXES, SIGNED_AXES, describe_goals

RANDOMIZATION_CHOICES = ["all", "none", "no-obs-noise", "no-physics", "no-unmodeled"]


def add_trial_arguments(parser, each_axis: bool = False) -> None:
    """What trials are run and how they are reported: shared by `evaluate` and `graph-loop`; `each_axis`
    offers `--nearby-axis=each` (one run per signed world axis)."""
    parser.add_argument("--randomization", choices=RANDOMIZATION_CHOICES, default="all",
                        help="which randomization groups are on (the paper's ablations; default: all)")
    parser.add_argument("--object", choices=["block", "prism"], default="block")
    parser.add_argument("--nearby-goals", type=float, default=None, metavar="ANGLE",
                        help="score the nearby-goal training curriculum instead of the paper's goals: each goal "
                             "is the object turned by ANGLE rad (default: the paper's face-aligned goals)")
    parser.add_argument("--nearby-axis", choices=NEARBY_GOAL_AXES + (("each",) if each_axis else ()), default="random",
                        help="with --nearby-goals, what each goal turns the object about: a new random axis per "
                             "goal (default, as in training), one random axis per trial (the goals keep turning it "
                             "the same way: continuous rotation), a random signed world axis per goal (world), or "
                             "one world axis, that way (x ... -z: which rotations can the policy make? write "
                             "--nearby-axis=-y for a negative one)" + (
                                 "; each: the trials once about every signed world axis, one row per axis"
                                 if each_axis else ""))
    parser.add_argument("--trials", type=int, default=100, help="number of trials (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the result to this JSON file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def trial_config(args):
    """The environment config the trials run in (the task's own checks refuse a bad goal angle)."""
    from ..env import load_env_config

    if args.trials < 1:
        raise ValueError(f"--trials must be at least 1, got {args.trials}")
    if args.nearby_goals is None and args.nearby_axis != "random":
        raise ValueError("--nearby-axis needs --nearby-goals ANGLE (the paper's goals are not turns about an axis)")
    nearby = None if args.nearby_goals is None else {"task": {
        "goal_mode": "nearby", "nearby_goal_angle": args.nearby_goals, "nearby_goal_axis": args.nearby_axis}}
    return load_env_config(args.object, args.randomization, nearby)


def report(result, config, args, setting: str = "", summary_extra: str = "") -> None:
    """Label the result with the trial setting, print the Table-3 row and write the JSON if asked."""
    from ..evaluate import write_json

    result.randomization = args.randomization
    result.goals = describe_goals(config.task)
    print(f"policy {args.policy}, {args.object}, randomization {args.randomization}, goals {result.goals}, "
          f"seed {args.seed}{setting}")
    print(f"consecutive successes: {result.table_row()}")
    print(result.summary() + summary_extra)
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")


class EvaluateVerb(Verb):
    help = "run K trials of a policy in simulation and print the Table-3 row (consecutive successes)"

    def add_arguments(self, parser):
        parser.add_argument("--policy", default="zero", help="zero | random | PATH.onnx | PATH.pt (default: zero)")
        add_trial_arguments(parser, each_axis=True)
        parser.add_argument("--envs", type=int, default=None, help="parallel environments (default: min(trials, 32))")
        parser.add_argument("--threads", type=int, default=None, help="physics threads (default: all cores)")
        parser.add_argument("--video", default=None, metavar="FILE.mp4",
                            help="film environment 0's trials (real time, goal shown beside the hand); with "
                                 "--envs 1 these are the first trials")
        parser.add_argument("--video-trials", type=int, default=3, help="trials to film (default 3)")
        parser.add_argument("--against", default="", metavar="BASELINES",
                            help="comma-separated baselines (zero, random, or policy files) run on the same trials "
                                 "after the policy: each one's row, and the policy's lead over it in standard errors")

    def main(self, args) -> int:
        from ..evaluate import run_evaluation

        baselines = [name for name in args.against.split(",") if name]
        if args.nearby_axis == "each":
            if baselines:
                raise ValueError("--against compares one run; with --nearby-axis=each, compare one axis (--nearby-axis=-y)")
            return self.each_axis(args)
        config = trial_config(args)
        result = run_evaluation(args.policy, config, args.trials, args.seed, args.envs, args.threads, not args.no_progress,
                                args.video, args.video_trials)
        comparisons = [self.compare(result, name, config, args) for name in baselines]
        report(result, config, args)  # after the baselines: their rows go into the JSON
        for line in comparisons:
            print(line)
        if args.video:
            print(f"wrote {args.video}")
        return 0

    @staticmethod
    def compare(result, baseline_name: str, config, args) -> str:
        """Run `baseline_name` on the same trials (config, seed, count), put its row and the policy's lead
        over it in `result.extra["against"]` (so in the JSON), and say them in two lines."""
        from ..evaluate import lead, run_evaluation

        baseline = run_evaluation(baseline_name, config, args.trials, args.seed, args.envs, args.threads, not args.no_progress)
        difference, standard_errors = lead(result, baseline)
        result.extra.setdefault("against", {})[baseline_name] = {
            **baseline.to_dict(), "lead": difference, "lead_standard_errors": standard_errors}
        return (f"against {baseline_name}: {baseline.table_row()}; {baseline.count('dropped')} drops\n"
                f"  lead of {args.policy}: {difference:+.3f} consecutive successes per trial ({result.mean:.3f} "
                f"against {baseline.mean:.3f}), {standard_errors:+.1f} standard errors")

    @staticmethod
    def each_axis(args) -> int:
        """Which ways the policy turns the object: the same trials about each signed world axis in turn."""
        import json
        from argparse import Namespace

        from ..evaluate import run_evaluation

        if args.nearby_goals is None:
            raise ValueError("--nearby-axis=each needs --nearby-goals ANGLE (the paper's goals are not turns about an axis)")
        if args.video:
            raise ValueError("--video films one run; with --nearby-axis=each, film one axis (--nearby-axis=-y)")
        print(f"policy {args.policy}, {args.object}, randomization {args.randomization}, goals nearby "
              f"{args.nearby_goals:g} rad about each signed world axis, {args.trials} trials each, seed {args.seed}")
        results = {}
        for name in SIGNED_AXES:
            config = trial_config(Namespace(**{**vars(args), "nearby_axis": name.removeprefix("+")}))
            result = run_evaluation(args.policy, config, args.trials, args.seed, args.envs, args.threads,
                                    not args.no_progress)
            result.randomization, result.goals = args.randomization, describe_goals(config.task)
            results[name] = result
            print(f"about {name}: {result.mean:.2f} +- {result.std:.2f} consecutive successes, median "
                  f"{result.median:g}; {result.count('dropped')} drops, {result.count('timed_out')} timeouts", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({name: result.to_dict() for name, result in results.items()}, f, indent=2)
            print(f"wrote {args.json}")
        return 0
