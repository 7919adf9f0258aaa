"""What planning hands to training: the approved model-selection recommendation (``selection.json``) and
the feature pipeline saved by ``features``, read back with checks that name what is wrong."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlsitter.errors import SpecError
from mlsitter.ml.modeling._family_names import FAMILIES, find_family, tunable_families
from mlsitter.naming import stable_name

SELECTION_KIND = "mlsitter.model-selection"
#: model-selection candidate names that training can tune -> the family each one becomes (a view of the
#: family vocabulary; :attr:`Selection.family` reads every spelling, not only these)
TUNABLE = {f.candidate: f.name for f in FAMILIES if f.candidate and f.tunable}


@stable_name("ml.handoffs.Selection")
@dataclass
class Selection:
    """The approved recommendation of a model-selection run, and what it was measured with."""

    recommended: str
    metric: str
    score: float
    target: str
    task: str
    pipeline: str
    data: str
    run_id: str

    @property
    def family(self) -> str:
        """The canonical family of the recommended candidate, read through the family vocabulary (so
        ``hist_gb`` in a hand-off becomes ``hist_gradient_boosting``); SpecError if training cannot tune it."""
        family = find_family(self.recommended)
        if family is None or not family.tunable:
            raise SpecError(f"model-selection recommended {self.recommended!r}, which training does not tune; "
                            f"pass family= one of: {', '.join(sorted(tunable_families()))}")
        return family.name


def write_selection(selection: Selection, out_dir: str | Path) -> Path:
    """Write ``selection.json`` (the file training's ``selection`` input takes)."""
    path = Path(out_dir) / "selection.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kind": SELECTION_KIND, **asdict(selection)}, indent=2), encoding="utf-8")
    return path


def read_selection(path: str | Path) -> Selection:
    """Read a ``selection.json`` written by model-selection; a missing or foreign file raises SpecError."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"selection {str(p)!r} does not exist; pass the selection.json a model-selection run wrote")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"selection {str(p)!r} is not JSON ({exc}); pass the selection.json of a model-selection run") from None
    if not isinstance(data, dict) or data.get("kind") != SELECTION_KIND:
        raise SpecError(f"{str(p)!r} is not a model-selection hand-off (expected \"kind\": \"{SELECTION_KIND}\"); "
                        "pass the selection.json a model-selection run wrote")
    fields = Selection.__dataclass_fields__
    missing = [f for f in fields if f not in data]
    if missing:
        raise SpecError(f"selection {str(p)!r} lacks {', '.join(missing)}")
    return Selection(**{f: data[f] for f in fields})


@stable_name("ml.handoffs.FeatureHandoff")
@dataclass
class FeatureHandoff:
    """A saved feature pipeline as training uses it: the unfitted transformer (refitted inside every CV fold),
    the raw columns it reads, its target and the file's content hash (recorded as lineage)."""

    transformer: Any
    input_columns: list[str]
    target: str
    task: str
    path: str
    sha256: str


def read_feature_pipeline(path: str | Path) -> FeatureHandoff:
    """Load a pipeline saved by ``features`` and return an unfitted copy of it with its input schema."""
    from sklearn.base import clone

    from mlsitter.ml.features._pipeline import load_feature_pipeline

    fitted = load_feature_pipeline(path)
    digest = "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return FeatureHandoff(clone(fitted.transformer), list(fitted.input_columns), fitted.target, fitted.task,
                          str(Path(path).resolve()), digest)
