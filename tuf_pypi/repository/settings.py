"""Repository settings kept beside the keys (never in the served tree).

Only what the metadata itself cannot say lives here: how long each role's
signatures should last. Everything else (bins, keys, thresholds) is read from the
signed metadata, so it cannot disagree with what clients see.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import SettingError
from .metadata import DEFAULT_EXPIRY, Expiry

__all__ = ["SETTINGS_FILE", "load_expiry", "save_expiry"]

SETTINGS_FILE = "tuf-pypi.json"


def load_expiry(keys_dir: Path) -> Expiry:
    """Expiry periods from the settings file, or DESIGN §4's defaults."""
    path = keys_dir / SETTINGS_FILE
    if not path.exists():
        return DEFAULT_EXPIRY
    try:
        return Expiry.from_dict(json.loads(path.read_bytes()).get("expiry_seconds", {}))
    except (ValueError, TypeError, AttributeError) as e:
        raise SettingError(f"{path}: malformed settings ({e})") from None


def save_expiry(keys_dir: Path, expiry: Expiry) -> None:
    path = keys_dir / SETTINGS_FILE
    path.write_text(json.dumps({"expiry_seconds": expiry.to_dict()}, indent=2) + "\n")
