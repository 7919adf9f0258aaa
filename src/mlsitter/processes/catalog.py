"""Built-in processes by name -> "module:function". Importing this module imports no process."""

from __future__ import annotations

BUILTIN: dict[str, str] = {
    "data-validation": "mlsitter.processes.execution.data_validation:data_validation",
    "eda": "mlsitter.processes.planning.eda:eda",
    "training": "mlsitter.processes.execution.training:training",
    "automl": "mlsitter.processes.execution.automl:automl",
    "evaluation": "mlsitter.processes.validation.evaluation:evaluation",
    "explain": "mlsitter.processes.validation.explain:explain",
    "ab-test": "mlsitter.processes.validation.ab_test:ab_test",
    "scoping": "mlsitter.processes.planning.scoping:scoping",
    "features": "mlsitter.processes.planning.features:features",
    "model-selection": "mlsitter.processes.planning.model_selection:model_selection",
    "experiment-plan": "mlsitter.processes.planning.experiment_plan:experiment_plan",
}
