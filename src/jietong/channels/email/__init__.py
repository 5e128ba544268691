"""The email channel: SMTP receiver, IMAP poller, MIME parsing, SMTP sending.

Pure parts (parse, charsets, headers, quotes, sanitize, compose, tokens) take bytes or
values and return frozen dataclasses; protocol parts (smtp_in, imap_in, smtp_out) speak
to the network through small ports; nothing here touches the database except the
service module, which the composition root wires to intake.
"""
