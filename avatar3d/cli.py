"""The one command-line interface: ``avatar3d <command>`` (typer + rich).

Only implemented commands appear.  Bad input prints what was wrong and what to do, and exits
with status 2 - never a traceback (``-v -v`` shows one for internal errors, for bug reports).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console

from avatar3d.utils.errors import UserError

app = typer.Typer(
    name="avatar3d",
    help="Photo -> rigged, textured 3D avatar; text -> motion. Run `avatar3d COMMAND --help` for details.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks: each prints one JSON line as its last line of output.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
train_app = typer.Typer(help="Train the project's learned parts on data it generates itself.", no_args_is_help=True)
app.add_typer(train_app, name="train")

err_console = Console(stderr=True)
log = logging.getLogger("avatar3d.cli")
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3
_state = {"verbose": 0}


def _guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user errors into a readable message and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except (UserError, ValueError, FileNotFoundError) as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except Exception as error:  # a bug: say so plainly; details only when asked
            if _state["verbose"] >= 2:
                err_console.print_exception()
            err_console.print(
                f"[bold red]internal error:[/] {type(error).__name__}: {error}\n"
                "  -> this is a bug in avatar3d; re-run with -v -v for details and report it",
                highlight=False,
            )
            raise typer.Exit(EXIT_INTERNAL_ERROR) from None

    return wrapper


@app.callback()
def _main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-v info, -vv debug).")] = 0,
) -> None:
    from avatar3d.utils.logs import setup_logging

    _state["verbose"] = verbose
    setup_logging(verbose)


@app.command()
@_guarded
def doctor() -> None:
    """Print versions, available body models and rasteriser backend, cache folders and GPU."""
    from avatar3d.diagnostics import collect

    report = collect()
    console = Console()
    width = max(len(k) for k in report)
    for key, value in report.items():
        console.print(f"{key:<{width}}  {value}", highlight=False)


@app.command()
@_guarded
def body(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output mesh: .glb, .obj (+.mtl) or .ply.")] = Path("out/body.glb"),
    height: Annotated[Optional[float], typer.Option("--height", help="Standing height in metres (Anny).")] = None,
    gender: Annotated[Optional[float], typer.Option(help="0 = male .. 1 = female (Anny phenotype).")] = None,
    age: Annotated[Optional[float], typer.Option(help="0 = baby .. 0.5 = ~25 years .. 1 = ~90 years (Anny phenotype).")] = None,
    muscle: Annotated[Optional[float], typer.Option(help="0 .. 1 (Anny phenotype).")] = None,
    weight: Annotated[Optional[float], typer.Option(help="0 .. 1 (Anny phenotype).")] = None,
    proportions: Annotated[Optional[float], typer.Option(help="0 .. 1 (Anny phenotype).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Body model: anny (default) or smplx.")] = None,
    rig: Annotated[Optional[str], typer.Option("--rig", help="Anny rig: anny, mixamo, game_engine or cmu_mb.")] = None,
    smplx_dir: Annotated[Optional[Path], typer.Option("--smplx-dir", help="Folder with SMPLX_NEUTRAL.npz (else $AVATAR3D_SMPLX_DIR).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML overrides of BodyExportConfig.")] = None,
) -> None:
    """Export a rest-pose body mesh (default: average Anny body) to GLB, OBJ or PLY."""
    from avatar3d.api import export_body
    from avatar3d.config import BodyExportConfig, load_config

    overrides: dict[str, Any] = {k: v for k, v in
                                 {"height_m": height, "gender": gender, "age": age, "muscle": muscle,
                                  "weight": weight, "proportions": proportions}.items() if v is not None}
    body_overrides = {k: v for k, v in {"model": model, "rig": rig, "smplx_dir": str(smplx_dir) if smplx_dir else None}.items() if v is not None}
    if body_overrides:
        overrides["body"] = body_overrides
    cfg = load_config(BodyExportConfig, config, overrides)
    result = export_body(cfg, output)
    Console().print(
        f"wrote [bold]{result.path}[/] ({result.num_vertices} vertices, {result.num_faces} triangles, "
        f"standing height {result.height_m:.3f} m)", highlight=False,
    )


@app.command()
@_guarded
def create(
    image: Annotated[Optional[Path], typer.Argument(help="Photo of a person (JPEG/PNG/...). Default: the bundled sample photo.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (avatar.glb, result.json, body_cam.ply, overlay.png).")] = Path("out/avatar"),
    rig: Annotated[Optional[str], typer.Option("--rig", help="Skeleton of the exported avatar: anny, mixamo, game_engine or cmu_mb.")] = None,
    person: Annotated[Optional[int], typer.Option("--person", help="Which person when several are found (0 = largest, most central).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Body model: anny (default) or smplx.")] = None,
    smplx_dir: Annotated[Optional[Path], typer.Option("--smplx-dir", help="Folder with SMPLX_NEUTRAL.npz (else $AVATAR3D_SMPLX_DIR).")] = None,
    fov: Annotated[Optional[float], typer.Option("--fov", help="Vertical field of view in degrees when the photo has no EXIF focal length.")] = None,
    no_clothing: Annotated[bool, typer.Option("--no-clothing", help="Skip the clothing/hair offsets.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder.")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML overrides of CreateConfig.")] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", "-p", help="Also animate it: a motion in English or Korean.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Motion variation seed (same seed, same motion).")] = 0,
    describe: Annotated[Optional[str], typer.Option("--describe", help='The person in words, English or Korean, e.g. "a tall, heavy man in his sixties" or "키가 작은 20대 여성".')] = None,
    no_encoder: Annotated[bool, typer.Option("--no-encoder", help="Fit without the learned encoder's prior (for comparison).")] = False,
) -> None:
    """Photo -> fitted, textured, rigged avatar (GLB for Blender/Unity/Unreal/three.js); --prompt animates it."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from avatar3d.api import create as create_avatar
    from avatar3d.config import CreateConfig, load_config

    overrides: dict[str, Any] = {}
    body = {k: v for k, v in {"rig": rig, "model": model, "smplx_dir": str(smplx_dir) if smplx_dir else None}.items() if v is not None}
    if body:
        overrides["body"] = body
    if person is not None:
        overrides["perception"] = {"person": person}
    if fov is not None:
        overrides["fov_deg"] = fov
    if no_clothing:
        overrides["clothing_enabled"] = False
    if no_encoder:
        overrides["use_encoder"] = False
    cfg = load_config(CreateConfig, config, overrides)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task("starting", total=None)
        result = create_avatar(image, output, cfg, overwrite=overwrite, progress=lambda stage: bar.update(task, description=stage),
                               prompt=prompt, seed=seed, describe=describe)
    fit = result.report["fit"]
    console = Console()
    console.print(f"wrote [bold]{output}[/]: avatar.glb, result.json, body_cam.ply, overlay.png "
                  f"(silhouette IoU {fit['silhouette_iou']:.2f}, {result.report['timings_s']['total']:.1f} s)", highlight=False)
    for warning in fit["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@app.command()
@_guarded
def animate(
    prompt: Annotated[str, typer.Option("--prompt", "-p", help='Motion in English or Korean, e.g. "walk forward 3 meters, turn left and wave".')],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (motion.npz, plan.json, motion.bvh, animation.mp4, avatar.glb).")] = Path("out/animation"),
    avatar: Annotated[Optional[Path], typer.Option("--avatar", help="An avatar folder made by `avatar3d create` (default: the default body).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Motion variation seed (same seed, same motion).")] = 0,
    rig: Annotated[Optional[str], typer.Option("--rig", help="Skeleton of the exported GLB: anny, mixamo, game_engine or cmu_mb.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder.")] = False,
) -> None:
    """Text -> motion on an avatar: exact counts, distances and turns, English and Korean."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from avatar3d.api import animate as animate_avatar

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task("starting", total=None)
        result = animate_avatar(prompt, output, avatar_dir=avatar, seed=seed, overwrite=overwrite, rig=rig,
                                progress=lambda stage: bar.update(task, description=stage))
    console = Console()
    console.print(f"wrote [bold]{output}[/]: motion.npz, plan.json, motion.bvh, animation.mp4, avatar.glb "
                  f"({result.duration_s:.1f} s of motion, {result.timings_s['total']:.1f} s)", highlight=False)
    for warning in result.plan.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@bench_app.command("demo")
@_guarded
def bench_demo() -> None:
    """Demo: seconds from clicking Create on the default example to the result, and 3 concurrent users."""
    from avatar3d.bench.demo import run_demo_bench

    _print_json_line(run_demo_bench())


@bench_app.command("motion")
@_guarded
def bench_motion(
    prompts: Annotated[Path, typer.Option("--prompts", help="Prompt file with predicates (motion_prompts_dev.yaml).")] = Path("../shared/bench/motion_prompts_dev.yaml"),
    results: Annotated[Optional[Path], typer.Option("--results", help="Where to keep the motions (default: a temp folder).")] = None,
) -> None:
    """Text-to-motion: predicate pass rate per language, foot skating/jitter vs real mocap, speed."""
    import tempfile

    from avatar3d.bench.motion import run_motion_bench

    _print_json_line(run_motion_bench(prompts, results or Path(tempfile.mkdtemp(prefix="avatar3d-bench-motion-"))))


def _print_json_line(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result, sort_keys=False) + "\n")
    sys.stdout.flush()


@bench_app.command("body")
@_guarded
def bench_body(
    repeats: Annotated[int, typer.Option(help="Timed calls per measurement (median reported).")] = 30,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
) -> None:
    """Forward time of each body backend at batch 1 and 16, beside the direct `anny` call."""
    from avatar3d.bench.body import run_body_bench

    _print_json_line(run_body_bench(repeats=repeats, threads=threads))


@bench_app.command("raster")
@_guarded
def bench_raster(
    repeat: Annotated[int, typer.Option(help="Timed calls per measurement (median reported).")] = 30,
    threads: Annotated[int, typer.Option(help="CPU threads.")] = 2,
    open3d: Annotated[bool, typer.Option("--open3d/--no-open3d", help="Compare with Open3D's Embree ray caster (optional dependency).")] = True,
) -> None:
    """Rasteriser speed on the default Anny body (forward, full pipeline fwd+bwd, memory, vs Open3D)."""
    from avatar3d.bench.raster import run_raster_bench

    _print_json_line(run_raster_bench(threads=threads, repeat=repeat, with_open3d=open3d))


@bench_app.command("fit")
@_guarded
def bench_fit(
    data: Annotated[Path, typer.Option("--data", help="Development set with NNNN.png + ground truth (and ../score_fit.py).")] = Path("../shared/bench/synth_dev"),
    results: Annotated[Optional[Path], typer.Option("--results", help="Where to keep the outputs (default: a temp folder).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Only the first N photos.")] = None,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
) -> None:
    """Photo-to-avatar accuracy (PA-MPJPE, IoU, PCK) and time per photo on a development set."""
    import torch

    from avatar3d.bench.fit import run_fit_bench

    torch.set_num_threads(threads)
    _print_json_line(run_fit_bench(data, results, limit))


@bench_app.command("encoder")
@_guarded
def bench_encoder(
    data: Annotated[Path, typer.Option("--data", help="Development set with NNNN.png + ground truth (NNNN.json, NNNN_mask.png).")] = Path("../shared/bench/synth_dev"),
    limit: Annotated[Optional[int], typer.Option("--limit", help="Only the first N photos.")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="Encoder weights (default: the shipped assets/encoder/encoder.pt).")] = None,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
) -> None:
    """Fitting with vs without the encoder (PA-MPJPE, IoU, time); height error with a true / no / wrong description."""
    import torch

    from avatar3d.bench.encoder import run_encoder_bench

    torch.set_num_threads(threads)
    _print_json_line(run_encoder_bench(data, limit, checkpoint))


@train_app.command("encoder")
@_guarded
def train_encoder_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for encoder.pt, encoder.json and train_config.yaml.")] = Path("assets/encoder"),
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML overrides of TrainEncoderConfig (e.g. configs/train/encoder.yaml).")] = None,
    data_cache: Annotated[Optional[Path], typer.Option("--data-cache", help="Folder to keep / reuse the generated training data.")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Override the number of training steps.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Override the seed.")] = None,
) -> None:
    """Train the multimodal encoder on synthetic Anny bodies in CMU mocap poses (CPU, deterministic)."""
    from avatar3d.train.encoder import TrainEncoderConfig, train_encoder
    from avatar3d.utils.configs import load_config

    overrides = {k: v for k, v in {"steps": steps, "seed": seed}.items() if v is not None}
    cfg = load_config(TrainEncoderConfig, config, overrides)
    args = sys.argv[sys.argv.index("encoder") + 1:] if "encoder" in sys.argv else []
    result = train_encoder(cfg, output, data_cache=data_cache, command=" ".join(["avatar3d", "train", "encoder", *args]))
    _print_json_line({"checkpoint": str(result.checkpoint), **result.metrics})


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
