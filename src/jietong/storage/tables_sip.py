"""Tables of SIP signaling (issue 6): agent phone credentials, registrar bindings and
trunks."""

from __future__ import annotations
