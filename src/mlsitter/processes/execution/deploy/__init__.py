"""The ``deploy`` process: validate a registered model, serve it beside the champion, shadow, staged
canary with analysis against the champion, automatic rollback, approval and promotion."""
