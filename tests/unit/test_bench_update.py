"""``python -m harness.bench --update``: figures not measured again are kept, each saying when it was."""

from __future__ import annotations

import json
from pathlib import Path

from harness.bench.__main__ import _kept_figures, _write_keeping
from harness.bench.report import Figure, Report


def test_update_keeps_the_figures_not_measured_again_and_marks_them(tmp_path: Path) -> None:
    earlier = Report("bench", started_at=1_700_000_000.0)
    earlier.add([Figure("replay.speed", "replay", 0.2, 0.75, ">="), Figure("cluster.agent-cpu-per-node", "cpu", 9.0,
                                                                          10.0)])
    earlier.write(tmp_path)
    kept = _kept_figures(tmp_path / "bench.json")
    now = Report("bench")
    now.add(Figure("cluster.agent-cpu-per-node", "cpu", 3.0, 10.0))
    _write_keeping(now, kept, tmp_path)
    data = json.loads((tmp_path / "bench.json").read_text())
    by_name = {f["name"]: f for f in data["figures"]}
    assert by_name["cluster.agent-cpu-per-node"]["value"] == 3.0
    assert "measured_in_run_started_at" not in by_name["cluster.agent-cpu-per-node"]["detail"]
    assert by_name["replay.speed"]["value"] == 0.2
    assert by_name["replay.speed"]["detail"]["measured_in_run_started_at"] == "2023-11-14T22:13:20Z"
    assert any("--update" in note for note in data["notes"])
    assert [f.name for f in now.figures] == ["cluster.agent-cpu-per-node"]  # the report itself is as measured
