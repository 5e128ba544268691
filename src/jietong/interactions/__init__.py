"""Interactions: what happened? One contact episode on one channel, its messages,
participants, attachments and lifecycle."""
