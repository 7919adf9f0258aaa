"""Processes of the lifecycle phase: those that compose the others."""
