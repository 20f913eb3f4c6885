"""The verifying proxy: unmodified pip and uv install through it, from verified data only.

:class:`ProxyServer` serves the simple repository API on loopback; :class:`ProxyApp`
is the pure request-to-:class:`Response` core behind it. Built on the client library
(:mod:`tuf_pypi.client`); never imports the repository side. See ``docs/proxy.md``.
"""

from .server import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REFRESH_INTERVAL,
    REFUSED,
    ProxyApp,
    ProxyServer,
    Response,
    describe_failure,
)

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_REFRESH_INTERVAL",
    "REFUSED",
    "ProxyApp",
    "ProxyServer",
    "Response",
    "describe_failure",
]
