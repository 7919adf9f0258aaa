from ray_fixtures import ray_cluster  # noqa: F401
