"""The ``drift`` process: a reference profile computed once, corrected per-feature drift tests over windows,
prediction and concept drift, a report, and an approved recommendation to retrain on an alert."""
