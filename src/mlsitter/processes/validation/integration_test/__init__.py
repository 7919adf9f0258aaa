"""The ``integration-test`` process: the ML system tested end to end, and the ML Test Score from evidence."""
