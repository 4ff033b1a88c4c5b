"""Helpers shared by every subpackage; the standard library only."""
