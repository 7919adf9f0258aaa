"""The integration-test report (HTML + Markdown + JSON): the contract table, the load, and the ML Test Score
rubric with each test's evidence or what is missing and which process would supply it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlsitter.report import Report
from mlsitter.runtime import task


def sections_figure(sections: dict[str, float]) -> Any:
    """A bar per rubric section (out of 7); the lowest bar is the score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.6))
    names = list(sections)
    values = [sections[n] for n in names]
    low = min(values) if values else 0.0
    ax.barh(names, values, color=["#c0392b" if v == low else "#4c72b0" for v in values])
    ax.set_xlim(0, 7)
    ax.set_xlabel("section sum (of 7)")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


@task(name="integration-test.write_report")
def write_integration_report(out_dir: str, model: str, contract: Any, tests: list[dict[str, Any]], rubric: Any,
                             findings: Any, gates: list[dict[str, Any]]) -> dict[str, str]:
    """Write ``integration-test-report.{html,md,json}``."""
    failed = [t["test"] for t in tests if not t["passed"]]
    rep = Report(f"Integration test of {model}",
                 f"{len(tests) - len(failed)} of {len(tests)} contract tests passed; ML Test Score {rubric.score:g} "
                 f"(the minimum of the section sums; weakest: {rubric.weakest})")
    rep.section("Summary")
    rep.metrics({"contract tests passed": f"{len(tests) - len(failed)}/{len(tests)}", "ML Test Score": rubric.score,
                 **{f"{name} (of 7)": value for name, value in rubric.sections.items()},
                 "runs read": rubric.runs_seen})
    rep.note("failed: " + ", ".join(failed) if failed else "every contract test passed", "fail" if failed else "info")
    rep.gates(gates)
    rep.section("Contract tests")
    rep.text(f"Data contract: {contract.source} (sha256 {contract.sha256[:12]}). Server {findings.url} "
             "(a throwaway deployment on loopback, stopped after the tests).")
    rep.table(tests, columns=["test", "checks", "measured", "rule", "passed", "detail"],
              caption="each contract test against its threshold")
    rep.table([{"what": k, "value": v} for k, v in findings.load.items()], caption="the bounded load")
    rep.section("ML Test Score")
    rep.text(f"Each test scores 1 when an automated check shows up in {rubric.repeated} or more runs, 0.5 when it "
             "shows up once or only as a person's documented approval, 0 otherwise (Breck et al. 2017). "
             "A section sums its seven tests; the score is the lowest section sum.")
    rep.figure(sections_figure(rubric.sections), caption="section sums; the lowest is the score", name="sections.png")
    rep.table([{"test": r.id, "section": r.section, "title": r.title, "score": r.score, "rule": r.rule,
                "evidence": "; ".join(e.describe() for e in r.evidence) or "-",
                "missing": r.missing or "-", "supplied by": r.supplier} for r in rubric.rows],
              caption="the 28 tests, each with its evidence or what is missing")
    files = rep.write(Path(out_dir), "integration-test-report")
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json)}
