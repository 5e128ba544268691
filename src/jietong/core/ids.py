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
# Random bits are read from the OS a page at a time. `os.urandom` releases the GIL, and a
# thread that released it waits to get it back while another runs (up to the 5 ms switch
# interval): the intake writer, which makes several ids per message, spent 9% of its time
# there, one read per id.
_RANDOM_PAGE = 4096
_random_page = b""
_random_at = 0


def _forget_random_page() -> None:
    """A forked child must not draw the parent's bits (the same ids, in the same ms)."""
    global _random_page, _random_at
    _random_page, _random_at = b"", 0


os.register_at_fork(after_in_child=_forget_random_page)


def new_id() -> str:
    """Return a new UUIDv7 as 32 hex digits, strictly increasing within this process."""
    global _last_ms, _counter, _random_page, _random_at  # process state by nature
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
        if _random_at + 8 > len(_random_page):
            _random_page, _random_at = os.urandom(_RANDOM_PAGE), 0
        random_bytes = _random_page[_random_at : _random_at + 8]
        _random_at += 8
    rand = int.from_bytes(random_bytes, "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    return f"{value:032x}"
