"""`avatar3d bench fit`: run `create` on a development set and score it with the set's scorer.

The set (e.g. ../shared/bench/synth_dev) holds NNNN.png photos with ground truth; its scorer
(../score_fit.py beside it) prints a JSON summary as its last line.  We add the time per photo
(mean, max, per stage; all photos in this one process, so the first also pays for loading the
models), the wall time of one ``avatar3d create`` in a fresh process (what a user running the
CLI on one photo waits for: interpreter start, imports and model loading included) and peak
memory, and print one JSON line at the end.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from avatar3d.utils.errors import UserError

TARGETS = {"pa_mpjpe_mm": 50.0, "iou": 0.90, "pck05": 0.90, "seconds_per_photo": 15.0, "peak_memory_gib": 4.0}


def run_fit_bench(data: Path, results: Path | None = None, limit: int | None = None, config=None,
                  fresh_process: bool = True) -> dict[str, Any]:
    """Create an avatar for every photo of ``data``; score; return the summary dict (with
    ``fresh_process``, also time the CLI on the first photo in a new process)."""
    from avatar3d.api import create

    data = Path(data)
    scorer = data.parent / "score_fit.py"
    images = sorted(p for p in data.glob("[0-9][0-9][0-9][0-9].png"))
    if not images:
        raise UserError(f"no NNNN.png photos in {data}", "point --data at a folder like ../shared/bench/synth_dev")
    if limit:
        images = images[:limit]
    results = Path(results) if results else Path(tempfile.mkdtemp(prefix="avatar3d-bench-fit-"))
    seconds, stages, failures = [], {}, []
    for image in images:
        start = time.perf_counter()
        try:
            out = create(image, results / image.stem, config, overwrite=True)
        except (UserError, ValueError) as error:
            failures.append(f"{image.name}: {error}")
            continue
        seconds.append(time.perf_counter() - start)
        for stage, value in out.report["timings_s"].items():
            stages.setdefault(stage, []).append(value)
        print(f"{image.name}: {seconds[-1]:.1f} s, IoU {out.report['fit']['silhouette_iou']:.3f}", file=sys.stderr)
    summary: dict[str, Any] = {"bench": "fit", "data": str(data), "photos": len(images), "failures": failures}
    if scorer.is_file():
        proc = subprocess.run([sys.executable, str(scorer), str(data), str(results)], capture_output=True, text=True)
        lines = [line for line in proc.stdout.strip().splitlines() if line.startswith("{")]
        if lines:
            summary["score"] = json.loads(lines[-1])
        else:
            summary["scorer_error"] = (proc.stderr or proc.stdout)[-2000:]
    if seconds:
        summary["seconds_per_photo_mean"] = round(statistics.mean(seconds), 2)
        summary["seconds_per_photo_max"] = round(max(seconds), 2)
        summary["stage_seconds_mean"] = {k: round(statistics.mean(v), 3) for k, v in stages.items()}
    summary["peak_memory_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    if fresh_process and seconds:
        # the median of a few runs: one cold start is at the mercy of whatever else the host runs
        runs = [_fresh_process_seconds(images[0]) for _ in range(FRESH_PROCESS_RUNS)]
        done = [r for r in runs if r is not None]
        summary["fresh_process_seconds"] = round(statistics.median(done), 2) if len(done) == len(runs) else None
        summary["fresh_process_runs"] = runs
    summary["results"] = str(results)
    summary["targets"] = TARGETS
    return summary


#: Fresh-process runs of `avatar3d create` on the first photo (their median is reported).
FRESH_PROCESS_RUNS = 3


def _fresh_process_seconds(image: Path) -> float | None:
    """Wall seconds of ``avatar3d create IMAGE`` (default settings) in a new Python process;
    None if it failed."""
    with tempfile.TemporaryDirectory(prefix="avatar3d-bench-fresh-") as tmp:
        command = [sys.executable, "-c", "from avatar3d.cli import main; main()", "create", str(image), "-o",
                   str(Path(tmp) / "out")]
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
    return round(elapsed, 2) if proc.returncode == 0 else None
