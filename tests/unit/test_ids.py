"""Ids: UUIDv7 layout, strictly increasing, unique across threads and forks."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from jietong.core.ids import new_id

RANDOM_BITS = (1 << 62) - 1


def test_ids_are_uuid7_and_strictly_increasing() -> None:
    ids = [new_id() for _ in range(20_000)]  # spans several pages of random bits
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for value in ids[::997]:
        parsed = uuid.UUID(hex=value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def test_ids_from_many_threads_never_repeat() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def make(into: list[str]) -> None:
        into.extend(new_id() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(into,)) for into in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [value for part in found for value in part]
    assert len(set(every)) == len(every)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_does_not_reuse_the_parents_random_bits() -> None:
    new_id()  # the parent holds a page of random bits the child would inherit
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave at once
        os.close(read_end)
        os.write(write_end, new_id().encode())
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    parent = new_id()
    assert int(child, 16) & RANDOM_BITS != int(parent, 16) & RANDOM_BITS
