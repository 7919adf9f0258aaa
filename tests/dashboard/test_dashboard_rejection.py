"""A rejection without feedback is answered on the review page itself: the message beside the form, the question
still open, and a second try with feedback goes through."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from mlsitter.runtime import Store  # noqa: E402
from test_dashboard import form, make_client, procs, start_report_run, store, text  # noqa: E402,F401 (fixtures)


def test_a_rejection_with_empty_feedback_gets_an_inline_message_and_the_form_again(store: Store, procs: Path) -> None:
    run_id = start_report_run(procs)
    client = make_client(store)
    r = client.post(f"/runs/{run_id}/answer", data=form(client, decision="reject", feedback="   "))
    page = text(r)
    assert r.status_code == 400 and 'role="alert">A rejection needs feedback saying what to change' in page
    assert page.index("Your answer") < page.index("rejection needs feedback") < page.index('name="feedback"')
    assert 'value="reject"' in page and store.get_run(run_id).status == "waiting"  # nothing was answered
    again = client.post(f"/runs/{run_id}/answer", data=form(client, decision="reject", feedback="add a plot"),
                        follow_redirects=False)
    assert again.status_code == 303
