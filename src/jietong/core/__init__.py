"""Shared kernel: ids, clock, errors, tenancy. Imports nothing else of Jietong."""
