"""The ``retraining`` process: triggers, a child ``training`` run, champion against challenger, a child ``deploy``."""
