"""Processes of the monitoring phase."""
