"""The ``feature-store`` process: its story (``process.py``), its tasks and its report."""
