"""The verifying proxy: unmodified pip and uv install through it, from verified data only.

:class:`ProxyServer` serves the simple repository API on loopback; :class:`ProxyApp`
is the pure request-to-:class:`Response` core behind it (:mod:`.app`; the
sockets are in :mod:`.server`). Built on the client library
(:mod:`tuf_pypi.client`); never imports the repository side. See ``docs/proxy.md``.
"""

from .app import REFUSED, ProxyApp, Response, describe_failure
from .server import DEFAULT_MAX_CONNECTIONS, DEFAULT_REFRESH_INTERVAL, ProxyServer

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_REFRESH_INTERVAL",
    "REFUSED",
    "ProxyApp",
    "ProxyServer",
    "Response",
    "describe_failure",
]
