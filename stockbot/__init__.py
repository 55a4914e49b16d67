"""stockbot: a self-healing, multi-account trading daemon for Alpaca."""

__version__ = "0.1.0"
