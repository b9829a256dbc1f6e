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
