"""Voice: call control, SIP signaling and the media engine (which runs as its own process)."""
