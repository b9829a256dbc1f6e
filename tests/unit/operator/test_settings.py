"""Operator settings come from NAKSHA_* variables; bad values name the variable at fault."""

from __future__ import annotations

import pytest

from naksha.errors import ConfigError
from naksha.models.common import parse_duration
from naksha.settings import OperatorSettings


def test_defaults_watch_every_namespace():
    settings = OperatorSettings.from_env({})
    assert settings.clusterwide
    assert (settings.metrics_port, settings.health_port, settings.kill_switch) == (9090, 8081, False)


def test_namespaces_ports_and_flags_are_read():
    settings = OperatorSettings.from_env(
        {"NAKSHA_NAMESPACES": "a, b,", "NAKSHA_METRICS_PORT": "9100", "NAKSHA_KILL_SWITCH": "true"}
    )
    assert settings.namespaces == ("a", "b")
    assert settings.metrics_port == 9100
    assert settings.kill_switch


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NAKSHA_METRICS_PORT": "http"}, "NAKSHA_METRICS_PORT='http' is not a port number"),
        ({"NAKSHA_HEALTH_PORT": "70000"}, "NAKSHA_HEALTH_PORT='70000' is not a port number"),
        ({"NAKSHA_KILL_SWITCH": "maybe"}, "NAKSHA_KILL_SWITCH='maybe' is not a boolean"),
        ({"NAKSHA_LOG_LEVEL": "loud"}, "NAKSHA_LOG_LEVEL='LOUD' is not a log level"),
    ],
)
def test_bad_values_are_refused_with_the_variable_name(env, message):
    with pytest.raises(ConfigError, match=message):
        OperatorSettings.from_env(env)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1h30m", 5400), ("250ms", 0.25), ("1.5m", 90)])
def test_durations_are_parsed_to_seconds(text, seconds):
    assert parse_duration(text) == seconds


def test_a_malformed_duration_is_refused():
    with pytest.raises(ValueError, match="invalid duration '5 minutes'"):
        parse_duration("5 minutes")


class TestTheApiSettings:
    def test_the_api_is_off_unless_a_mode_is_chosen(self):
        assert OperatorSettings.from_env({}).api_auth == ""
        assert OperatorSettings.from_env({"NAKSHA_API_AUTH": "off"}).api_auth == ""

    def test_kubernetes_mode_reads_audiences_issuers_ttl_and_tls(self):
        settings = OperatorSettings.from_env(
            {
                "NAKSHA_API_AUTH": "Kubernetes",
                "NAKSHA_API_AUDIENCES": "naksha, naksha-ci",
                "NAKSHA_API_JWT_ISSUERS_FILE": "/etc/naksha/issuers.yaml",
                "NAKSHA_API_REVIEW_TTL": "2.5",
                "NAKSHA_API_TLS_DIR": "/etc/naksha/api-tls",
                "NAKSHA_API_CLIENT_CA": "/etc/naksha/clients.pem",
            }
        )
        assert settings.api_auth == "kubernetes"
        assert settings.api_audiences == ("naksha", "naksha-ci")
        assert (settings.api_issuers_file, settings.api_review_ttl) == ("/etc/naksha/issuers.yaml", 2.5)
        assert (settings.api_tls_dir, settings.api_client_ca) == (
            "/etc/naksha/api-tls",
            "/etc/naksha/clients.pem",
        )

    def test_the_shared_secret_mode_must_be_chosen_explicitly(self):
        secret = {"NAKSHA_API_JWT_SECRET": "s" * 40}
        with pytest.raises(ConfigError, match="must be chosen explicitly"):
            OperatorSettings.from_env(secret)
        assert OperatorSettings.from_env({**secret, "NAKSHA_API_AUTH": "hs256"}).api_auth == "hs256"

    @pytest.mark.parametrize(
        ("env", "message"),
        [
            ({"NAKSHA_API_AUTH": "basic"}, "NAKSHA_API_AUTH='basic' is not one of kubernetes, hs256, off"),
            ({"NAKSHA_API_REVIEW_TTL": "-1"}, "NAKSHA_API_REVIEW_TTL='-1' is not a number of seconds"),
            ({"NAKSHA_API_REVIEW_TTL": "soon"}, "NAKSHA_API_REVIEW_TTL='soon' is not a number of seconds"),
        ],
    )
    def test_bad_api_values_name_the_variable(self, env, message):
        with pytest.raises(ConfigError, match=message):
            OperatorSettings.from_env(env)
