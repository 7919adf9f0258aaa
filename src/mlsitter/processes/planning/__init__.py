"""Processes of the planning phase."""
