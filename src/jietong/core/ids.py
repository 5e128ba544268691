"""Time-ordered identifiers.

Ids are UUIDv7 (RFC 9562) rendered as 32 lowercase hex digits: they sort by creation
time, so a primary-key index doubles as a creation-order index and cursor pagination
over ids is stable without a second column.
"""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> str:
    """Return a new UUIDv7 as 32 hex digits, strictly increasing within this process."""
    global _last_ms, _counter  # a monotonic sequence is process state by nature
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter >= 1 << 12:  # 12-bit sequence exhausted: borrow the next millisecond
                ms += 1
                _counter = 0
        else:
            _counter = 0
        _last_ms = ms
        seq = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    return f"{value:032x}"
