"""Command-line flags that also read `GATEWAY_<FLAG>` environment variables (DESIGN.md).

`--some-flag` falls back to `GATEWAY_SOME_FLAG`; the flag wins over the variable. Booleans
accept true/false/1/0, as a variable or as `--flag=false`; a bare `--flag` means true. A bad
value, from either place, is a one-line error and exit code 2 (argparse's usage error).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def parse_bool(raw: str) -> bool:
    """true/false/1/0, any case."""
    try:
        return _BOOLEANS[raw.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a boolean (true/false/1/0)") from None


def env_name(flag: str) -> str:
    """`--watch-namespace` → `GATEWAY_WATCH_NAMESPACE`."""
    return "GATEWAY_" + flag.lstrip("-").upper().replace("-", "_")


def add_flag(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    help: str,
    default: Any = None,
    kind: Callable[[str], Any] = str,
    boolean: bool = False,
    metavar: str | None = None,
) -> None:
    """Add `flag`, with its default taken from the environment when the variable is set."""
    variable = env_name(flag)
    raw = os.environ.get(variable)
    convert = parse_bool if boolean else kind
    if raw is not None:
        try:
            default = convert(raw)
        except (argparse.ArgumentTypeError, ValueError) as err:
            parser.error(f"{variable}={raw!r}: {err}")
    help_text = f"{help} (env {variable})"
    if boolean:
        parser.add_argument(
            flag,
            nargs="?",
            const=True,
            default=bool(default),
            type=parse_bool,
            metavar="BOOL",
            help=help_text,
        )
    else:
        parser.add_argument(flag, default=default, type=kind, metavar=metavar, help=help_text)


def add_class_flags(parser: argparse.ArgumentParser) -> None:
    """The Ingress class flags shared by `run`, `routes` and `check`."""
    add_flag(
        parser,
        "--ingress-class",
        default="gateway",
        metavar="NAME",
        help="serve Ingresses of this class name",
    )
    add_flag(
        parser,
        "--controller-class",
        default="ingress-gateway.dev/controller",
        metavar="NAME",
        help="the spec.controller value of our IngressClasses",
    )
    add_flag(
        parser,
        "--watch-ingress-without-class",
        boolean=True,
        default=False,
        help="also serve Ingresses that name no class",
    )
