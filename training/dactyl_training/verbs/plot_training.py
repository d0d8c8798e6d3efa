from dactyl_core.cli import Verb


class PlotTrainingVerb(Verb):
    help = "plot a training run's curves (successes, curriculum, drops, entropy, steps/s) to a PNG"

    def add_arguments(self, parser):
        parser.add_argument("run", help="a `dactyl train --out` directory, a checkpoint directory, or its progress.jsonl[.gz]")
        parser.add_argument("--out", default=None, help="PNG to write (default: RUN/training.png)")
        parser.add_argument("--window", type=int, default=100,
                            help="iterations the trial statistics are averaged over (default 100)")
        parser.add_argument("--title", default=None, help="figure title (default: the run's directory name)")

    def main(self, args) -> int:
        from pathlib import Path

        from ..plot import load_progress, plot_training

        if args.window < 1:
            raise ValueError(f"--window must be at least 1, got {args.window}")
        progress = load_progress(args.run)  # refuses a path without a progress log, with the reason
        run_dir = Path(args.run) if Path(args.run).is_dir() else Path(args.run).parent
        out = Path(args.out) if args.out else run_dir / "training.png"
        plot_training(progress, out, args.title if args.title is not None else run_dir.resolve().name, args.window)
        print(f"{len(progress['iteration'])} iterations (to {progress['env_steps'][-1]:,.0f} env steps) from {args.run}; wrote {out}")
        return 0
