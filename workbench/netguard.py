"""Network guard for child processes: tests block sockets in jobs as pytest-socket does.

When ``WORKBENCH_BLOCK_NETWORK=1`` (set by the test suite), a job process refuses every
non-Unix socket connection, so a hub download or a public-suffix-list fetch inside a training
or generation job fails the test instead of passing silently.
"""

from __future__ import annotations

import os
import socket


class NetworkBlocked(RuntimeError):
    """A network connection was attempted while the network guard is on."""


def block_network() -> None:
    """Make every INET/INET6 connect raise NetworkBlocked in this process."""
    original = socket.socket.connect

    def guarded(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise NetworkBlocked(f"network access attempted: {address!r}")
        return original(sock, address)

    socket.socket.connect = guarded
    socket.socket.connect_ex = guarded


def maybe_block_network() -> None:
    """Block the network when ``WORKBENCH_BLOCK_NETWORK`` is set to 1."""
    if os.environ.get("WORKBENCH_BLOCK_NETWORK") == "1":
        block_network()
