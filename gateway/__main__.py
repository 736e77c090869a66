"""`gateway`: the command line (DESIGN.md, "Command line"). The only module that exits."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gateway.flags import add_class_flags, add_flag
from gateway.offline import run_check, run_routes
from gateway.settings import (
    RunSettings,
    host_port,
    lease_seconds,
    namespaced_name,
    positive_seconds,
    workers,
)
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

    for name, text in (
        ("run", "serve traffic"),
        ("demo", "serve the bundled demo with echo backends"),
    ):
        _add_run_flags(commands.add_parser(name, help=text))

    check = commands.add_parser("check", help="validate manifests and annotations")
    check.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or folders")
    add_class_flags(check)
    return parser


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    add_flag(
        parser,
        "--manifests",
        metavar="PATH",
        help="read cluster objects from this file or folder instead of the API server",
    )
    add_flag(parser, "--kubeconfig", metavar="FILE", help="kubeconfig for the API server")
    add_flag(
        parser,
        "--listen",
        default=("0.0.0.0", 8080),
        kind=host_port,
        metavar="HOST:PORT",
        help="HTTP listener",
    )
    add_flag(
        parser,
        "--listen-tls",
        default=("0.0.0.0", 8443),
        kind=host_port,
        metavar="HOST:PORT",
        help="HTTPS listener",
    )
    add_flag(
        parser,
        "--admin",
        default=("0.0.0.0", 10254),
        kind=host_port,
        metavar="HOST:PORT",
        help="admin server: /healthz /readyz /metrics /debug/routes",
    )
    add_class_flags(parser)
    add_flag(
        parser,
        "--configmap",
        kind=namespaced_name,
        metavar="NS/NAME",
        help="ConfigMap with global settings (ingress-nginx key names); default: the one in "
        "our IngressClass's spec.parameters",
    )
    add_flag(
        parser,
        "--default-ssl-certificate",
        kind=namespaced_name,
        metavar="NS/NAME",
        help="TLS Secret served to names no Ingress has a certificate for (default: a "
        "self-signed one made at start)",
    )
    add_flag(
        parser,
        "--watch-namespace",
        default="",
        metavar="NS",
        help="only this namespace (default: all)",
    )
    add_flag(
        parser,
        "--workers",
        default="auto",
        kind=workers,
        metavar="N",
        help="worker processes accepting on the same ports; auto: the CPUs this process may "
        "use, within its cgroup CPU quota; 1 runs everything in one process",
    )
    add_flag(
        parser,
        "--publish-service",
        kind=namespaced_name,
        metavar="NS/NAME",
        help="Service in front of the gateway whose addresses are written to Ingress status",
    )
    add_flag(
        parser,
        "--publish-status-address",
        default="",
        metavar="ADDR[,ADDR]",
        help="addresses written to Ingress status (wins over --publish-service)",
    )
    add_flag(
        parser,
        "--election-id",
        default="ingress-gateway-leader",
        metavar="NAME",
        help="Lease that elects the replica writing status and Events",
    )
    add_flag(
        parser,
        "--election-namespace",
        default="",
        metavar="NS",
        help="namespace of that Lease (default: POD_NAMESPACE, else ingress-gateway)",
    )
    add_flag(
        parser,
        "--election-ttl",
        default=30.0,
        kind=lease_seconds,
        metavar="SECONDS",
        help="lease duration: a new leader takes over within it when the leader dies",
    )
    add_flag(
        parser,
        "--shutdown-delay",
        default=5.0,
        kind=positive_seconds,
        metavar="SECONDS",
        help="after SIGTERM, keep serving this long with readiness failing",
    )
    add_flag(
        parser,
        "--shutdown-timeout",
        default=240.0,
        kind=positive_seconds,
        metavar="SECONDS",
        help="then wait this long for in-flight requests",
    )
    add_flag(
        parser,
        "--log-level",
        default="info",
        kind=_log_level,
        metavar="LEVEL",
        help="debug, info, warning or error",
    )


def _log_level(raw: str) -> str:
    if raw.lower() not in ("debug", "info", "warning", "error"):
        raise argparse.ArgumentTypeError(f"{raw!r} is not one of debug, info, warning, error")
    return raw.lower()


def _run_settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RunSettings:
    own_namespace = os.environ.get("POD_NAMESPACE") or "ingress-gateway"
    return RunSettings(
        manifests=args.manifests,
        kubeconfig=args.kubeconfig,
        listen=args.listen,
        listen_tls=args.listen_tls,
        admin=args.admin,
        classes=_classes(args),
        configmap=args.configmap,
        default_ssl_certificate=args.default_ssl_certificate,
        watch_namespace=args.watch_namespace,
        workers=args.workers,
        publish_service=args.publish_service,
        publish_status_address=args.publish_status_address,
        own_namespace=own_namespace,
        election=(args.election_namespace or own_namespace, args.election_id),
        election_ttl=args.election_ttl,
        shutdown_delay=args.shutdown_delay,
        shutdown_timeout=args.shutdown_timeout,
        log_level=args.log_level,
    )


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
    if args.command in ("run", "demo"):
        settings = _run_settings(parser, args)
        if args.command == "demo":
            from gateway.demo import run_demo

            return run_demo(settings)
        from gateway.app import run

        return run(settings)
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
