from dactyl_core.cli import CommandError, Verb


class BenchGraphVerb(Verb):
    help = ("benchmark the ROS graph: policy-node latency vs. a same-run Fast DDS round trip, control-period "
            "jitter, and how much faster than real time the mocap graph runs unthrottled")

    def add_arguments(self, parser):
        parser.add_argument("--policy", default="models/policy_block.onnx", help="ONNX policy (default models/policy_block.onnx)")
        parser.add_argument("--steps", type=int, default=1000, help="policy steps for the latency figures (default 1000)")
        parser.add_argument("--pace", type=float, default=0.045,
                            help="seconds between input sets (>= half a control period, the node's step gate; default 0.045)")
        parser.add_argument("--sim-minutes", type=float, default=10.0,
                            help="simulated minutes of the unthrottled mocap graph (default 10)")
        parser.add_argument("--real-time-seconds", type=float, default=60.0,
                            help="seconds of the real-time graph for wall-clock jitter (default 60; 0 skips)")
        parser.add_argument("--skip-graph", action="store_true", help="only the policy-node latency")
        parser.add_argument("--run-dir", default=None, help="folder for node logs (default runs/bench-graph-TIME)")
        parser.add_argument("--json", default=None, help="also write every figure to this JSON file")
        parser.add_argument("--no-progress", action="store_true")

    def main(self, args) -> int:
        import json
        import os
        import random
        import time
        from pathlib import Path

        from ..bench_graph import measure_graph, measure_policy_latency
        from ..launcher import graph_environment

        policy = Path(args.policy)
        if not policy.is_file():
            raise CommandError(f"--policy {policy} does not exist (dactyl export --untrained --out {policy} makes a stand-in)")
        if args.pace < 0.04:
            raise CommandError("--pace must be >= 0.04 s: the policy node takes at most one step per half control period")
        env = graph_environment()
        env.setdefault("ROS_DOMAIN_ID", str(random.randint(101, 200)))  # a private domain unless one is chosen
        run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / time.strftime("bench-graph-%Y%m%d-%H%M%S")
        progress = not args.no_progress
        print(f"policy {policy}; {os.cpu_count()} CPU cores; ROS_DOMAIN_ID {env['ROS_DOMAIN_ID']}; logs in {run_dir}/")
        figures = {"latency": measure_policy_latency(policy, args.steps, args.pace, env, run_dir / "latency", progress)}
        lat = figures["latency"]
        node, trip, dds = lat["policy_node_ms"], lat["policy_round_trip_ms"], lat["dds_round_trip_ms"]
        print(f"\npolicy node, newest input stamp -> command publish ({node.get('latency_from_stamp_samples', 0):.0f} steps): "
              f"p50 {node['latency_from_stamp_p50_ms']:.3f} ms, p99 {node['latency_from_stamp_p99_ms']:.3f} ms (target p99 < 2 ms)")
        print(f"  of which inside the node (input arrival -> publish): p50 {node['latency_in_node_p50_ms']:.3f} ms, "
              f"p99 {node['latency_in_node_p99_ms']:.3f} ms")
        print(f"round trip through the policy node (bench -> policy -> bench): p50 {trip['p50']:.3f} ms, p99 {trip['p99']:.3f} ms")
        print(f"baseline, Fast DDS round trip between two rclpy processes (same run, interleaved): "
              f"p50 {dds['p50']:.3f} ms, p99 {dds['p99']:.3f} ms")
        print(f"ratio policy round trip / DDS round trip: p50 {trip['p50'] / dds['p50']:.2f}x, p99 {trip['p99'] / dds['p99']:.2f}x; "
              f"stamp -> publish p99 / DDS round trip p99: {node['latency_from_stamp_p99_ms'] / dds['p99']:.2f}x; "
              f"{lat['missed']} of {lat['steps']} steps unanswered")
        if not args.skip_graph:
            fast = measure_graph(policy, False, args.sim_minutes * 60.0, args.sim_minutes * 60.0 * 5, env, run_dir / "unthrottled", progress)
            figures["unthrottled"] = fast
            p = fast["sim_period_ms"]
            print(f"\nmocap graph unthrottled: {fast['sim_seconds']:.0f} simulated s in {fast['wall_seconds']:.0f} wall s = "
                  f"{fast['speed_vs_real_time']:.2f}x real time ({fast['commands']} commands, {fast['resets']} trial resets, "
                  f"{fast['lockstep_timeouts']} control periods without a command in time)")
            print(f"  control period at the hand (simulated time, timed by the sim, last {p['samples']:.0f} commands): "
                  f"p1 {p['p1']:.1f} / p50 {p['p50']:.1f} / p99 {p['p99']:.1f} / max {p['max']:.0f} ms "
                  "(nominal 80 ms; the randomized timestep moves it by up to 5% per trial; pauses between trials included)")
            if args.real_time_seconds > 0:
                slow = measure_graph(policy, True, args.real_time_seconds, args.real_time_seconds * 3, env, run_dir / "real_time", progress)
                figures["real_time"] = slow
                w, p = slow["wall_period_ms"], slow["sim_period_ms"]
                print(f"mocap graph in real time ({slow['sim_seconds']:.0f} s, {slow['speed_vs_real_time']:.2f}x real time): "
                      f"control period at the hand, wall clock (as heard by this process): p1 {w['p1']:.1f} / p50 "
                      f"{w['p50']:.1f} / p99 {w['p99']:.1f} ms, std {w['std']:.2f} ms, {w['late_over_1.5_periods']} of "
                      f"{w['n']} over 1.5x nominal; timed by the sim (start-up included): p1 {p['p1']:.1f} / p50 "
                      f"{p['p50']:.1f} / p99 {p['p99']:.1f} ms")
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(figures, indent=2))
            print(f"wrote {args.json}")
        return 0
