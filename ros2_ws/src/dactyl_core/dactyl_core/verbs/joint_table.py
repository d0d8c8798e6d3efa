from ..cli import Verb


class JointTableVerb(Verb):
    help = "print the joint and actuator table (simulation naming <-> Shadow naming, signs, ranges)"

    def main(self, args) -> int:
        from .. import joints

        print(f"{'#':>2}  {'model joint':<14} {'Shadow joint':<10} {'sign':>4}  {'model range':<17} {'Shadow range':<17} command range")
        for j in joints.JOINTS:
            print(f"{j.index:>2}  {j.model_name:<14} {j.shadow_name:<10} {j.sign:>+4}  "
                  f"[{j.model_range[0]:+.3f}, {j.model_range[1]:+.3f}]  [{j.shadow_range[0]:+.3f}, {j.shadow_range[1]:+.3f}]  "
                  f"[{j.command_range[0]:+.3f}, {j.command_range[1]:+.3f}]")
        print()
        print(f"{'#':>2}  {'model actuator':<16} {'Shadow motor':<12} {'moves':<20} controller topic")
        for a in joints.ACTUATORS:
            print(f"{a.index:>2}  {a.model_name:<16} {a.shadow_name:<12} {'+'.join(a.shadow_joints):<20} {a.controller_topic}")
        print(f"\ncoupled fingers: distal = {joints.COUPLED_DISTAL_RATIO:.4f} x middle; J0 = J1 + J2 in [0, pi]")
        return 0
