"""Typed domain events, the bus port and the transactional outbox: the contract between domains."""
