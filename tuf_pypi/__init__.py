"""tuf-pypi: PEP 458 (The Update Framework) for Python package indexes."""

__version__ = "0.1.0"
