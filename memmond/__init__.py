"""memmond: Linux memory monitoring daemon and CLI."""

__version__ = "0.1.0"
