from ..cli import Verb


class RenderDatasetVerb(Verb):
    help = "render randomized three-camera frame sets of the object in the hand, with pose labels, into shards"

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="output folder (shards + manifest.json); an existing one is resumed")
        parser.add_argument("--sets", type=int, required=True, help="number of frame sets (three images each)")
        parser.add_argument("--seed", type=int, default=0, help="shard k is rendered from (seed, k) (default 0)")
        parser.add_argument("--shard-size", type=int, default=256, help="frame sets per shard (default 256)")
        parser.add_argument("--object", choices=["block", "prism"], default="block")
        parser.add_argument("--no-randomization", action="store_true", help="render the nominal look (held-out 'plain' set)")
        parser.add_argument("--visual-config", default=None, help="visual randomization YAML (default: the shipped one)")
        parser.add_argument("--physics-randomization", default="all", help="randomization preset of the posing environment")
        parser.add_argument("--envs", type=int, default=4, help="environments rolled out per process (default 4)")
        parser.add_argument("--frame-every", type=int, default=3, help="control steps between frame sets of one env (default 3)")
        parser.add_argument("--workers", type=int, default=1, help="rendering processes (default 1)")

    def main(self, args) -> int:
        import os
        import time

        from ..vision.randomization import load_visual_randomization
        from ..vision.render_set import RenderJob, render_dataset

        if args.sets < 1 or args.shard_size < 1:
            raise ValueError("--sets and --shard-size must be positive")
        job = RenderJob(out=args.out, sets=args.sets, shard_size=args.shard_size, seed=args.seed, object=args.object,
                        randomize=not args.no_randomization, physics_randomization=args.physics_randomization,
                        envs=args.envs, frame_every=args.frame_every)
        print(f"rendering {args.sets} frame sets into {args.out} (MUJOCO_GL={os.environ.get('MUJOCO_GL')}, "
              f"{args.workers} worker(s), visual randomization {'off' if args.no_randomization else 'on'})")
        start = time.perf_counter()
        manifest = render_dataset(job, load_visual_randomization(args.visual_config), workers=args.workers)
        print(f"{manifest['total_sets']} frame sets in {len(manifest['shards'])} shards, "
              f"{time.perf_counter() - start:.0f} s this run; manifest {args.out}/manifest.json")
        return 0
