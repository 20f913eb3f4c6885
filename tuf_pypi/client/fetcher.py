"""HTTP downloads that an untrusted mirror cannot stretch: python-tuf's fetcher, bounded.

python-tuf's ngclient asks a ``FetcherInterface`` for bytes and checks sizes and
hashes itself. :class:`BoundedFetcher` is that interface over :mod:`.transport` (a
small HTTP/1.1 client: keep-alive pools, TLS, proxies from the environment), with
what a client facing hostile mirrors needs on top of the stock ``Urllib3Fetcher``:

* separate connect and read timeouts, and a minimum *average* rate after a grace
  period. A read timeout alone does not stop a server that sends one byte every few
  seconds forever (slow retrieval); the average rate does, and bounds a download's
  total time by its size.
* ``Accept-Encoding: gzip`` for metadata and pages (they compress ~5x), decompressed
  here in bounded steps. ngclient counts the *decompressed* bytes this yields against
  its signed lengths and maxima, so a small gzip bomb stops after at most one chunk
  more than allowed instead of filling memory.
* distribution files are fetched and hashed as served, never decoded (as pip does):
  a ``.tar.gz`` served with ``Content-Encoding: gzip`` is the file, not its content.

* redirects only within the origin (scheme, host and port) of the URL asked for, at
  most :data:`MAX_REDIRECTS` of them. A mirror is untrusted: following it to any host
  would let it aim the client at loopback or internal services (blind SSRF), or at a
  verifying proxy's own ``/files/`` URLs (a loop). Within one origin a redirect reaches
  nothing the mirror could not have served itself. A cross-origin redirect fails like
  an unreachable mirror, so the next URL is tried (for PyPI's ``/packages/`` that is
  files.pythonhosted.org itself: see :func:`.mirrors.file_urls`).
* an optional ``Via`` header (RFC 9110 §7.6.3) naming the proxy that sends the
  request, so a proxy can recognise its own requests and refuse to serve itself.

Errors are python-tuf's download exceptions (``SlowRetrievalError``,
``DownloadHTTPError``, ``DownloadError``), as the interface requires; ngclient relies
on ``DownloadHTTPError.status_code`` (a 404 for the next root version ends the root
rotation). :func:`tuf_pypi.client.errors.from_tuf` turns them into client errors.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Generator, Iterator
from urllib.parse import SplitResult, urljoin, urlsplit

from tuf.api.exceptions import (
    DownloadError,
    DownloadHTTPError,
    DownloadLengthMismatchError,
    SlowRetrievalError,
)
from tuf.ngclient import FetcherInterface

from .. import __version__
from .limits import Limits
from .transport import Response, Transport

__all__ = ["MAX_REDIRECTS", "BoundedFetcher", "same_origin"]

#: Redirects followed for one download, each within the origin of the URL asked for.
MAX_REDIRECTS = 5

#: Idle connections kept per origin: one per thread of a proxy or a parallel sync.
_POOL_SIZE = 32
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BoundedFetcher(FetcherInterface):
    """HTTP fetcher with timeouts, a minimum rate, and bounded gzip decoding.

    Thread-safe: the transport's pool is, and the fetcher keeps no per-request state.
    Proxies come from the usual ``*_proxy`` / ``no_proxy`` environment variables.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        user_agent: str | None = None,
        *,
        via: str | None = None,
    ) -> None:
        self.limits = limits or Limits()
        agent = f"tuf-pypi/{__version__}"
        self._user_agent = f"{user_agent} {agent}" if user_agent else agent
        self._via = via
        self._transport = Transport(
            self.limits.connect_timeout, self.limits.read_timeout, max_idle=_POOL_SIZE
        )

    # -- FetcherInterface ----------------------------------------------------------

    def _fetch(self, url: str) -> Iterator[bytes]:
        """Metadata and pages, for ngclient: gzip accepted and decoded here."""
        return self.stream(url, decode_gzip=True)

    def download_bytes(self, url: str, max_length: int) -> bytes:
        """The body of ``url``, at most ``max_length`` bytes, gathered in memory.

        The base class spools every download through a temporary file; metadata and
        pages are small (their limits are in :class:`Limits`), so this keeps them in
        memory and saves that file's system calls. Same contract: more than
        ``max_length`` bytes is a ``DownloadLengthMismatchError``, raised as soon as
        the body passes it.
        """
        chunks: list[bytes] = []
        received = 0
        for chunk in self.fetch(url):
            received += len(chunk)
            if received > max_length:
                raise DownloadLengthMismatchError(
                    f"Downloaded {received} bytes exceeding the maximum allowed length "
                    f"of {max_length}"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    # -- public --------------------------------------------------------------------

    def stream(self, url: str, *, decode_gzip: bool = False) -> Generator[bytes, None, None]:
        """Send the request now; return an iterator over the body.

        The request is made before this returns, so connection and HTTP errors are
        raised here and ``FetcherInterface.fetch`` can tell them from body errors.
        With ``decode_gzip``, a gzip-encoded body is decompressed (other encodings are
        refused); without it, the body is yielded exactly as served. Callers bound the
        total size; this bounds each chunk and the rate.
        """
        start = time.monotonic()
        response = self._request(url, "gzip" if decode_gzip else "identity")
        encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
        gunzip: _Gunzip | None = None
        if decode_gzip and encoding in ("gzip", "x-gzip"):
            gunzip = _Gunzip(self.limits.chunk_size)
        elif decode_gzip and encoding != "identity":
            response.close()
            raise DownloadError(f"{url}: unsupported Content-Encoding {encoding!r}")
        return self._body(response, url, gunzip, start)

    def close(self) -> None:
        """Close pooled connections; the fetcher stays usable."""
        self._transport.close()

    # -- internals -----------------------------------------------------------------

    def _request(self, url: str, accept_encoding: str) -> Response:
        """GET ``url``, following redirects that stay within its origin; a 200 or an error."""
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": accept_encoding}
        if self._via is not None:
            headers["Via"] = self._via
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            response = self._transport.get(current, headers)
            if response.status not in _REDIRECT_STATUSES:
                break
            location = response.headers.get("Location")
            response.close()
            current = _redirect_target(url, current, location)
        else:
            raise DownloadError(f"{url}: more than {MAX_REDIRECTS} redirects")
        if response.status != 200:
            response.close()
            raise DownloadHTTPError(f"{url}: HTTP status {response.status}", response.status)
        return response

    def _body(
        self,
        response: Response,
        url: str,
        gunzip: _Gunzip | None,
        start: float,
    ) -> Generator[bytes, None, None]:
        """Yield the body in chunks of at most ``chunk_size``, checking the rate.

        ``read1`` returns as soon as *some* bytes arrived, so the rate is checked on
        every arrival rather than once per full chunk (which a trickle never fills).
        The clock starts before the request, so waiting for headers counts too.
        """
        limits = self.limits
        received = 0
        complete = False
        try:
            while True:
                data = response.read1(limits.chunk_size)
                if not data:
                    break
                received += len(data)
                elapsed = time.monotonic() - start
                too_slow = received < limits.min_bytes_per_second * elapsed
                if too_slow and elapsed > limits.grace_seconds:
                    raise SlowRetrievalError(
                        f"{url}: {received} bytes in {elapsed:.1f}s is below the minimum "
                        f"rate of {limits.min_bytes_per_second:g} bytes/s"
                    )
                if gunzip is None:
                    yield data
                else:
                    yield from gunzip.feed(data, url)
            if gunzip is not None:
                gunzip.finish(url)
            complete = True
        finally:
            # A body read to the end leaves a reusable connection; anything else
            # (an error, or a caller that stopped at its size limit) must not go
            # back to the pool with unread bytes on it.
            if complete:
                response.release()
            else:
                response.close()


def same_origin(a: str, b: str) -> bool:
    """True when URLs ``a`` and ``b`` have the same scheme, host and port (RFC 6454)."""
    return _origin(urlsplit(a)) == _origin(urlsplit(b))


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def _redirect_target(url: str, current: str, location: str | None) -> str:
    """Where a redirect from ``current`` leads; refused unless within ``url``'s origin."""
    if not location:
        raise DownloadError(f"{url}: a redirect without a Location")
    try:
        target = urljoin(current, location.strip())
        same = same_origin(url, target)
    except ValueError:  # a port that is not a number, a malformed IPv6 host
        same = False
        target = location
    if not same:
        raise DownloadError(
            f"{url}: redirect to {target!r} refused: a mirror may only redirect within "
            "its own scheme, host and port"
        )
    return target


class _Gunzip:
    """Incremental gzip decoding that never produces more than ``chunk`` bytes at once."""

    def __init__(self, chunk: int) -> None:
        self._chunk = chunk
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, url: str) -> Iterator[bytes]:
        if self._zlib.eof:
            raise DownloadError(f"{url}: data after the end of the gzip stream")
        while True:
            try:
                out = self._zlib.decompress(data, self._chunk)
            except zlib.error as exc:
                raise DownloadError(f"{url}: invalid gzip data: {exc}") from None
            if out:
                yield out
            data = self._zlib.unconsumed_tail
            if self._zlib.eof:
                if self._zlib.unused_data or data:
                    raise DownloadError(f"{url}: data after the end of the gzip stream")
                return
            # A full chunk may leave output pending even with no input left.
            if not data and len(out) < self._chunk:
                return

    def finish(self, url: str) -> None:
        if not self._zlib.eof:
            raise DownloadError(f"{url}: truncated gzip data")
