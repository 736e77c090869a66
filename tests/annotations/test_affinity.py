"""Session affinity parsing: `affinity`, `affinity-mode`, `session-cookie-*` (reference §1F)."""

from __future__ import annotations

import pytest

from annotations import PREFIXES, parse_all
from annotations.affinity import Affinity, AffinityCookie

N = "nginx.ingress.kubernetes.io/"
H = "higress.io/"
M = "mse.ingress.kubernetes.io/"


def parsed(annotations: dict[str, str]) -> Affinity | None:
    result = parse_all(annotations)
    assert result.errors == () and result.config is not None
    return result.config.affinity


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="none"),
        pytest.param({N + "affinity": "cookie"}, Affinity(AffinityCookie()), id="defaults"),
        pytest.param(
            {
                N + "affinity": "cookie",
                N + "affinity-mode": "persistent",
                N + "session-cookie-name": "route",
                N + "session-cookie-path": "/app",
                N + "session-cookie-domain": ".example.com",
                N + "session-cookie-max-age": "3600",
                N + "session-cookie-expires": "7200",
                N + "session-cookie-samesite": "none",
                N + "session-cookie-conditional-samesite-none": "true",
                N + "session-cookie-secure": "true",
                N + "session-cookie-change-on-failure": "true",
            },
            Affinity(
                AffinityCookie(
                    "persistent",
                    "route",
                    "/app",
                    ".example.com",
                    3600,
                    7200,
                    "None",
                    conditional_samesite_none=True,
                    secure=True,
                    change_on_failure=True,
                )
            ),
            id="everything",
        ),
        pytest.param(
            {N + "affinity-canary-behavior": "legacy"}, Affinity(None, "legacy"), id="legacy-only"
        ),
        pytest.param(
            {H + "session-cookie-name": "sid"},
            Affinity(AffinityCookie(name="sid")),
            id="higress-name-turns-on",
        ),
        pytest.param(
            {M + "session-cookie-path": "/x"},
            Affinity(AffinityCookie(path="/x")),
            id="mse-path-turns-on",
        ),
        pytest.param(
            {N + "session-cookie-name": "sid"}, Affinity(None), id="nginx-name-alone-is-off"
        ),
    ],
)
def test_parse(annotations: dict[str, str], expected: Affinity | None) -> None:
    assert parsed(annotations) == expected


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix(prefix: str) -> None:
    assert parsed({prefix + "affinity": "cookie", prefix + "affinity-mode": "persistent"}) == (
        Affinity(AffinityCookie("persistent"))
    )


def test_cookie_settings_without_affinity_warn() -> None:
    result = parse_all({N + "session-cookie-name": "sid", N + "affinity-mode": "persistent"})
    assert result.config is not None
    assert sorted(w.key for w in result.warnings) == [
        N + "affinity-mode",
        N + "session-cookie-name",
    ]
    assert all("without affinity: cookie" in w.reason for w in result.warnings)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        pytest.param("affinity", "ip", "only affinity", id="not-cookie"),
        pytest.param("affinity-mode", "sticky", "is not one of", id="mode"),
        pytest.param("affinity-canary-behavior", "always", "is not one of", id="behavior"),
        pytest.param("session-cookie-name", "a b", "not a cookie name", id="name-blank"),
        pytest.param("session-cookie-name", "a;b", "not a cookie name", id="name-semicolon"),
        pytest.param("session-cookie-path", "app", "start with '/'", id="path-relative"),
        pytest.param("session-cookie-path", "/a;Secure", "contains ';'", id="path-injection"),
        pytest.param("session-cookie-domain", "a.com; x", "contains ';'", id="domain-injection"),
        pytest.param("session-cookie-max-age", "1h", "not a whole number", id="max-age"),
        pytest.param("session-cookie-samesite", "Loose", "None, Lax, Strict", id="samesite"),
        pytest.param("session-cookie-secure", "yes", "not a boolean", id="secure"),
    ],
)
def test_invalid(key: str, value: str, reason: str) -> None:
    result = parse_all({N + "affinity": "cookie", N + key: value})
    assert result.config is None
    [err] = result.errors
    assert err.key == N + key and reason in err.reason
