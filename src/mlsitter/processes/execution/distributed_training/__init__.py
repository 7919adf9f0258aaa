"""The ``distributed-training`` process: a tabular network trained data-parallel on Ray Train with a resource
plan and spend approval, a journaled checkpoint per epoch, recovery from failed workers and runners, a
convergence gate, MLflow tracking, registration and a measured scaling efficiency."""
