"""Mixed recordings: WAV files written by a background thread, fed once a second.

The tick loop never touches the disk: it copies each recorded bridge's mix into a
per-recording buffer and hands a second of audio at a time to this writer. A stalled
disk (dirty-page throttling, a slow fsync elsewhere) then delays files, not packets.
The header is written and flushed when the file is opened (the engine answers
``record_start`` only after that), and ``wave`` rewrites the sizes after every chunk, so
a file cut short by a crash -- even in its first second -- is a valid WAV up to the last
second written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Open:
    recording_id: str
    path: Path


@dataclass(frozen=True, slots=True)
class _Write:
    recording_id: str
    pcm: bytes


@dataclass(frozen=True, slots=True)
class _Close:
    recording_id: str


@dataclass(frozen=True, slots=True)
class RecordingOpened:
    """Reported back when the file exists with a valid header (or could not be made)."""

    recording_id: str
    path: Path
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RecordingClosed:
    """Reported back to the engine when a file is complete (or failed)."""

    recording_id: str
    path: Path
    frames: int
    error: str | None = None


class RecordingWriter:
    """Owns the open WAV files. ``submit_*`` are called from the tick loop only;
    ``completed`` returns what finished since the last call."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Open | _Write | _Close | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[RecordingOpened | RecordingClosed] = queue.SimpleQueue()
        self._raw: dict[str, BinaryIO] = {}  # the writer thread's open files
        # A byte on this pipe wakes the main loop when something completed, so replies
        # (record_start, record_stop) need not wait for the next tick.
        self.wake_fd, self._wake_w = os.pipe()
        os.set_blocking(self.wake_fd, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name="recording-writer", daemon=True)
        self._thread.start()

    def open(self, recording_id: str, path: Path) -> None:
        self._jobs.put(_Open(recording_id, path))

    def write(self, recording_id: str, pcm: bytes) -> None:
        self._jobs.put(_Write(recording_id, pcm))

    def close(self, recording_id: str) -> None:
        self._jobs.put(_Close(recording_id))

    def completed(self) -> list[RecordingOpened | RecordingClosed]:
        done: list[RecordingOpened | RecordingClosed] = []
        while True:
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                return done

    def shutdown(self, timeout: float = 5.0) -> None:
        """Close every file still open and stop the thread."""
        self._jobs.put(None)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            os.close(self._wake_w)
            os.close(self.wake_fd)

    def drain_wakeups(self) -> None:
        with contextlib.suppress(OSError):  # empty: EAGAIN
            while os.read(self.wake_fd, 4096):
                pass

    def _report(self, done: RecordingOpened | RecordingClosed) -> None:
        self._done.put(done)
        # Full (nobody drains it when the engine runs in-process) or closed: no matter.
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")

    def _run(self) -> None:
        files: dict[str, tuple[wave.Wave_write, Path]] = {}
        failed: dict[str, tuple[Path, str]] = {}
        while True:
            job = self._jobs.get()
            if job is None:
                for recording_id in list(files):
                    self._finish(files, recording_id)
                return
            try:
                self._apply(job, files, failed)
            except (OSError, wave.Error) as exc:
                log.warning("recording %s failed: %s", job.recording_id, exc)
                entry = files.pop(job.recording_id, None)
                raw = self._raw.pop(job.recording_id, None)
                if raw is not None:
                    raw.close()
                if entry is not None:
                    failed[job.recording_id] = (entry[1], str(exc))
                elif isinstance(job, _Open):
                    failed[job.recording_id] = (job.path, str(exc))
                    self._report(RecordingOpened(job.recording_id, job.path, str(exc)))

    def _apply(
        self,
        job: _Open | _Write | _Close,
        files: dict[str, tuple[wave.Wave_write, Path]],
        failed: dict[str, tuple[Path, str]],
    ) -> None:
        if isinstance(job, _Open):
            job.path.parent.mkdir(parents=True, exist_ok=True)
            # Open the file first: wave.open(path) fails half-built on a bad path.
            raw = self._raw[job.recording_id] = job.path.open("wb")
            wav = wave.open(raw, "wb")  # noqa: SIM115 - closed in _finish
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(8000)
            files[job.recording_id] = (wav, job.path)
            # The header now, not with the first second of audio: a process killed before
            # then would leave a 0-byte file no player opens. flush() puts it in the
            # kernel's hands, which is what survives a kill -9.
            wav.writeframes(b"")
            raw.flush()
            self._report(RecordingOpened(job.recording_id, job.path))
        elif isinstance(job, _Write):
            if job.recording_id in files:
                files[job.recording_id][0].writeframes(job.pcm)
        elif job.recording_id in failed:
            path, error = failed.pop(job.recording_id)
            self._report(RecordingClosed(job.recording_id, path, 0, error))
        else:
            self._finish(files, job.recording_id)

    def _finish(self, files: dict[str, tuple[wave.Wave_write, Path]], recording_id: str) -> None:
        entry = files.pop(recording_id, None)
        if entry is None:
            return
        wav, path = entry
        frames = wav.getnframes()
        wav.close()  # writes the final sizes; the file object is ours to close
        self._raw.pop(recording_id).close()
        self._report(RecordingClosed(recording_id, path, frames))
