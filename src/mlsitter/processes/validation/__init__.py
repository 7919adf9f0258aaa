"""Processes of the validation phase."""
