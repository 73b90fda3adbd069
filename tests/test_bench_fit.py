"""`bench fit` on a one-photo set without a scorer: per-photo times in this process and the wall
time of the CLI in a fresh one."""
from __future__ import annotations

import shutil

from avatar3d.bench import fit as fit_bench
from avatar3d.bench.fit import run_fit_bench
from avatar3d.utils.images import sample_image


def test_bench_fit_times_in_process_and_fresh_process(tmp_path, monkeypatch):
    monkeypatch.setattr(fit_bench, "FRESH_PROCESS_RUNS", 2)  # the default 3 costs another cold start
    data = tmp_path / "set"
    data.mkdir()
    shutil.copy(sample_image("fullbody"), data / "0000.png")
    summary = run_fit_bench(data, tmp_path / "results")
    assert summary["failures"] == [] and "score" not in summary  # no scorer beside the set
    assert (tmp_path / "results" / "0000" / "result.json").is_file()
    stages = summary["stage_seconds_mean"]
    assert 0 < stages["fit_body"] < summary["seconds_per_photo_mean"]
    # a fresh process also starts Python, imports torch and builds the models
    assert summary["fresh_process_seconds"] is not None
    assert summary["fresh_process_seconds"] > stages["fit_body"]
    runs = summary["fresh_process_runs"]
    assert len(runs) == 2 and min(runs) <= summary["fresh_process_seconds"] <= max(runs)
