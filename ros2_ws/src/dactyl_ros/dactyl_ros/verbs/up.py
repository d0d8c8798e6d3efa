from dactyl_core.cli import CommandError, Verb


class UpVerb(Verb):
    help = ("start the dactyl ROS graph as local processes (the launch file's graph), run K trials, print the "
            "Table-3 row, record every topic to MCAP")

    def add_arguments(self, parser):
        from dactyl_core import graph

        for argument in graph.ARGUMENTS:  # the launch file's arguments, one for one
            parser.add_argument("--" + argument.name.replace("_", "-"), dest=argument.name, default=argument.default,
                                choices=argument.choices, help=f"{argument.description} (default {argument.default})")
        parser.add_argument("--json", default=None, help="write the results (the keys of `dactyl evaluate --json`) here")
        parser.add_argument("--record", default=None, help="MCAP file for every topic (default RUN_DIR/dactyl.mcap)")
        parser.add_argument("--no-record", action="store_true", help="do not record")
        parser.add_argument("--run-dir", default=None, help="folder for node logs and parameters (default runs/up-TIME)")
        parser.add_argument("--timeout", type=float, default=0.0, help="give up after this many wall seconds (0: never)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def main(self, args) -> int:
        import time
        from pathlib import Path

        from dactyl_core import graph

        values = {a.name: str(getattr(args, a.name)) for a in graph.ARGUMENTS}
        try:
            values = graph.validate_arguments(values)
            if int(values["trials"]) < 0:
                raise ValueError
        except ValueError as err:
            raise CommandError(str(err) or f"--trials must be >= 0, got {values['trials']}") from None
        required = [("policy", "train one and export it (dactyl export CHECKPOINT --out PATH), or make an untrained "
                               "stand-in: dactyl export --untrained --out PATH")]
        if values["pose_source"] == "vision":
            required.append(("vision_model", "train the pose estimator (dactyl train-vision) and export it "
                                             "(dactyl export-vision CHECKPOINT --out PATH), see docs/vision.md"))
        for name, how in required:
            if not Path(values[name]).is_file():
                raise CommandError(f"--{name.replace('_', '-')} {values[name]} does not exist: {how.replace('PATH', values[name])}")
        run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / time.strftime("up-%Y%m%d-%H%M%S")
        record = None if args.no_record else Path(args.record) if args.record else run_dir / "dactyl.mcap"
        from ..launcher import run_up

        return run_up(values, run_dir, record, Path(args.json) if args.json else None, args.timeout, not args.no_progress)
