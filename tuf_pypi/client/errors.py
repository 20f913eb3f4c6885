"""The client's errors: which check refused the data, and which attack that check stops.

Every error the client raises on purpose is a :class:`ClientError`. Each class has a
short ``kind`` label; ``attack`` is True when the kind names an attack class of the TUF
threat model (tampering, rollback, freeze, mix-and-match, endless data, slow retrieval,
forged signatures), so an installer can tell "the network is down" from "someone is
feeding us bad data" without parsing messages.

Failures caused by one mirror are :class:`MirrorError` subclasses: the client moves on
to the next mirror. When every mirror failed, the client raises one
:class:`AllMirrorsFailedError` whose ``failures`` say what each mirror did wrong.
Answers that come from verified data (a project that is not listed, a file the verified
page gives no hash for) are the same on every mirror, so they are raised directly.

:func:`from_tuf` maps python-tuf's exceptions to these classes; nothing else in the
client needs to know python-tuf's exception types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from tuf.api import exceptions as tuf_errors
from tuf.api.serialization import DeserializationError

from ..errors import TufPypiError

__all__ = [
    "AllMirrorsFailedError",
    "BadSignatureError",
    "ClientError",
    "FrozenError",
    "InvalidPageError",
    "MirrorError",
    "MirrorFailure",
    "MixAndMatchError",
    "NoHashError",
    "NotListedError",
    "Phase",
    "RollbackError",
    "SetupError",
    "TamperedError",
    "TooLargeError",
    "TooSlowError",
    "UnavailableError",
    "VerificationError",
    "from_tuf",
]


class ClientError(TufPypiError):
    """Base of every error the client raises on purpose.

    ``str()`` is one line: the message, then ``[kind]`` when the kind is an attack
    class, so logs and the CLI show what was refused and why.
    """

    kind: ClassVar[str] = "error"
    attack: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.kind}]" if self.attack else self.message


class SetupError(ClientError, ValueError):
    """The client's own configuration is unusable: pinned root, mirror URL, cache dir."""

    kind = "setup"


class NotListedError(ClientError):
    """The verified metadata lists no such project page (or no such file on the page).

    This is an answer, not a failure: every mirror would give the same signed answer.
    """

    kind = "not listed"


class NoHashError(ClientError):
    """The verified page gives no sha256 for a file, so the file cannot be verified.

    An md5 alone does not count: md5 collisions are cheap to make.
    """

    kind = "no hash"


class InvalidPageError(ClientError):
    """A page that verified through TUF but that the strict page parser refuses.

    The index signed it, so another mirror would serve the same bytes.
    """

    kind = "invalid page"


class MirrorError(ClientError):
    """One mirror (or one URL) failed; the client tries the next one."""

    kind = "mirror failed"


class UnavailableError(MirrorError):
    """Connection refused, DNS, TLS or an HTTP error status: no data to judge.

    ``http_status`` is the status of an HTTP error answer (None for the others): a 404
    means the mirror lacks one file, a 5xx that it is down (see :mod:`.health`).
    """

    kind = "unavailable"

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class TooLargeError(MirrorError):
    """More bytes than the signed length or the configured maximum (endless data)."""

    kind = "too large"
    attack = True


class TooSlowError(MirrorError):
    """A timeout, or a transfer below the minimum average rate (slow retrieval)."""

    kind = "too slow"
    attack = True


class VerificationError(MirrorError):
    """Data that fails TUF verification; the subclasses name the check that failed.

    Used as is for metadata that is inconsistent in a way no subclass names (for
    example a snapshot that drops a role the trusted snapshot lists).
    """

    kind = "invalid metadata"
    attack = True


class TamperedError(VerificationError):
    """Bytes that do not match their signed length or hash, or unreadable metadata."""

    kind = "tampered"


class BadSignatureError(VerificationError):
    """Metadata without a threshold of valid signatures from the keys its delegator lists."""

    kind = "bad signature"


class RollbackError(VerificationError):
    """Metadata older than what the client already trusted (rollback attack)."""

    kind = "rolled back"


class FrozenError(VerificationError):
    """Validly signed metadata that has expired (freeze attack, or a stale mirror)."""

    kind = "expired/frozen"


class MixAndMatchError(VerificationError):
    """Metadata that is not the version the trusted snapshot names (mix-and-match).

    With consistent snapshots, this is also how an old bin served in place of the
    current one shows up: its version is not the one the snapshot lists.
    """

    kind = "mix-and-match"


@dataclass(frozen=True)
class MirrorFailure:
    """What one mirror (``source``: its base URL, or a file URL) did wrong."""

    source: str
    error: MirrorError

    def __str__(self) -> str:
        text = str(self.error)
        # Download errors already start with the URL they are about.
        return text if text.startswith(self.source) else f"{self.source}: {text}"


class AllMirrorsFailedError(ClientError):
    """Every mirror failed. ``failures`` lists each one and why, in the order tried."""

    kind = "all mirrors failed"

    def __init__(self, what: str, failures: Sequence[MirrorFailure]) -> None:
        self.what = what
        self.failures = tuple(failures)
        detail = "; ".join(str(failure) for failure in self.failures) or "no mirror to try"
        super().__init__(f"{what}: every mirror failed: {detail}")
        # Exception.args drives pickling: keep the constructor's arguments there.
        self.args = (what, self.failures)

    def __str__(self) -> str:
        return self.message

    @property
    def errors(self) -> tuple[MirrorError, ...]:
        return tuple(failure.error for failure in self.failures)


#: Where in the TUF workflow an exception was raised; decides what a version error means.
Phase = Literal["refresh", "lookup", "download"]


def from_tuf(exc: Exception, phase: Phase, what: str) -> MirrorError:
    """The client error for a python-tuf exception raised while doing ``what``.

    A version error means two different things. During ``refresh`` (root, timestamp,
    snapshot) ngclient compares new metadata with what the client trusted before: a
    lower version is a rollback. During ``lookup`` (targets, bins, bin-n) it compares a
    role's version with the one the trusted snapshot names: a different version is
    metadata from another snapshot, mixed in.
    """
    message = ": ".join(part for part in (what, str(exc)) if part) or type(exc).__name__
    if isinstance(exc, tuf_errors.DownloadLengthMismatchError):
        return TooLargeError(message)
    if isinstance(exc, tuf_errors.SlowRetrievalError):
        return TooSlowError(message)
    if isinstance(exc, tuf_errors.DownloadHTTPError):
        return UnavailableError(message, exc.status_code)
    if isinstance(exc, tuf_errors.DownloadError):
        return UnavailableError(message)
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return MixAndMatchError(message) if phase == "lookup" else RollbackError(message)
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        return FrozenError(message)
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        return BadSignatureError(message)
    if isinstance(exc, tuf_errors.LengthOrHashMismatchError):
        return TamperedError(message)
    if isinstance(exc, DeserializationError):
        # Not JSON, the wrong role type, bad fields: not the bytes that were signed.
        return TamperedError(f"{what}: malformed metadata: {exc}")
    if isinstance(exc, tuf_errors.RepositoryError):
        return VerificationError(message)
    raise TypeError(f"not a python-tuf error: {type(exc).__name__}") from exc
