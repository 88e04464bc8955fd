"""The package version, in a module of its own so that artifacts.py and the CLI can read it
without importing the package's lazy ``__init__`` (pyproject.toml reads it from here too)."""

__version__ = "0.1.0"
