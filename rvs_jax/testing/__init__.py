"""Helpers for the tests only: no library module imports this package."""
