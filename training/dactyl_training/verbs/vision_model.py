from dactyl_core.cli import Verb


class ExportVisionVerb(Verb):
    help = "export a pose-estimator checkpoint to a self-describing ONNX file (and check ONNX Runtime against torch)"

    def add_arguments(self, parser):
        parser.add_argument("checkpoint", help="checkpoint.pt of `dactyl train-vision`")
        parser.add_argument("--out", required=True, help="output ONNX file")
        parser.add_argument("--data", default=None, help="render set whose camera list to record (default: the training set)")

    def main(self, args) -> int:
        import numpy as np
        import torch

        from dactyl_core.vision.dataset import read_manifest
        from dactyl_core.vision.pose_model import OnnxPoseEstimator

        from ..vision.export import export_pose_model, pose_model_metadata
        from ..vision.train import load_checkpoint

        model, state = load_checkpoint(args.checkpoint)
        manifest = read_manifest(args.data or state["train_config"]["data"])
        summary = (f"{state['step']} steps of batch {state['train_config']['batch_size']} on {state['train_sets']} "
                   f"randomized frame sets, {state['elapsed_s'] / 60:.0f} min of training")
        path = export_pose_model(model, pose_model_metadata(model, manifest["cameras"], manifest["object"], summary), args.out)
        images = np.random.default_rng(0).integers(0, 256, (4, 3, *model.config.image_size, 3), dtype=np.uint8)
        with torch.no_grad():
            position, orientation = model(torch.from_numpy(images))
        onnx_position, onnx_orientation = OnnxPoseEstimator(path).estimate(images)
        gap = max(np.abs(onnx_position - position.numpy()).max(), np.abs(onnx_orientation - orientation.numpy()).max())
        print(f"wrote {path} ({summary}); ONNX Runtime vs torch max difference {gap:.2e}")
        return 0


class EvalVisionVerb(Verb):
    help = "pose-estimator errors (mm, degrees: mean, median, p90) on held-out randomized and plain render sets"

    def add_arguments(self, parser):
        parser.add_argument("model", help="ONNX pose estimator")
        parser.add_argument("--data", default="datasets/vision_block_test", help="held-out randomized render set")
        parser.add_argument("--plain-data", default="datasets/vision_block_plain",
                            help="held-out render set without visual randomization ('' to skip)")
        parser.add_argument("--json", default=None, help="write the results to this JSON file")
        parser.add_argument("--skip-bad-shards", action="store_true", help="leave out missing or corrupt shards, naming them")
        parser.add_argument("--recording", default=None,
                            help="also score the poses the vision node published in this MCAP recording of "
                                 "`dactyl up --pose-source vision` against the sim's ground truth (same stamps)")

    def main(self, args) -> int:
        import json
        import sys
        from pathlib import Path

        from tqdm import tqdm

        from dactyl_core.vision.evaluation import meets_targets, evaluate_on
        from dactyl_core.vision.pose_model import OnnxPoseEstimator

        estimator = OnnxPoseEstimator(args.model)
        policy = "skip" if args.skip_bad_shards else "error"
        sets = [("randomized", args.data)] + ([("non_randomized", args.plain_data)] if args.plain_data else [])
        results = {}
        for name, root in sets:
            with tqdm(unit="set", desc=f"eval {name}", file=sys.stderr, dynamic_ncols=True) as bar:
                results[name] = evaluate_on(estimator, root, policy, progress=bar.update)
        report = {"model": args.model, **{k: results["randomized"][k] for k in ("position_mm", "orientation_deg", "frame_sets")},
                  "targets_met": meets_targets(results["randomized"]), **results}
        print(f"{'render set':<16} {'sets':>5} {'pos mean':>9} {'median':>7} {'p90':>7}   {'rot mean':>9} {'median':>7} {'p90':>7}")
        for name, r in results.items():
            p, o = r["position_mm"], r["orientation_deg"]
            print(f"{name:<16} {r['frame_sets']:>5} {p['mean']:>7.1f}mm {p['median']:>5.1f}mm {p['p90']:>5.1f}mm"
                  f"   {o['mean']:>7.1f}deg {o['median']:>5.1f}deg {o['p90']:>5.1f}deg")
            for reason in r["skipped_shards"]:
                print(f"  skipped bad shard {reason}")
        if args.recording:
            from dactyl_core.vision.evaluation import recorded_pose_errors

            graph = report["in_graph"] = recorded_pose_errors(args.recording)
            if "position_mm" in graph:
                p, o = graph["position_mm"], graph["orientation_deg"]
                print(f"{'in graph':<16} {graph['matched_on_hand']:>5} {p['mean']:>7.1f}mm {p['median']:>5.1f}mm {p['p90']:>5.1f}mm"
                      f"   {o['mean']:>7.1f}deg {o['median']:>5.1f}deg {o['p90']:>5.1f}deg")
            print(f"  in graph: {graph['poses_published']} poses published in {args.recording}, {graph['matched_on_hand']} "
                  "matched to the sim's ground truth by stamp with the object on the hand")
        print("targets (randomized, median < 10 mm and < 10 deg): "
              + ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in report["targets_met"].items()))
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(report, indent=2))
            print(f"wrote {args.json}")
        return 0
