"""The ``model-selection`` process: its story (``process.py``), its tasks and its report."""
