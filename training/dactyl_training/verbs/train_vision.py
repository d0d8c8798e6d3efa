from dactyl_core.cli import Verb


class TrainVisionVerb(Verb):
    help = "train the three-camera pose estimator on a render set (TensorBoard, checkpoints, resumable)"

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, help="training render set (folder with manifest.json); may still be growing")
        parser.add_argument("--run-dir", required=True, help="run folder: checkpoint.pt, config.json, TensorBoard events")
        parser.add_argument("--steps", type=int, default=20000, help="optimizer steps in all (the cosine schedule spans them)")
        parser.add_argument("--batch-size", type=int, default=64)
        parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
        parser.add_argument("--validation-data", default=None, help="held-out render set logged to TensorBoard")
        parser.add_argument("--max-minutes", type=float, default=None, help="stop with a checkpoint after this long")
        parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--bfloat16", choices=("auto", "on", "off"), default="auto",
                            help="bfloat16 autocast of the conv tower (auto: on only where the CPU has native "
                                 "bfloat16; emulated, it is ~15x slower)")
        parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --run-dir")
        parser.add_argument("--skip-bad-shards", action="store_true",
                            help="leave out missing or corrupt shards (named in the log) instead of refusing the data")

    def main(self, args) -> int:
        from ..vision.train import VisionTrainConfig, train

        config = VisionTrainConfig(data=args.data, run_dir=args.run_dir, steps=args.steps, batch_size=args.batch_size,
                                   learning_rate=args.lr, validation_data=args.validation_data,
                                   max_minutes=args.max_minutes, threads=args.threads, seed=args.seed,
                                   bfloat16={"auto": None, "on": True, "off": False}[args.bfloat16],
                                   on_bad_shard="skip" if args.skip_bad_shards else "error")
        summary = train(config, resume=not args.fresh)
        last = summary["history"][-1] if summary["history"] else {}
        print(f"{summary['steps']} steps on {summary['train_sets']} frame sets, {summary['elapsed_s'] / 60:.1f} min in all"
              f"{' (stopped at --max-minutes; run again to continue)' if summary['stopped_early'] else ''}; "
              f"last batch: {last.get('position_mm', float('nan')):.1f} mm, {last.get('orientation_deg', float('nan')):.1f} deg; "
              f"checkpoint {summary['checkpoint']}")
        return 0
