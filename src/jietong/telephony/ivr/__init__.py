"""IVR: flows as data, their interpreter, prompts, and CallAudio over the media engine."""
