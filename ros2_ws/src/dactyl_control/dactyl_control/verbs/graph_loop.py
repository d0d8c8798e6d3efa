from dactyl_core.cli import Verb
from dactyl_core.verbs.evaluate import add_trial_arguments, report, trial_config


class GraphLoopVerb(Verb):
    help = ("run trials through the ROS graph's per-step code in one process (no ROS), each of the graph's "
            "differences from `dactyl evaluate` a switch; prints the Table-3 row")

    def add_arguments(self, parser):
        parser.add_argument("--policy", default="models/policy_block.onnx", help="exported policy (ONNX)")
        add_trial_arguments(parser)
        for flag, what in (("mocap", "poses fitted to simulated PhaseSpace markers"),
                           ("goal-late", "a new goal reaches the policy one control step after the success"),
                           ("safety-filter", "commands pass the hand driver's limit and rate filter")):
            parser.add_argument(f"--no-{flag}", dest=flag.replace("-", "_"), action="store_false", help=f"off: {what}")
        parser.add_argument("--score-measured", action="store_true",
                            help="score trials on the measured pose, as on the real hand (default: the true pose, as "
                                 "the simulated graph and `dactyl evaluate` score them)")
        parser.add_argument("--evaluate-like", action="store_true", help="every switch off: `dactyl evaluate`'s loop")

    def main(self, args) -> int:
        from ..graph_loop import LoopOptions, run_graph_loop

        config = trial_config(args)
        options = LoopOptions.evaluate_like() if args.evaluate_like else LoopOptions(
            mocap=args.mocap, score_measured=args.score_measured, goal_late=args.goal_late,
            safety_filter=args.safety_filter)
        result = run_graph_loop(args.policy, config, args.trials, options, args.seed, not args.no_progress)
        switches = ", ".join(f"{k} {'on' if v else 'off'}" for k, v in vars(options).items() if isinstance(v, bool))
        report(result, config, args, setting=f"; {switches}",
               summary_extra=f"; {result.extra['rate_limited']} commands rate-limited")
        return 0
