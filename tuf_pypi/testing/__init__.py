"""Helpers for the demo and the tests, shared so that no test module imports another.

Each module stands for one thing users or tests have anyway: a static mirror on
loopback, python-tuf's client, a signed repository, a clock moved by hand. The demo
imports only what this package re-exports here, which needs no test dependency.
"""

from __future__ import annotations

from .ngclient import ngclient_updater
from .static_server import QuietHandler, serve_directory

__all__ = ["QuietHandler", "ngclient_updater", "serve_directory"]
