"""Bounds on everything the client fetches: sizes, timeouts, and a minimum transfer rate.

A mirror is untrusted, so it may answer with endless data (an "endless data" attack),
or trickle bytes just fast enough to keep a connection open forever (a "slow
retrieval" attack). Every download the client makes is therefore bounded three ways:

* a size: metadata by the length its signer gave or by the maxima below, a page by the
  length of its signed target, a distribution file by the size its verified page gives
  (or :attr:`Limits.file_max_bytes` when the page gives none), a PEP 658 ``.metadata``
  file by :attr:`Limits.metadata_max_bytes` (pages give its hash, never its size);
* timeouts on connecting and between two reads;
* a minimum average transfer rate, checked after a grace period, so the total time of a
  download is bounded by its size divided by that rate.

Nothing here does I/O; the fetcher and the updater read these values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from tuf.ngclient import UpdaterConfig

from .errors import SetupError

__all__ = ["Limits"]

_KIB = 1024
_MIB = 1024 * _KIB
_GIB = 1024 * _MIB


@dataclass(frozen=True)
class Limits:
    """Size, time and rate limits of one client.

    The metadata maxima apply where the signed metadata gives no length: always for
    timestamp and root (their length is not signed anywhere), and for targets, ``bins``
    and every bin, because this repository layout's snapshot lists versions only
    (DESIGN.md §4). The defaults leave room for PyPI's size (65,536 bins in a snapshot,
    a few hundred targets in a bin) while keeping a hostile answer small.
    """

    #: Seconds to wait for a TCP (and TLS) connection.
    connect_timeout: float = 10.0
    #: Seconds to wait for the response headers, and between two reads of the body.
    read_timeout: float = 30.0
    #: Average bytes per second a download must reach once the grace period is over.
    min_bytes_per_second: float = 4 * _KIB
    #: Seconds a download may run before its average rate is checked (slow starts,
    #: TLS handshakes and small files never trip the rate check).
    grace_seconds: float = 10.0
    #: Bytes read from the network, and decompressed, per step.
    chunk_size: int = 64 * _KIB

    root_max_bytes: int = 512 * _KIB
    timestamp_max_bytes: int = 16 * _KIB
    snapshot_max_bytes: int = 8 * _MIB
    targets_max_bytes: int = 8 * _MIB
    #: Root versions a client follows in one refresh.
    max_root_rotations: int = 256
    #: Distribution files whose page gives no size (PEP 503 HTML pages) stop here.
    #: The largest files on PyPI are a few GiB.
    file_max_bytes: int = 8 * _GIB
    #: PEP 658 ``.metadata`` files (a wheel's ``METADATA``) stop here: pages give
    #: their sha256 but no size, and without this bound only ``file_max_bytes`` would
    #: stop a hostile mirror from filling the cache. Typical ones are a few KiB;
    #: the bound leaves room for long inlined descriptions.
    metadata_max_bytes: int = 4 * _MIB

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise SetupError(f"limit {spec.name} must be a positive number, not {value!r}")

    def updater_config(self) -> UpdaterConfig:
        """The python-tuf ``UpdaterConfig`` carrying these metadata limits.

        ``prefix_targets_with_hash`` stays on: page copies are published as
        ``simple/<project>/<sha256>.index.*`` (consistent snapshots).
        """
        return UpdaterConfig(
            max_root_rotations=self.max_root_rotations,
            root_max_length=self.root_max_bytes,
            timestamp_max_length=self.timestamp_max_bytes,
            snapshot_max_length=self.snapshot_max_bytes,
            targets_max_length=self.targets_max_bytes,
            prefix_targets_with_hash=True,
        )
