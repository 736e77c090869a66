"""The addresses written to Ingress status, from flags and from the publish Service."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.control.status import parse_addresses, service_addresses, status_addresses


def test_publish_status_address_list_is_split_typed_sorted_and_deduplicated() -> None:
    assert parse_addresses([" lb.example.com", " 203.0.113.9", "", "10.0.0.1", "203.0.113.9"]) == (
        ("", "lb.example.com"),
        ("10.0.0.1", ""),
        ("203.0.113.9", ""),
    )


def test_status_addresses_ignore_malformed_entries() -> None:
    status = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {}, "junk", {"hostname": "a"}]}}
    assert status_addresses(status) == (("", "a"), ("1.2.3.4", ""))
    assert status_addresses({"loadBalancer": {"ingress": "nope"}}) == ()
    assert status_addresses(None) == ()


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        pytest.param(
            {
                "spec": {"type": "LoadBalancer", "externalIPs": ["198.51.100.1"]},
                "status": {"loadBalancer": {"ingress": [{"hostname": "elb.aws"}]}},
            },
            (("", "elb.aws"), ("198.51.100.1", "")),
            id="load-balancer-with-external-ip",
        ),
        pytest.param(
            {"spec": {"type": "LoadBalancer"}, "status": {}}, (), id="load-balancer-pending"
        ),
        pytest.param(
            {"spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "externalIPs": ["192.0.2.4"]}},
            (("192.0.2.4", ""),),
            id="external-ips-win-over-cluster-ip",
        ),
        pytest.param({"spec": {"clusterIP": "10.96.0.9"}}, (("10.96.0.9", ""),), id="cluster-ip"),
        pytest.param({"spec": {"clusterIP": "None"}}, (), id="headless"),
        pytest.param(
            {"spec": {"type": "ExternalName", "externalName": "gw.example.com"}},
            (("", "gw.example.com"),),
            id="external-name",
        ),
    ],
)
def test_service_addresses_follow_ingress_nginx(service: dict[str, Any], expected: Any) -> None:
    assert service_addresses(service) == expected
