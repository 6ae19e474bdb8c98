"""Shared test helpers (imported by tests and conftest, never from a test file)."""
