"""The charter file later processes read, and the reviewer feedback syntax."""

from __future__ import annotations

import json

import pytest

from mlsitter.errors import SpecError
from mlsitter.ml.handoffs._charter import Charter, CharterMetric, load_charter, write_charter
from mlsitter.ml.handoffs._review_feedback import parse_feedback


def test_charter_round_trips_through_json_and_yaml(tmp_path):
    charter = Charter(name="n", objective="o", decision="d", target="y", task="classification",
                      metric=CharterMetric("f1", 0.6, True, "f1"), positive_class="yes",
                      sensitive_attributes=["age"], excluded_columns={"duration": "post-outcome"})
    json_path, yaml_path = write_charter(charter, tmp_path)
    assert load_charter(json_path) == charter == load_charter(yaml_path)


def test_bad_charters_are_named(tmp_path):
    with pytest.raises(SpecError, match="does not exist; run the scoping process"):
        load_charter(tmp_path / "none.json")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "n", "target": "y", "task": "classification"}))
    with pytest.raises(SpecError, match=r"lacks field\(s\) \['metric'\]"):
        load_charter(path)
    path.write_text(json.dumps({"name": "n", "target": "y", "task": "ranking",
                                "metric": {"name": "f1", "threshold": 1, "greater_is_better": True, "scorer": "f1"}}))
    with pytest.raises(SpecError, match="'task' must be classification or regression"):
        load_charter(path)


def test_feedback_directives_lists_numbers_and_unknown_keys():
    fb = parse_feedback("drop: a, b\nmde: 2%; note that this is fine", allowed=("drop", "mde"))
    assert fb.get_list("drop") == ["a", "b"] and fb.get_float("mde") == pytest.approx(0.02)
    assert fb.comments == ["note that this is fine"]
    with pytest.raises(SpecError, match="'metrc' is not understood here; use one of drop, mde"):
        parse_feedback("metrc: f1", allowed=("drop", "mde"))
    with pytest.raises(SpecError, match="must be a number"):
        parse_feedback("mde: lots", allowed=("mde",)).get_float("mde")
