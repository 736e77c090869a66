"""The gateway's ConfigMap (`routing.globals`): values read, and bad values kept out."""

from __future__ import annotations

from dataclasses import replace

from routing.globals import GlobalConfig, parse_global_config

SOURCE = ("ingress", "gateway-config")


def test_ssl_protocols_are_read_in_version_order() -> None:
    config, problems = parse_global_config({"ssl-protocols": "TLSv1.3 tlsv1.2"}, GlobalConfig())
    assert config.ssl_protocols == ("TLSv1.2", "TLSv1.3") and problems == ()
    config, _ = parse_global_config({"ssl-protocols": "TLSv1"}, GlobalConfig())
    assert config.ssl_protocols == ("TLSv1.0",)  # nginx's spelling of TLS 1.0


def test_a_bad_tls_setting_names_the_key_and_keeps_the_value_in_force() -> None:
    previous = replace(GlobalConfig(), ssl_protocols=("TLSv1.3",), ssl_ciphers="HIGH")
    config, problems = parse_global_config(
        {"ssl-protocols": "SSLv3 TLSv1.2", "ssl-ciphers": "NOTHING-KNOWN"}, previous, source=SOURCE
    )
    assert (config.ssl_protocols, config.ssl_ciphers) == (("TLSv1.3",), "HIGH")
    assert [(p.namespace, p.name, p.field, p.code) for p in problems] == [
        ("ingress", "gateway-config", "data.ssl-ciphers", "InvalidSetting"),
        ("ingress", "gateway-config", "data.ssl-protocols", "InvalidSetting"),
    ]
    assert "'SSLv3' is not one of" in problems[1].reason
    assert "the previous value stays in force" in problems[0].reason


def test_the_request_size_limits_follow_large_client_header_buffers() -> None:
    """The proxy reads the limits as fields; they must follow the setting through every way a
    config is made: parsed, replaced, and pickled to a worker."""
    import pickle

    config, problems = parse_global_config({"large-client-header-buffers": "2 1k"}, GlobalConfig())
    assert problems == () and (config.max_head_bytes, config.max_uri_bytes) == (2048, 1024)
    assert (GlobalConfig().max_head_bytes, GlobalConfig().max_uri_bytes) == (32768, 8192)
    replaced = replace(config, large_client_header_buffers=(8, 4096))
    assert (replaced.max_head_bytes, replaced.max_uri_bytes) == (32768, 4096)
    shipped = pickle.loads(pickle.dumps(config))
    assert (shipped.max_head_bytes, shipped.max_uri_bytes) == (2048, 1024) and shipped == config
