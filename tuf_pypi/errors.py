"""The roots of every error tuf-pypi raises on purpose: one base per side.

- :class:`RepoError`: the repository side (publishing, keys and ceremonies, the upload
  queue, object storage, the repository's configuration). Not python-tuf's
  ``RepositoryError``, which means "a remote repository sent bad metadata".
- ``ClientError`` (in :mod:`tuf_pypi.client.errors`, built on :class:`TufPypiError`):
  the client side (client library, verifying proxy, mirror sync).
- :class:`InputError`: a rule of the shared contract broken by some input (a project
  name, a path, a simple page), raised by whichever side read it.

Each message names the input (file, role, project, URL) and the rule it breaks, so
it can be shown as one line. The CLI shows exactly :class:`TufPypiError` that way;
any other exception is a bug in tuf-pypi and keeps its traceback, so it can be
reported. The three live here, not in their packages, because the modules at the
top of the tree (``layout``, ``keys``, ``config``, ``objectstore``) sit below both.
"""

from __future__ import annotations

__all__ = ["InputError", "RepoError", "SettingError", "TufPypiError"]


class TufPypiError(Exception):
    """Base of every error tuf-pypi raises on purpose; ``str()`` is the whole story."""


class InputError(TufPypiError, ValueError):
    """Input that breaks a rule of the repository layout or the simple API.

    Also a ``ValueError``: callers that validate values with ``except ValueError``
    (the convention of ``packaging`` and the standard library) keep working.
    """


class RepoError(TufPypiError):
    """Base of the repository side's errors; the message names the file or role."""


class SettingError(RepoError, ValueError):
    """A repository setting (an option, an argument, a settings file) that cannot work.

    The message names the setting, the value and what would be accepted.
    """
