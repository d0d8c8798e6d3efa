from dactyl_core.cli import CommandError, Verb


class TrainVerb(Verb):
    help = "train a control policy with PPO (LSTM policy and value); checkpoints in OUT, resumable"

    def add_arguments(self, parser):
        parser.add_argument("--config", default=None,
                            help="training YAML, or a shipped config name: small | paper (default: small; "
                                 "with --resume: the checkpoint's own)")
        parser.add_argument("--out", required=True, help="run directory (checkpoint, TensorBoard logs, progress.jsonl)")
        parser.add_argument("--resume", nargs="?", const="", default=None, metavar="CHECKPOINT",
                            help="continue from CHECKPOINT (default: OUT/ckpt.pt)")
        parser.add_argument("--restart-curriculum", action="store_true",
                            help="with --resume: keep the networks, optimiser and step counter, but start the "
                                 "curriculum at the config's start_angle (a trained policy on new goals)")
        parser.add_argument("--workers", type=int, default=None,
                            help="Ray rollout workers (0 = single process; default: the config's run.workers)")
        parser.add_argument("--address", default=None, help="join this Ray cluster (default: start Ray locally)")
        parser.add_argument("--total-env-steps", type=int, default=None, help="override run.total_env_steps")
        parser.add_argument("--device", default=None, help="learner device (auto | cpu | cuda | cuda:N)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def main(self, args) -> int:
        from pathlib import Path

        from dactyl_core.config import merge

        from ..config import load_train_config
        from ..train import CHECKPOINT_NAME, Trainer

        resume = None
        if args.resume is not None:
            resume = Path(args.resume or Path(args.out) / CHECKPOINT_NAME)
        config = None
        if args.config is not None or resume is None:
            config = load_train_config(args.config or "small")
        if resume is not None and config is None:
            from ..checkpoint import checkpoint_config, read_checkpoint

            config = checkpoint_config(read_checkpoint(resume))
        overrides = {"run": {k: v for k, v in (("workers", args.workers), ("total_env_steps", args.total_env_steps),
                                                 ("device", args.device)) if v is not None}}
        config = merge(config, overrides, "command line")
        if args.restart_curriculum and resume is None:
            raise CommandError("--restart-curriculum needs --resume (a checkpoint to start from)")
        trainer = Trainer(config, args.out, resume_from=resume, address=args.address, progress=not args.no_progress,
                          restart_curriculum=args.restart_curriculum)
        try:
            summary = trainer.run()
        finally:
            trainer.close()
        state = "stopped" if summary["stopped"] else "finished"
        print(f"{state} at iteration {summary['iteration']}: {summary['env_steps']} env steps in "
              f"{summary['wall_time']:.0f} s; checkpoint {Path(args.out) / CHECKPOINT_NAME}")
        return 0
