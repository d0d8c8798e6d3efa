"""`dactyl`: the project's one command line, with verbs like `ros2`'s.

Verbs are classes registered under the `dactyl.verbs` entry-point group by whichever package provides
them (the core, training, the launcher), so this module knows none of them and imports nothing heavy.
A verb's expected failures (bad input, missing files) end with a one-line message and exit code 2;
set DACTYL_DEBUG=1 to see the traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import entry_points


class CommandError(Exception):
    """An error the user can fix; printed without a traceback."""


class Verb:
    """Base class of a `dactyl` verb: a help line, its arguments, and `main` returning an exit code."""

    help = ""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        pass

    def main(self, args: argparse.Namespace) -> int:
        raise NotImplementedError


def discover_verbs() -> dict[str, Verb]:
    """Every installed verb; one that fails to import is reported and skipped, not fatal to the rest."""
    verbs = {}
    for ep in entry_points(group="dactyl.verbs"):
        try:
            verbs[ep.name] = ep.load()()
        except Exception as err:  # a broken plug-in must not take the whole command line down
            print(f"dactyl: verb {ep.name!r} is unavailable ({type(err).__name__}: {err})", file=sys.stderr)
    return dict(sorted(verbs.items()))


def build_parser(verbs: dict[str, Verb]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dactyl", description="Dactyl: in-hand manipulation with a Shadow hand, ROS 2 and MuJoCo.")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name, verb in verbs.items():
        verb_parser = sub.add_parser(name, help=verb.help, description=verb.help)
        verb.add_arguments(verb_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    verbs = discover_verbs()
    parser = build_parser(verbs)
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 1
    try:
        return int(verbs[args.verb].main(args) or 0)
    except KeyboardInterrupt:
        print(f"dactyl {args.verb}: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, OSError, KeyError) as err:
        if os.environ.get("DACTYL_DEBUG"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"dactyl {args.verb}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
