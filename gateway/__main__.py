"""`gateway`: the command line (DESIGN.md, "Command line"). The only module that exits."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.flags import add_class_flags, add_flag
from gateway.offline import run_check, run_routes
from routing.classes import ClassSettings


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="gateway", description="A Kubernetes Ingress gateway that speaks NGINX annotations."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    routes = commands.add_parser("routes", help="print the compiled route table of manifests")
    add_flag(routes, "--manifests", metavar="PATH", help="a manifest file or folder")
    routes.add_argument("--json", action="store_true", help="print the /debug/routes document")
    add_class_flags(routes)

    check = commands.add_parser("check", help="validate manifests and annotations")
    check.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or folders")
    add_class_flags(check)
    return parser


def _classes(args: argparse.Namespace) -> ClassSettings:
    return ClassSettings(
        ingress_class=args.ingress_class,
        controller_class=args.controller_class,
        watch_without_class=args.watch_ingress_without_class,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "routes":
        if not args.manifests:
            parser.error("routes needs --manifests PATH (or GATEWAY_MANIFESTS)")
        return run_routes([args.manifests], _classes(args), as_json=args.json)
    return run_check(args.paths, _classes(args))


def console() -> None:
    """The `gateway` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console()
