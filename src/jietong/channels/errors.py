"""Errors shared by channel adapters' pure parsing code."""

from __future__ import annotations


class BadSignature(Exception):
    """A webhook is not signed by whom it claims, or its signature is too old (HTTP 403)."""
