"""The ``observability`` process: scrape a model server's /metrics into a time-series table, SLOs with
multi-window burn-rate alerts, anomaly detection, and an incident lifecycle with runbooks and an approved
rollback; on simulated time for tests and replays, on the wall clock against live servers."""
