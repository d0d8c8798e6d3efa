from dactyl_core.cli import Verb


class ExportVerb(Verb):
    help = "export a trained policy checkpoint (or an untrained policy, for testing the graph) to ONNX"

    def add_arguments(self, parser):
        parser.add_argument("checkpoint", nargs="?", help="training checkpoint (.pt) to export")
        parser.add_argument("--out", required=True, help="output ONNX file")
        parser.add_argument("--untrained", action="store_true",
                            help="export a randomly initialised policy with full metadata (no checkpoint)")
        parser.add_argument("--dense", type=int, default=256, help="with --untrained: dense layer width")
        parser.add_argument("--lstm", type=int, default=128, help="with --untrained: LSTM size")
        parser.add_argument("--feed-forward", action="store_true", help="with --untrained: no LSTM")
        parser.add_argument("--object", choices=["block", "prism"], default="block")
        parser.add_argument("--seed", type=int, default=0)

    def main(self, args) -> int:
        import torch

        from dactyl_core.env import load_env_config
        from dactyl_core.joints import NUM_ACTUATORS
        from dactyl_core.observations import POLICY_LAYOUT

        from ..export import export_policy, policy_metadata
        from ..networks import NetworkConfig, PolicyNetwork

        if args.untrained == bool(args.checkpoint):
            raise ValueError("give either a CHECKPOINT or --untrained")
        if args.untrained:
            torch.manual_seed(args.seed)
            env_config = load_env_config(args.object)
            network = NetworkConfig(dense=args.dense, lstm=args.lstm, recurrent=not args.feed_forward)
            policy = PolicyNetwork(POLICY_LAYOUT.size, NUM_ACTUATORS, env_config.actions.num_bins, network)
            metadata = policy_metadata(policy, env_config, training_config="untrained", env_steps=0)
        else:
            from ..checkpoint import load_policy_for_export

            policy, metadata = load_policy_for_export(args.checkpoint)
        path = export_policy(policy, metadata, args.out)
        kind = "LSTM" if metadata.recurrent else "feed-forward"
        print(f"wrote {path}: {kind} policy for the {metadata.object}, observation {POLICY_LAYOUT.size}, "
              f"{NUM_ACTUATORS} x {metadata.actions.num_bins} bins, control period {metadata.control_period:g} s, "
              f"{metadata.env_steps} training steps, revision {metadata.git_revision}")
        return 0
