"""A tabular multi-layer perceptron in torch: the encoded arrays it trains on, one epoch of training or
evaluation on a shard, and the scikit-learn estimator that serves the trained weights (MLflow, registry)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from mlsitter.errors import InputError
from mlsitter.naming import stable_name


@stable_name("ml.distributed.MlpSpec")
@dataclass(frozen=True)
class MlpSpec:
    """The network's shape and its optimiser settings."""

    n_features: int
    n_classes: int
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    learning_rate: float = 1e-3
    weight_decay: float = 0.0


@stable_name("ml.distributed.TabularArrays")
@dataclass
class TabularArrays:
    """Train / validation / test arrays encoded for the network, and the fitted encoder that made them."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list[Any]
    columns: list[str]
    encoder: Any
    prior_log_loss: float  # the validation log-loss of predicting the training class shares: the bar to beat
    notes: list[str] = field(default_factory=list)


def _encoder(X: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in X.columns if X[c].dtype.kind in "biuf"]
    other = [c for c in X.columns if c not in numeric]
    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore", sparse_output=False, min_frequency=5)),
         other),
    ], sparse_threshold=0.0)


def encode_tables(X_train: Any, y_train: Any, X_test: Any, y_test: Any, classes: list[Any], *,
                  val_fraction: float, seed: int) -> TabularArrays:
    """Split a stratified validation share off the training rows, fit the encoder on the rest, encode all three."""
    from sklearn.model_selection import train_test_split

    if len(classes) < 2:
        raise InputError(f"the target has {len(classes)} class(es); the network needs a classification target "
                         "with at least 2")
    lookup = {c: i for i, c in enumerate(classes)}
    y_all = np.asarray([lookup[v] for v in y_train], dtype=np.int64)
    X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_all, test_size=val_fraction, random_state=seed,
                                                  stratify=y_all)
    encoder = _encoder(X_fit).fit(X_fit)
    shares = np.bincount(y_fit, minlength=len(classes)) / len(y_fit)
    prior = float(-np.mean(np.log(np.clip(shares[y_val], 1e-12, None))))
    known = np.asarray([lookup.get(v, -1) for v in y_test], dtype=np.int64)
    notes = [f"{int((known < 0).sum())} test row(s) with a class not seen in training left out"] if (known < 0).any() else []
    keep = known >= 0
    return TabularArrays(
        X_train=encoder.transform(X_fit).astype(np.float32), y_train=y_fit,
        X_val=encoder.transform(X_val).astype(np.float32), y_val=y_val,
        X_test=encoder.transform(X_test[keep]).astype(np.float32), y_test=known[keep],
        classes=list(classes), columns=list(X_train.columns), encoder=encoder, prior_log_loss=prior, notes=notes)


def build_mlp(spec: MlpSpec) -> Any:
    """The network: Linear -> ReLU -> Dropout per hidden layer, then one logit per class."""
    import torch

    layers: list[Any] = []
    width = spec.n_features
    for size in spec.hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU(), torch.nn.Dropout(spec.dropout)]
        width = size
    layers.append(torch.nn.Linear(width, spec.n_classes))
    return torch.nn.Sequential(*layers)


def build_optimizer(model: Any, spec: MlpSpec) -> Any:
    """Adam with the spec's learning rate and weight decay."""
    import torch

    return torch.optim.Adam(model.parameters(), lr=spec.learning_rate, weight_decay=spec.weight_decay)


def shard(n_rows: int, rank: int, world: int) -> np.ndarray:
    """The row indices worker ``rank`` of ``world`` owns (every world-th row)."""
    return np.arange(rank, n_rows, world)


def train_epoch(model: Any, optimizer: Any, X: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int,
                epoch: int) -> tuple[float, int]:
    """One pass over (X, y) in a seeded order; the summed loss and the rows seen."""
    import torch

    model.train()
    order = np.random.default_rng([seed, epoch]).permutation(len(y))
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    total = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        xb, yb = torch.from_numpy(X[rows]), torch.from_numpy(y[rows])
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        (loss / len(rows)).backward()
        optimizer.step()
        total += float(loss.detach())
    return total, len(order)


def evaluate(model: Any, X: np.ndarray, y: np.ndarray) -> tuple[float, int, int]:
    """Summed cross-entropy, correct predictions and rows of (X, y)."""
    import torch

    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(X))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y), reduction="sum")
        correct = int((logits.argmax(dim=1) == torch.from_numpy(y)).sum())
    return float(loss), correct, len(y)


class MlpClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A scikit-learn classifier over trained MLP weights (plain arrays, so it pickles without torch state)."""

    def __init__(self, spec: MlpSpec | None = None, weights: dict[str, np.ndarray] | None = None,
                 classes: list[Any] | None = None) -> None:
        self.spec = spec
        self.weights = weights
        self.classes = classes

    def fit(self, X: Any = None, y: Any = None) -> MlpClassifier:
        """Trained already (by the workers): only takes the classes, so scikit-learn sees a fitted estimator."""
        self.classes_ = np.asarray(self.classes)
        return self

    def _model(self) -> Any:
        import torch

        net = getattr(self, "_net", None)
        if net is None:
            assert self.spec is not None and self.weights is not None
            net = build_mlp(self.spec)
            net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in self.weights.items()})
            self._net = net.eval()
        return self._net

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_net", None)  # rebuilt from the weights on first use
        return state

    def predict_proba(self, X: Any) -> np.ndarray:
        import torch

        with torch.no_grad():
            logits = self._model()(torch.from_numpy(np.asarray(X, dtype=np.float32)))
            return np.asarray(torch.softmax(logits, dim=1).numpy())

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.classes_[self.predict_proba(X).argmax(axis=1)])


def mlp_pipeline(encoder: Any, spec: MlpSpec, weights: dict[str, np.ndarray], classes: list[Any]) -> Any:
    """The servable model: the fitted encoder, then the network, as one scikit-learn pipeline."""
    from sklearn.pipeline import Pipeline

    return Pipeline([("encode", encoder), ("mlp", MlpClassifier(spec, weights, classes).fit())])
