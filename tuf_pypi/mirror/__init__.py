"""Mirror tooling: copy a signed index verbatim (``sync``), or add its metadata to a
bandersnatch tree (``overlay``), verifying everything before any of it is served.

Built on the client library (:mod:`tuf_pypi.client`); never imports the repository
side. See ``docs/mirror.md``.
"""

from .overlay import overlay_mirror
from .sync import SyncOptions, SyncReport, default_state_dir, sync_mirror

__all__ = ["SyncOptions", "SyncReport", "default_state_dir", "overlay_mirror", "sync_mirror"]
