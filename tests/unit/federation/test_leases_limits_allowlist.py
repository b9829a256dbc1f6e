"""Leases (Ready/Unknown/Lost and when to write), rate limits, and the allow-list's configuration rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from naksha.domain.federation import allowlist, lease
from naksha.domain.federation.ratelimit import RateLimiter
from naksha.domain.federation.refusals import Refused

POLICY = lease.LeasePolicy(offline_after=40.0, lost_after=3600.0)


class TestLeaseStates:
    def test_a_fresh_heartbeat_is_ready(self) -> None:
        assert lease.state_of(100.0, 120.0, POLICY) == lease.NodeState.READY

    def test_silence_of_offline_after_is_unknown(self) -> None:
        assert lease.state_of(100.0, 140.0, POLICY) == lease.NodeState.UNKNOWN

    def test_silence_of_lost_after_is_lost(self) -> None:
        assert lease.state_of(100.0, 3700.0, POLICY) == lease.NodeState.LOST


class TestStatusWrites:
    def test_a_transition_is_written_at_once(self) -> None:
        assert lease.write_due(
            state=lease.NodeState.UNKNOWN,
            written_state=lease.NodeState.READY,
            last_written=99.0,
            now=100.0,
            policy=POLICY,
        )

    def test_a_steady_ready_node_is_written_once_per_quarter_of_offline_after(self) -> None:
        ready = lease.NodeState.READY
        due = [
            lease.write_due(state=ready, written_state=ready, last_written=0.0, now=float(t), policy=POLICY)
            for t in range(0, 10)
        ]
        assert not any(due)
        assert lease.write_due(state=ready, written_state=ready, last_written=0.0, now=10.0, policy=POLICY)

    def test_a_steady_unknown_node_is_not_rewritten(self) -> None:
        unknown = lease.NodeState.UNKNOWN
        assert not lease.write_due(
            state=unknown, written_state=unknown, last_written=0.0, now=1000.0, policy=POLICY
        )


class TestHubRestart:
    def test_a_ready_node_gets_a_full_grace_from_the_hub_start(self) -> None:
        assert lease.seeded_heartbeat(50.0, "Ready", hub_started=100.0) == 100.0

    def test_an_unknown_node_keeps_its_stored_heartbeat(self) -> None:
        assert lease.seeded_heartbeat(50.0, "Unknown", hub_started=100.0) == 50.0


class TestRateLimits:
    def test_a_burst_passes_then_the_rate_holds(self) -> None:
        limiter = RateLimiter(rate=1.0, burst=3)
        assert [limiter.allow("n", 0.0) for _ in range(4)] == [True, True, True, False]
        assert limiter.allow("n", 1.0)
        assert not limiter.allow("n", 1.0)

    def test_keys_are_limited_separately(self) -> None:
        limiter = RateLimiter(rate=1.0, burst=1)
        assert limiter.allow("a", 0.0) and limiter.allow("b", 0.0)

    def test_the_table_of_keys_is_bounded(self) -> None:
        limiter = RateLimiter(rate=1.0, burst=1, max_keys=10)
        for index in range(100):
            limiter.allow(str(index), 0.0)
        assert len(limiter._buckets) == 10


class TestAllowListConfiguration:
    def test_a_placeholder_without_a_pattern_is_a_configuration_error(self) -> None:
        with pytest.raises(ValidationError, match="without a pattern"):
            allowlist.CommandTemplate(argv=["echo", "{name}"])

    def test_a_pattern_for_no_placeholder_is_a_configuration_error(self) -> None:
        with pytest.raises(ValidationError, match="not used"):
            allowlist.CommandTemplate(argv=["echo"], params={"name": ".*"})

    def test_a_value_fills_exactly_one_argument(self) -> None:
        template = allowlist.CommandTemplate(argv=["echo", "--to={name}"], params={"name": ".*"})
        assert template.render({"name": "a b; c"}) == ["echo", "--to=a b; c"]

    def test_http_checks_stay_inside_their_prefixes(self) -> None:
        config = allowlist.AgentConfig(
            capabilities=["http-check"], httpCheckPrefixes=["http://127.0.0.1:8080/"]
        )
        assert allowlist.plan(config, "http-check", {"url": "http://127.0.0.1:8080/health"}).url
        with pytest.raises(Refused):
            allowlist.plan(config, "http-check", {"url": "http://127.0.0.1:9090/"})

    def test_restart_service_needs_a_configured_command(self) -> None:
        config = allowlist.AgentConfig(capabilities=["restart-service"])
        with pytest.raises(Refused, match="no restart command"):
            allowlist.plan(config, "restart-service", {"service": "nginx"})
