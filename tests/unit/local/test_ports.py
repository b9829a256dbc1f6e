"""Ports picked for servers: below the ephemeral range, never the same twice on the machine."""

from __future__ import annotations

import socket
import subprocess
import sys

from naksha.local.ports import LOWEST_PORT, ephemeral_low, reserve_port

HOLDER = """
import sys, time
from naksha.local.ports import reserve_port
print(" ".join(str(reserve_port()) for _ in range(50)), flush=True)
sys.stdin.read()
"""


def test_a_reserved_port_is_below_the_ephemeral_range_and_free_to_bind():
    port = reserve_port()
    assert LOWEST_PORT <= port < ephemeral_low()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))


def test_one_process_never_gets_the_same_port_twice():
    ports = [reserve_port() for _ in range(100)]
    assert len(set(ports)) == 100


def test_a_port_another_process_holds_is_never_handed_out_while_it_runs():
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        theirs = {int(port) for port in holder.stdout.readline().split()}
        assert len(theirs) == 50
        ours = {reserve_port() for _ in range(500)}
        assert not theirs & ours
    finally:
        holder.communicate("")
