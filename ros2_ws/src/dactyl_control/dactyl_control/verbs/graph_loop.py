from dactyl_core.cli import Verb
from dactyl_core.verbs.evaluate import RANDOMIZATION_CHOICES


class GraphLoopVerb(Verb):
    help = ("run trials through the ROS graph's per-step code in one process (no ROS), each of the graph's "
            "differences from `dactyl evaluate` a switch; prints the Table-3 row")

    def add_arguments(self, parser):
        parser.add_argument("--policy", default="models/policy_block.onnx", help="exported policy (ONNX)")
        parser.add_argument("--randomization", choices=RANDOMIZATION_CHOICES, default="all")
        parser.add_argument("--object", choices=["block", "prism"], default="block")
        parser.add_argument("--nearby-goals", type=float, default=None, metavar="ANGLE",
                            help="goals ANGLE rad from the object (the curriculum's; default: the paper's goals)")
        parser.add_argument("--trials", type=int, default=100)
        parser.add_argument("--seed", type=int, default=0)
        for flag, what in (("mocap", "poses fitted to simulated PhaseSpace markers"),
                           ("goal-late", "a new goal reaches the policy one control step after the success"),
                           ("safety-filter", "commands pass the hand driver's limit and rate filter")):
            parser.add_argument(f"--no-{flag}", dest=flag.replace("-", "_"), action="store_false", help=f"off: {what}")
        parser.add_argument("--score-measured", action="store_true",
                            help="score trials on the measured pose, as on the real hand (default: the true pose, as "
                                 "the simulated graph and `dactyl evaluate` score them)")
        parser.add_argument("--evaluate-like", action="store_true", help="every switch off: `dactyl evaluate`'s loop")
        parser.add_argument("--json", default=None, help="also write the result to this JSON file")
        parser.add_argument("--no-progress", action="store_true")

    def main(self, args) -> int:
        from dactyl_core.env import load_env_config
        from dactyl_core.evaluate import write_json

        from ..graph_loop import LoopOptions, run_graph_loop

        if args.trials < 1:
            raise ValueError(f"--trials must be at least 1, got {args.trials}")
        if args.nearby_goals is not None and args.nearby_goals <= 0:
            raise ValueError(f"--nearby-goals must be positive, got {args.nearby_goals}")
        nearby = None if args.nearby_goals is None else {"task": {"goal_mode": "nearby", "nearby_goal_angle": args.nearby_goals}}
        config = load_env_config(args.object, args.randomization, nearby)
        options = LoopOptions.evaluate_like() if args.evaluate_like else LoopOptions(
            mocap=args.mocap, score_measured=args.score_measured, goal_late=args.goal_late,
            safety_filter=args.safety_filter)
        result = run_graph_loop(args.policy, config, args.trials, options, args.seed, not args.no_progress)
        result.randomization = args.randomization
        result.goals = config.task.goal_mode if nearby is None else f"nearby {args.nearby_goals:g} rad"
        switches = ", ".join(f"{k} {'on' if v else 'off'}" for k, v in vars(options).items() if isinstance(v, bool))
        print(f"policy {args.policy}, {args.object}, randomization {args.randomization}, goals {result.goals}, "
              f"seed {args.seed}; {switches}")
        print(f"consecutive successes: {result.table_row()}")
        print(result.summary() + f"; {result.extra['rate_limited']} commands rate-limited")
        if args.json:
            write_json(result, args.json)
            print(f"wrote {args.json}")
        return 0
