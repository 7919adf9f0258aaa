"""Processes of the execution phase."""
