"""Jietong (接通): an open-source omnichannel contact center."""

__version__ = "0.1.0"
