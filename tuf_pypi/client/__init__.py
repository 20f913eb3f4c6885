"""Client side: verify pages and files of a PEP 458 index through untrusted mirrors.

Start from :class:`Client`; see ``docs/client.md``. Never imports the repository side
(DESIGN.md §7).
"""

from .client import Client, VerifiedPage
from .errors import (
    AllMirrorsFailedError,
    BadSignatureError,
    ClientError,
    FrozenError,
    InvalidPageError,
    MirrorError,
    MirrorFailure,
    MixAndMatchError,
    NoHashError,
    NotListedError,
    RollbackError,
    SetupError,
    TamperedError,
    TooLargeError,
    TooSlowError,
    UnavailableError,
    VerificationError,
)
from .limits import Limits

__all__ = [
    "AllMirrorsFailedError",
    "BadSignatureError",
    "Client",
    "ClientError",
    "FrozenError",
    "InvalidPageError",
    "Limits",
    "MirrorError",
    "MirrorFailure",
    "MixAndMatchError",
    "NoHashError",
    "NotListedError",
    "RollbackError",
    "SetupError",
    "TamperedError",
    "TooLargeError",
    "TooSlowError",
    "UnavailableError",
    "VerificationError",
    "VerifiedPage",
]
