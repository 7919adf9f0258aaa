"""The ``ab-test`` process: its story (``process.py``), its tasks and its report."""
