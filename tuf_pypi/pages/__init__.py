"""Parse project detail pages of a Python package index (being split into modules)."""

from .checks import *  # noqa: F403
from .checks import __all__, check_page  # noqa: F401
