"""The version of the core distribution, in one place."""

__version__ = "0.1.0"
