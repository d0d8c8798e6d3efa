from ..cli import CommandError, Verb


class CalibrateMocapVerb(Verb):
    help = "compute the PhaseSpace -> world calibration from marker readings at known world positions"

    def add_arguments(self, parser) -> None:
        parser.add_argument("points", help="YAML: pairs: [{world: [x, y, z] (m), phasespace: [x, y, z] (mm)}, ...]")
        parser.add_argument("--base", default=None, help="calibration whose marker ids are kept (default: the shipped one)")
        parser.add_argument("--out", default=None, help="write the calibration YAML here (default: print it)")
        parser.add_argument("--max-residual-mm", type=float, default=3.0,
                            help="refuse a calibration whose rms residual is larger (default 3 mm)")

    def main(self, args) -> int:
        from pathlib import Path

        from .. import mocap
        from ..config import load

        points = load(mocap.CalibrationPoints, args.points)
        calibration, residual = mocap.calibrate(points, mocap.load_calibration(args.base))
        residual_mm = residual * mocap.MM_PER_M
        summary = f"{len(points.pairs)} point pairs, rms residual {residual_mm:.2f} mm"
        if residual_mm > args.max_residual_mm:
            raise CommandError(f"{summary} exceeds --max-residual-mm {args.max_residual_mm}: a reading is wrong, "
                               "mismatched, or the points are (nearly) collinear")
        text = (f"# PhaseSpace -> world calibration from {args.points}: {summary}\n"
                "#   p_world [m] = rotation @ (p_phasespace [mm] / 1000) + translation\n" + calibration_yaml(calibration))
        if args.out:
            Path(args.out).write_text(text)
            print(f"wrote {args.out} ({summary})")
        else:
            print(text, end="")
        return 0


def calibration_yaml(calibration) -> str:
    """The calibration in the shipped file's layout: one rotation row per line, 9 decimals."""
    def numbers(values):
        return "[" + ", ".join(f"{round(float(v), 9) + 0.0:.9f}" for v in values) + "]"

    rows = "".join(f"  - {numbers(row)}\n" for row in calibration.rotation)
    return (f"rotation:\n{rows}translation: {numbers(calibration.translation)}\n"
            f"object_marker_first_id: {calibration.object_marker_first_id}\n"
            f"fingertip_marker_ids: {list(calibration.fingertip_marker_ids)}\n")
