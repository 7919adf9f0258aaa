"""The processes of the catalogue (DESIGN.md §3), grouped by phase."""
