"""Text-to-motion benchmark: ``avatar3d bench motion`` / ``python -m avatar3d.bench.motion``.

For every prompt of the dev set (``shared/bench/motion_prompts_dev.yaml``): parse it
(:func:`avatar3d.motion.parser.parse_prompt`), synthesise it (:func:`avatar3d.motion.synthesis.synthesize`),
write ``RESULTS/<id>/motion.npz`` (+ ``plan.json``), then score the folder with the benchmark's own
checker (``motion_check.py`` beside the YAML, loaded from its file - it is not part of the package).

Reported (the last line printed is one JSON object):

* predicate pass rate overall and per language (target >= 0.9 in each);
* quality per prompt - foot skating (cm/s) and jerk (m/s^3) - against the checker's real-mocap
  references for the prompt's kind of motion (walking, running, standing; README of the bench):
  ratios and whether each is within :data:`QUALITY_FACTOR` x the reference;
* synthesis time scaled to 10 s of motion (rendering excluded): a fixed ~10-s plan timed
  ``timing_repeats`` times (median), and the worst dev prompt; target <= 0.5 s;
* determinism: the same prompt and seed synthesised twice gives identical joints.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np

log = logging.getLogger(__name__)

#: Real-mocap references of the checker (shared/bench/README.md): foot skating cm/s, mean jerk m/s^3.
REFERENCES = {
    "walking": {"foot_skate_cm_s": 7.9, "jerk_mean_m_s3": 109.0},
    "standing": {"foot_skate_cm_s": 0.2, "jerk_mean_m_s3": 8.0},
    "running": {"foot_skate_cm_s": 20.8, "jerk_mean_m_s3": 512.0},
    # jumps, kicks, punches, dances, spins: no still-standing reference applies; the checker's
    # dynamic (running) reference is used (the source mocap jumps of 01_01 measure 5.5 cm/s, 175 m/s^3)
    "dynamic": {"foot_skate_cm_s": 20.8, "jerk_mean_m_s3": 512.0},
}
DYNAMIC_TYPES = ("jumps", "kick", "punch", "dance")
#: Quality target: no worse than this factor x the reference.
QUALITY_FACTOR = 1.5
PASS_TARGET = 0.9
TIME_TARGET_S = 0.5
#: The fixed plan timed for "10 s of motion".
TIMING_PROMPT = "Walk forward 5 meters while waving, then turn left 90 degrees and clap three times."
ENV_BENCH_DIR = "AVATAR3D_BENCH_DIR"


def default_bench_dir() -> Path:
    """``$AVATAR3D_BENCH_DIR``, else ``shared/bench`` next to the repository, else /work/shared/bench."""
    cands = [os.environ.get(ENV_BENCH_DIR, ""), str(Path(__file__).resolve().parents[3] / "shared" / "bench"),
             str(Path(__file__).resolve().parents[2] / "shared" / "bench"), "/work/shared/bench"]
    for c in cands:
        if c and (Path(c) / "motion_prompts_dev.yaml").exists():
            return Path(c)
    raise FileNotFoundError(f"motion_prompts_dev.yaml not found; set ${ENV_BENCH_DIR} to the bench folder")


def load_checker(path: str | os.PathLike) -> ModuleType:
    """Import ``motion_check.py`` from its file (it lives with the benchmark data)."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location("avatar3d_bench_motion_check", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the checker {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def reference_kind(prompt: dict) -> str:
    """Which real-mocap reference a prompt's motion compares with (by its category/predicates)."""
    cat = str(prompt.get("category", ""))
    kinds = {str(p.get("kind")) for p in prompt.get("predicates", []) if p.get("type") == "gait"}
    if cat == "run" or "run" in kinds:
        return "running"
    moves = any(p.get("type") in ("displacement", "path_length", "steps", "gait") for p in prompt.get("predicates", []))
    if cat == "walk" or moves or "walk" in kinds:
        return "walking"
    if cat in ("jump", "kick", "punch", "dance", "spin") or any(
            p.get("type") in DYNAMIC_TYPES for p in prompt.get("predicates", [])):
        return "dynamic"
    return "standing"


#: Rendering target: frames per second at 512 x 512 (textured avatar, ground, following camera).
RENDER_FPS_TARGET = 30.0


def measure_render_fps(motion, size: int = 512) -> dict:
    """Frames per second of retargeting-free rendering of ``motion`` on the default avatar at
    ``size``^2 (posing and rendering timed separately; MP4 encoding excluded)."""
    from avatar3d.avatar import build_avatar
    from avatar3d.avatar.animate import animate_avatar
    from avatar3d.body import create_body_model
    from avatar3d.render.video import render_animation

    model = create_body_model()
    avatar = build_avatar(model, model.default_params(1).shape)
    t0 = time.perf_counter()
    animation = animate_avatar(avatar, model, motion)
    vertices = animation.vertices(avatar)
    t1 = time.perf_counter()
    mesh = avatar.data.mesh
    frames = render_animation(vertices, mesh.faces, mesh.uvs, mesh.face_uvs, None, fps=animation.fps, size=size)
    t2 = time.perf_counter()
    n = frames.shape[0]
    return {"frames": n, "size": size, "fps_512": round(n / (t2 - t1), 1), "posing_fps": round(n / (t1 - t0), 1),
            "target_fps": RENDER_FPS_TARGET}


def run_motion_bench(prompts: str | os.PathLike | None = None, results_dir: str | os.PathLike | None = None,
                     seed: int = 0, checker: str | os.PathLike | None = None, timing_repeats: int = 5) -> dict:
    """Synthesise every prompt into ``results_dir/<id>/motion.npz``, score them, return the summary.

    Args:
        prompts: the prompt YAML (default: :func:`default_bench_dir` / motion_prompts_dev.yaml).
        results_dir: output folder (default: ``bench_results/motion`` in the working directory).
        seed: synthesis seed.
        checker: ``motion_check.py`` (default: beside the YAML).
        timing_repeats: runs of the fixed timing plan (median reported).
    """
    import torch

    from avatar3d.motion.io import motion_to_npz_arrays, save_motion_npz
    from avatar3d.motion.library import load_library
    from avatar3d.motion.parser import parse_prompt
    from avatar3d.motion.synthesis import synthesize

    torch.set_num_threads(min(2, torch.get_num_threads()))
    prompts = Path(prompts) if prompts is not None else default_bench_dir() / "motion_prompts_dev.yaml"
    mc = load_checker(checker if checker is not None else prompts.parent / "motion_check.py")
    out = Path(results_dir) if results_dir is not None else Path("bench_results") / "motion"
    out.mkdir(parents=True, exist_ok=True)
    lib = load_library()
    items = mc.load_prompts(str(prompts))

    results, per_prompt, per10 = [], [], []
    for p in items:
        t0 = time.perf_counter()
        plan = parse_prompt(str(p["prompt"]))
        t1 = time.perf_counter()
        res = synthesize(plan, seed=seed, library=lib)
        t2 = time.perf_counter()
        d = out / str(p["id"])
        save_motion_npz(res.motion, d / "motion.npz")
        (d / "plan.json").write_text(json.dumps({**plan.to_json(), "synthesis_warnings": list(res.warnings)},
                                                ensure_ascii=False, indent=1), encoding="utf-8")
        r = mc.evaluate_file(str(d / "motion.npz"), p)
        results.append(r)
        kind = reference_kind(p)
        q = r.get("quality") or {}
        ref = REFERENCES[kind]
        ratios = {k: (round(q[k] / ref[k], 3) if q.get(k) is not None else None) for k in ref}
        per10.append((t2 - t1) * 10.0 / max(res.duration_s, 1e-6))
        per_prompt.append({
            "id": p["id"], "lang": p.get("lang"), "pass": f"{r['n_pass']}/{r['n_total']}",
            "failed": [x["id"] for x in r["predicates"] if not x["passed"]], "reference": kind,
            "foot_skate_cm_s": q.get("foot_skate_cm_s"), "jerk_mean_m_s3": q.get("jerk_mean_m_s3"),
            "penetration_cm": q.get("penetration_cm"), "skate_ratio": ratios["foot_skate_cm_s"],
            "jerk_ratio": ratios["jerk_mean_m_s3"],
            "quality_ok": all(v is not None and v <= QUALITY_FACTOR for v in ratios.values()),
            "duration_s": round(res.duration_s, 2), "parse_s": round(t1 - t0, 4), "synth_s": round(t2 - t1, 4),
            "warnings": list(res.warnings)})

    summary = mc.summarize(results)
    by_lang = {k: v["predicate_pass_rate"] for k, v in summary["by_lang"].items()}
    by_kind: dict[str, dict] = {}
    for kind in REFERENCES:
        rows = [x for x in per_prompt if x["reference"] == kind]
        if not rows:
            continue
        sk = [x["foot_skate_cm_s"] for x in rows if x["foot_skate_cm_s"] is not None]
        jk = [x["jerk_mean_m_s3"] for x in rows if x["jerk_mean_m_s3"] is not None]
        med_sk = float(np.median(sk)) if sk else None
        med_jk = float(np.median(jk)) if jk else None
        by_kind[kind] = {
            "prompts": len(rows), "reference": REFERENCES[kind],
            "foot_skate_cm_s_median": None if med_sk is None else round(med_sk, 2),
            "jerk_mean_m_s3_median": None if med_jk is None else round(med_jk, 2),
            "skate_ratio_median": None if med_sk is None else round(med_sk / REFERENCES[kind]["foot_skate_cm_s"], 3),
            "jerk_ratio_median": None if med_jk is None else round(med_jk / REFERENCES[kind]["jerk_mean_m_s3"], 3),
            "prompts_within_factor": sum(x["quality_ok"] for x in rows)}

    # timing: a fixed ~10-s plan, scaled to exactly 10 s of output
    plan = parse_prompt(TIMING_PROMPT)
    times, dur = [], 0.0
    for _ in range(max(1, timing_repeats)):
        t0 = time.perf_counter()
        res = synthesize(plan, seed=seed, library=lib)
        times.append(time.perf_counter() - t0)
        dur = res.duration_s
    t10 = statistics.median(times) * 10.0 / max(dur, 1e-6)
    # determinism
    a = motion_to_npz_arrays(synthesize(plan, seed=seed, library=lib).motion)["joints"]
    b = motion_to_npz_arrays(synthesize(plan, seed=seed, library=lib).motion)["joints"]
    c = motion_to_npz_arrays(synthesize(plan, seed=seed + 1, library=lib).motion)["joints"]
    varied = a.shape != c.shape or float(np.abs(a - c).max()) > 1e-3

    render = measure_render_fps(synthesize(plan, seed=seed, library=lib).motion)

    report = {
        "bench": "motion", "prompts_file": str(prompts), "results_dir": str(out), "seed": seed,
        "library": lib.summary(),
        "predicate_pass_rate": summary["predicate_pass_rate"],
        "prompt_pass_rate": summary["prompt_pass_rate"],
        "predicate_pass_rate_by_lang": by_lang,
        "pass_target_met": all(v is not None and v >= PASS_TARGET for v in by_lang.values()),
        "by_predicate_type": summary["by_predicate_type"],
        "quality_median": summary["quality_median"],
        "quality_vs_reference": by_kind, "quality_factor": QUALITY_FACTOR,
        "synthesis_s_per_10s": {"timing_plan": round(t10, 4), "timing_plan_duration_s": round(dur, 2),
                                "worst_dev_prompt": round(max(per10), 4), "target_s": TIME_TARGET_S,
                                "threads": torch.get_num_threads()},
        "time_target_met": t10 <= TIME_TARGET_S and max(per10) <= TIME_TARGET_S,
        "deterministic": bool(np.array_equal(a, b)), "varied_across_seeds": bool(varied),
        "render": render, "render_target_met": render["fps_512"] >= RENDER_FPS_TARGET,
        "prompts": per_prompt, "failures": summary["failures"],
    }
    (out / "summary.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=Path, default=None, help="prompt YAML (default: the dev set)")
    ap.add_argument("-o", "--out", type=Path, default=None, help="results folder (default bench_results/motion)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checker", type=Path, default=None, help="motion_check.py (default: beside the YAML)")
    ap.add_argument("--repeats", type=int, default=5, help="timing repeats")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    report = run_motion_bench(args.prompts, args.out, args.seed, args.checker, args.repeats)
    for row in report["prompts"]:
        print(f"{row['id']:<26} {row['lang']:<3} {row['pass']:>5}  skate {row['foot_skate_cm_s']} cm/s "
              f"(x{row['skate_ratio']} {row['reference']})  jerk {row['jerk_mean_m_s3']} (x{row['jerk_ratio']})  "
              f"{row['synth_s']:.3f} s  {' '.join(row['failed'])}")
    print(json.dumps({k: v for k, v in report.items() if k != "prompts"}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
