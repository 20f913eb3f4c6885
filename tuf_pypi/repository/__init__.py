"""Repository side: build, publish and audit PEP 458 metadata over a simple index.

Never imports the client side (DESIGN §7).
"""

from .bootstrap import InitReport, init_repository
from .metadata import DEFAULT_EXPIRY, Expiry
from .publisher import Publisher, PublishReport, RefreshReport
from .status import StatusReport, repository_status
from .storage import LockBusyError, RepositoryStorage, StorageError
from .verify import VerifyReport, verify_repository
from .view import RepositoryView, load_view

__all__ = [
    "DEFAULT_EXPIRY",
    "Expiry",
    "InitReport",
    "LockBusyError",
    "PublishReport",
    "Publisher",
    "RefreshReport",
    "RepositoryStorage",
    "RepositoryView",
    "StatusReport",
    "StorageError",
    "VerifyReport",
    "init_repository",
    "load_view",
    "repository_status",
    "verify_repository",
]
