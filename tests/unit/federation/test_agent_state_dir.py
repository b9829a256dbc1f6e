"""The edge agent's state directory: a private key kept private, a bounded result queue, a durable ledger."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from naksha.domain.federation import tokens
from naksha.services.edge_agent.state import StateDir


def test_the_node_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    key = state.node_key()
    assert (tmp_path / "state" / "node.key").stat().st_mode & 0o777 == 0o600
    assert tokens.thumbprint(StateDir(tmp_path / "state").node_key().public_key()) == tokens.thumbprint(
        key.public_key()
    )


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.node_key()
    os.chmod(tmp_path / "node.key", 0o644)
    with pytest.raises(PermissionError, match="0600"):
        state.node_key()


def test_the_result_queue_drops_the_oldest_past_its_bound_and_counts_them(tmp_path: Path) -> None:
    state = StateDir(tmp_path, max_results=3)
    for index in range(5):
        state.queue({"jti": f"j{index}", "outcome": "Succeeded"})
    assert [path.name.split("-", 1)[1] for path in state.pending()] == ["j2.json", "j3.json", "j4.json"]
    assert state.dropped() == 2


def test_a_result_is_queued_once_per_trigger(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.queue({"jti": "a", "outcome": "Succeeded"})
    state.queue({"jti": "a", "outcome": "Interrupted"})
    assert len(state.pending()) == 1


def test_the_ledger_survives_a_new_process(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    ledger = state.ledger()
    ledger.use("trigger-1", 4_000_000_000.0, 1_800_000_000.0)
    state.save_ledger(ledger)
    assert "trigger-1" in StateDir(tmp_path).ledger()
