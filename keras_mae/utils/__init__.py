"""Helpers shared across the package (not public API)."""
