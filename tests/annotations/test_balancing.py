"""Balancing parsing: `load-balance` and `upstream-hash-by` (reference §1F)."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.balancing import Balancing

N = "nginx.ingress.kubernetes.io/"


def parsed(annotations: dict[str, str]) -> Balancing | None:
    result = parse_all(annotations)
    assert result.errors == (), result.errors
    assert result.config is not None
    return result.config.balancing


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="none"),
        pytest.param({N + "load-balance": "ewma"}, Balancing("ewma"), id="ewma"),
        pytest.param({N + "load-balance": " least_conn "}, Balancing("least_conn"), id="blanks"),
        pytest.param({N + "load-balance": "random"}, Balancing("random"), id="random"),
        pytest.param(
            {N + "upstream-hash-by": "$request_uri"},
            Balancing(hash_by=(("request_uri", ""),)),
            id="request-uri",
        ),
        pytest.param(
            {N + "upstream-hash-by": "$host$uri"},
            Balancing(hash_by=(("host", ""), ("uri", ""))),
            id="two-variables",
        ),
        pytest.param(
            {N + "upstream-hash-by": "${arg_user}-x-$http_x_tenant:$cookie_sid"},
            Balancing(
                hash_by=(("arg", "user"), "-x-", ("http", "x_tenant"), ":", ("cookie", "sid"))
            ),
            id="text-and-braces",
        ),
        pytest.param(
            {"mse.ingress.kubernetes.io/warmup": "30"}, Balancing(warmup=30.0), id="warmup"
        ),
        pytest.param({N + "warmup": "1m"}, Balancing(warmup=60.0), id="warmup-unit"),
        pytest.param(
            {N + "upstream-hash-by": "$remote_addr", N + "load-balance": "ewma"},
            Balancing("ewma", (("remote_addr", ""),)),
            id="hash-with-algorithm",
        ),
    ],
)
def test_parse(annotations: dict[str, str], expected: Balancing | None) -> None:
    assert parsed(annotations) == expected


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param(
            {N + "upstream-hash-by": "$uri", N + "upstream-hash-by-subset": "true"},
            Balancing(hash_by=(("uri", ""),), subset_size=3),
            id="subset-default-size",
        ),
        pytest.param(
            {
                N + "upstream-hash-by": "$uri",
                N + "upstream-hash-by-subset": "true",
                N + "upstream-hash-by-subset-size": "5",
            },
            Balancing(hash_by=(("uri", ""),), subset_size=5),
            id="subset-size",
        ),
        pytest.param(
            {N + "upstream-hash-by": "$uri", N + "upstream-hash-by-subset-size": "5"},
            Balancing(hash_by=(("uri", ""),)),
            id="size-without-subset",
        ),
    ],
)
def test_parse_subsets(annotations: dict[str, str], expected: Balancing) -> None:
    assert parsed(annotations) == expected


def test_subset_without_hash_by_is_a_warning() -> None:
    result = parse_all({N + "upstream-hash-by-subset": "true", N + "load-balance": "ewma"})
    assert [(w.key, w.reason) for w in result.warnings] == [
        (N + "upstream-hash-by-subset", "has no effect without upstream-hash-by")
    ]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    assert parsed({prefix + "load-balance": "random"}) == Balancing("random")


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param("load-balance", "round-robin", "is not one of", id="dash"),
        pytest.param("load-balance", "chash", "is not one of", id="unknown"),
        pytest.param("upstream-hash-by", "user", "has no variable", id="no-variable"),
        pytest.param(
            "upstream-hash-by", "$scheme_x", "$scheme_x is not supported", id="unknown-var"
        ),
        pytest.param("upstream-hash-by", "$http_", "$http_ is not supported", id="empty-name"),
        pytest.param("upstream-hash-by", "", "is empty", id="empty"),
        pytest.param("upstream-hash-by-subset-size", "0", "at least one", id="subset-zero"),
        pytest.param("upstream-hash-by-subset", "yes", "not a boolean", id="subset-bool"),
        pytest.param("warmup", "soon", "not a duration", id="warmup-word"),
    ],
)
def test_invalid(key: str, value: str, reason: str) -> None:
    result = parse_all({N + key: value})
    assert result.config is None
    [err] = result.errors
    assert err.key == N + key and reason in err.reason
