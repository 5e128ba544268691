"""Tables of voice (issue 6): calls, legs and their events, call detail records, IVR
flows, prompts and recordings."""

from __future__ import annotations
