from ..cli import Verb


class SceneVerb(Verb):
    help = "build the scene, drop the object onto the palm, render the three cameras to a PNG contact sheet"

    def add_arguments(self, parser):
        parser.add_argument("--object", choices=["block", "prism"], default=None, help="object to load (default: from the scene config)")
        parser.add_argument("--config", default=None, help="scene YAML (default: dactyl_core/config/scene.yaml)")
        parser.add_argument("--seconds", type=float, default=10.0, help="simulated seconds to hold the object (default 10)")
        parser.add_argument("--out", default="out", help="folder for the contact sheet (default ./out)")

    def main(self, args) -> int:
        from pathlib import Path

        import cv2
        import numpy as np

        from ..config import merge
        from ..render import CameraRenderer
        from ..scene import build_scene, drop_on_palm, load_scene_config

        config = load_scene_config(args.config)
        if args.object:
            config = merge(config, {"object": args.object})
        scene = build_scene(config)
        m = scene.model
        print(f"scene: {config.object}, {m.njnt - 1} hand joints, {m.nu} actuators, {len(scene.cameras)} cameras, "
              f"control period {scene.control_period * 1000:.0f} ms ({config.physics.substeps} x {config.physics.timestep * 1000:g} ms)")
        data = scene.make_data()
        report = drop_on_palm(scene, data, duration=args.seconds)
        rest = f"at rest after {report.rest_time:.2f} s" if report.rest_time is not None else "never came to rest"
        print(f"dropped the {config.object} onto the palm: {rest}, "
              f"{'stayed on the palm' if report.stayed_on_palm else 'FELL OFF'} for {args.seconds:g} s, "
              f"peak speed {report.max_linear_speed:.3f} m/s, final position {np.round(report.final_position, 4).tolist()}")
        renderer = CameraRenderer(scene)
        try:
            views = renderer.rgb_all(data)
            overview = renderer.free_view(data, lookat=[1.0, 0.9, 0.19], distance=0.45, azimuth=60, elevation=-30, size=(400, 600))
            masks = {name: int(renderer.object_mask(data, name).sum()) for name in scene.cameras}
        finally:
            renderer.close()
        sheet = contact_sheet(views, overview)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"scene_{config.object}.png"
        cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        print("object pixels per camera: " + ", ".join(f"{k}={v}" for k, v in masks.items()))
        print(f"wrote {path}")
        return 0 if report.stayed_on_palm and all(masks.values()) else 1


def contact_sheet(views: dict, overview):
    """Camera images side by side, each labelled, above a wide overview render."""
    import cv2
    import numpy as np

    height = 300
    tiles = []
    for name, image in views.items():
        tile = cv2.resize(image, (height * image.shape[1] // image.shape[0], height), interpolation=cv2.INTER_NEAREST)
        cv2.putText(tile, name, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(tile)
    row = np.hstack(tiles)
    scale = row.shape[1] / overview.shape[1]
    wide = cv2.resize(overview, (row.shape[1], int(overview.shape[0] * scale)))
    return np.vstack([row, wide])
