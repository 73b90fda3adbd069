"""avatar3d in the browser: one photo -> a rigged, textured, animated 3D avatar.

    python demo.py                      # http://127.0.0.1:7860, offline, no share link
    python demo.py --host 0.0.0.0 --port 8080 --share

This file is UI only: every computation is a call to :mod:`avatar3d.api`.  Jobs run one queue
(``--concurrency`` at a time, each in a warm worker process that is killed after
``--job-timeout`` seconds).  Every browser session gets its own temporary folder, removed when
the session ends and when the app exits; the app only ever serves files it wrote itself.

Scripts can drive a running demo with ``gradio_client``::

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    glb, mp4, report = client.predict(handle_file("photo.jpg"), "petite young woman",
                                      "walk forward 2 meters and wave", "anny", api_name="/create")
    glb, mp4, plan = client.predict("jump three times", 0, api_name="/animate")  # same avatar, new motion
"""

from __future__ import annotations

import argparse
import atexit
import html
import functools
import itertools
import json
import logging
import multiprocessing as mp
import os
import queue
import shutil
import signal
import statistics
import tempfile
import threading
import time
import traceback
import zipfile
from pathlib import Path

# Offline by construction: no analytics, no version check, no hub look-ups.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_SSR_MODE", "False")

import gradio as gr  # noqa: E402

log = logging.getLogger("avatar3d.demo")

HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "assets" / "samples"
EXAMPLE_PHOTOS = {"full body": SAMPLES / "person_fullbody.png", "astronaut": SAMPLES / "astronaut.png"}
RIGS = {
    "Anny (104 bones)": "anny",
    "Mixamo names (Unity / Unreal Mixamo clips)": "mixamo",
    "Game engine (UE-style names)": "game_engine",
    "CMU mocap names": "cmu_mb",
}
PROMPT_EXAMPLES = [
    "walk forward 2 meters and wave",
    "jump three times",
    "turn around, then clap your hands twice",
    "앞으로 3미터 걸어가",
    "박수를 두 번 쳐줘",
    "스쿼트를 네 번 해",
]
DEFAULT_PROMPT = PROMPT_EXAMPLES[0]
MAX_PROMPT_CHARS = 300
MAX_DESCRIPTION_CHARS = 200
MAX_UPLOAD = "15mb"
DEFAULT_CONCURRENCY = 1  # 2-core CPU: one job at a time, the rest wait in the queue
DEFAULT_QUEUE_SIZE = 16
DEFAULT_JOB_TIMEOUT_S = 300.0
SESSION_TTL_S = 2 * 3600
WORKER_POLL_S = 2.0
# Stage names reported by avatar3d.api -> (progress fraction, what the user reads).
STAGES = {
    "loading": (0.02, "Reading the photo"),
    "detecting": (0.05, "Detecting the person"),
    "fitting": (0.12, "Fitting the body"),
    "clothing": (0.45, "Fitting clothing and hair"),
    "texturing": (0.55, "Texturing"),
    "exporting": (0.62, "Rigging and exporting"),
    "planning": (0.68, "Reading the motion prompt"),
    "animating": (0.72, "Animating"),
    "synthesis": (0.72, "Animating"),
    "retargeting": (0.8, "Animating"),
    "rendering": (0.85, "Rendering the video"),
    "writing": (0.95, "Writing the files"),
}
KOREAN_FONTS = ["Noto Sans CJK KR", "Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic", "NanumGothic",
                "ui-sans-serif", "system-ui", "sans-serif"]
MONO_FONTS = ["Noto Sans Mono CJK KR", "ui-monospace", "DejaVu Sans Mono", "monospace"]


# ----------------------------------------------------------------------------------- worker
class _JobFailed(Exception):
    """A job ended without a result; ``str`` is what the user reads."""


def _readable(error: BaseException, hide: dict[str, str]) -> str:
    text = str(error) or type(error).__name__
    for secret, shown in hide.items():
        if secret:
            text = text.replace(secret, shown)
    return text


def _obj_zip(glb: Path, out: Path) -> Path | None:
    """The avatar's rest-pose mesh as OBJ + MTL + texture in one zip (None if not possible)."""
    from avatar3d import api

    if hasattr(api, "export_obj_zip"):  # preferred when the api grows it
        return Path(api.export_obj_zip(glb, out))
    try:
        import trimesh

        folder = out.with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        scene = trimesh.load(glb, force="scene", process=False)
        scene.export(folder / "avatar.obj")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(folder.iterdir()):
                zf.write(f, f.name)
        shutil.rmtree(folder, ignore_errors=True)
        return out
    except Exception:  # an optional download: never fail the job for it
        log.warning("OBJ export failed:\n%s", traceback.format_exc())
        return None


def _fbx(glb: Path, out: Path) -> Path | None:
    """FBX through the optional Blender ``bpy`` extra, when the api offers it."""
    from avatar3d import api

    if not hasattr(api, "export_fbx"):
        return None
    try:
        return Path(api.export_fbx(glb, out))
    except Exception:
        log.warning("FBX export failed:\n%s", traceback.format_exc())
        return None


def _job(kind: str, args: dict, say) -> dict:
    """Runs in the worker process: one api call and the extra downloads; returns plain data."""
    from avatar3d import api
    from avatar3d.config import BodyConfig, CreateConfig

    if kind == "warm":  # imports done above; the first real job starts from here
        log.info("worker ready (pid %d)", os.getpid())
        return {}
    if kind == "create":
        out = Path(args["output_dir"])
        config = CreateConfig(body=BodyConfig(rig=args["rig"]))
        prompt = args["prompt"]
        result = api.create(args["image"], out, config, overwrite=True, progress=say, prompt=prompt or None,
                            seed=args["seed"], describe=args.get("description"))
        plan = result.report.get("plan")
        duration = None if not plan else plan.get("duration_s")
        report = {k: v for k, v in result.report.items() if k != "plan"}
        say("writing")
        obj = _obj_zip(out / "avatar.glb", out / "avatar_obj.zip")
        fbx = _fbx(out / "avatar.glb", out / "avatar.fbx")
        return {"report": report, "plan": plan, "duration_s": duration, "obj": obj and str(obj), "fbx": fbx and str(fbx)}
    if kind == "animate":
        out = Path(args["output_dir"])
        if not hasattr(api, "animate"):
            raise _JobFailed("re-animation is not available in this version of avatar3d")
        avatar_dir = Path(args["avatar_dir"]) if args["avatar_dir"] else None
        anim = api.animate(args["prompt"], out, avatar_dir=avatar_dir, seed=args["seed"], overwrite=True, progress=say)
        fbx = _fbx(out / "avatar.glb", out / "avatar.fbx")
        return {"plan": anim.plan, "duration_s": anim.duration_s, "fbx": fbx and str(fbx)}
    raise _JobFailed(f"unknown job {kind!r}")


def _worker_main(inbox, outbox) -> None:
    """Worker process: runs jobs from ``inbox`` one by one, reporting stages to ``outbox``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(name)s: %(message)s")
    parent = os.getppid()
    while True:
        try:
            job = inbox.get(timeout=WORKER_POLL_S)
        except queue.Empty:
            if os.getppid() != parent:  # the app died without stopping us
                return
            continue
        if job is None:
            return
        job_id, kind, args = job
        hide = {args.get("image") or "": args.get("image_name") or "your photo"}
        try:
            outbox.put((job_id, "done", _job(kind, args, lambda stage: outbox.put((job_id, "stage", str(stage))))))
        except (ValueError, _JobFailed) as error:  # avatar3d.utils.errors.UserError is a ValueError
            log.info("job %s refused: %s", kind, error)
            outbox.put((job_id, "user_error", _readable(error, hide)))
        except Exception as error:  # a bug: log the traceback here, show the user one line
            log.error("job %s failed:\n%s", kind, traceback.format_exc())
            outbox.put((job_id, "error", type(error).__name__))


class _Worker:
    """One warm worker process; killed and replaced when a job runs past its deadline."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._ids = itertools.count(1)

    def start(self) -> None:
        self._inbox, self._outbox = self._ctx.Queue(), self._ctx.Queue()
        self._proc = self._ctx.Process(target=_worker_main, args=(self._inbox, self._outbox), daemon=True,
                                       name="avatar3d-demo-worker")
        self._proc.start()

    def stop(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        self._proc = None

    def run(self, kind: str, args: dict, timeout_s: float, on_stage) -> dict:
        if self._proc is None or not self._proc.is_alive():
            self.start()
        deadline = time.monotonic() + timeout_s
        job_id = next(self._ids)
        self._inbox.put((job_id, kind, args))
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise _JobFailed(f"this job took longer than the {timeout_s:.0f} s limit and was stopped; "
                                 "try a smaller photo or a shorter motion")
            try:
                for_job, message, payload = self._outbox.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                if not self._proc.is_alive():
                    self.stop()
                    raise _JobFailed("the worker stopped unexpectedly (out of memory?); please try again") from None
                continue
            if for_job != job_id:  # left over from the warm-up or an abandoned job
                continue
            if message == "stage":
                on_stage(payload)
            elif message == "done":
                return payload
            elif message == "user_error":
                raise _JobFailed(payload)
            else:
                raise _JobFailed(f"something went wrong on our side ({payload}); the details are in the server log")


class _Pool:
    """``size`` workers shared by every event of the one job queue."""

    def __init__(self, size: int, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._free: queue.Queue[_Worker] = queue.Queue()
        self._all = [_Worker() for _ in range(size)]
        for worker in self._all:
            self._free.put(worker)

    def warm(self) -> None:
        for worker in self._all:
            worker.start()
            worker._inbox.put((0, "warm", {}))

    def run(self, kind: str, args: dict, on_stage) -> dict:
        worker = self._free.get()
        try:
            return worker.run(kind, args, self.timeout_s, on_stage)
        finally:
            self._free.put(worker)

    def close(self) -> None:
        for worker in self._all:
            worker.stop()


# ---------------------------------------------------------------------------- sessions / files
class _Files:
    """Where the app writes: one root per launch, one folder per browser session inside it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="avatar3d-demo-")).resolve()
        self.uploads = self.root / "gradio"  # Gradio's upload/cache dir (GRADIO_TEMP_DIR)
        self.uploads.mkdir()
        atexit.register(shutil.rmtree, self.root, True)

    def new_session(self) -> dict:
        folder = Path(tempfile.mkdtemp(prefix="session-", dir=self.root))
        return {"dir": str(folder), "avatar_dir": None, "n": 0, "last": None}

    @staticmethod
    def remove_session(state) -> None:
        if isinstance(state, dict) and state.get("dir"):
            shutil.rmtree(state["dir"], ignore_errors=True)

    def check_upload(self, path: str | None) -> Path:
        """An uploaded file: it must be one Gradio stored in our upload folder."""
        if not path:
            raise gr.Error("Upload a photo, pick one of the examples or use the webcam first.", title="No photo")
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.uploads) or not resolved.is_file():
            raise gr.Error("That photo could not be found; please upload it again.", title="No photo")
        return resolved


def _photo_input(**kwargs) -> gr.Image:
    """``gr.Image`` whose upload is handed on undecoded: avatar3d's safe loader decodes it and
    explains what is wrong with a file that is not a usable photo.  (Patched on the instance:
    subclassing a Gradio component would write a .pyi file beside this script.)"""
    image = gr.Image(**kwargs)
    decode = image.preprocess

    def preprocess(payload):
        if payload is not None and getattr(payload, "path", None) and not str(payload.url or "").startswith("data:"):
            return str(payload.path)
        try:
            return decode(payload)
        except gr.Error:
            raise
        except Exception:
            raise gr.Error("That file is not an image we can read. Upload a JPEG or PNG photo of one person.",
                           title="Unreadable photo") from None

    image.preprocess = preprocess
    return image


# ------------------------------------------------------------------------------------ reports
def _fit_markdown(report: dict, description: str) -> str:
    fit = report.get("fit", {})
    errors = fit.get("keypoint_error_px") or {}
    iou = fit.get("silhouette_iou")
    lines = ["### Fit report"]
    if iou is not None:
        quality = "good" if iou >= 0.85 else "fair" if iou >= 0.7 else "poor"
        lines.append(f"- **Silhouette overlap (IoU): {iou:.2f}** — {quality}; how well the body's outline matches "
                     "the person in the photo (1.00 = perfect).")
    if errors:
        values = [v for v in errors.values() if v is not None]
        if values:
            lines.append(f"- **Keypoint error:** median {statistics.median(values):.1f} px, worst "
                         f"{max(values):.1f} px — distance between each body landmark found in the photo and "
                         "the fitted body.")
    height = report.get("params", {}).get("height_m")
    if height:
        lines.append(f"- **Estimated height:** {height:.2f} m")
    warnings = fit.get("warnings") or []
    lines.append("")
    lines.append("**Warnings:** " + ("none." if not warnings else ""))
    lines += [f"- {html.escape(str(w))}" for w in warnings]
    understood = report.get("description") or {}
    if description:
        readings = [f"{k}: {understood[k]}" for k in ("sex", "age_years", "height", "height_m", "weight", "muscle")
                    if understood.get(k) is not None]
        lines += ["", f"**Description:** “{html.escape(description)}” — understood as "
                  + (html.escape(", ".join(readings)) if readings else "nothing usable")
                  + f" (confidence {float(understood.get('confidence', 0.0)):.2f}); it shapes the body's prior."]
    if errors:
        lines += ["", "<details><summary>Per-keypoint error (pixels)</summary>", "",
                  "| keypoint | error (px) |", "|---|---|"]
        for name, value in sorted(errors.items(), key=lambda kv: -(kv[1] or 0)):
            lines.append(f"| {name.replace('_', ' ')} | {'—' if value is None else f'{value:.1f}'} |")
        lines += ["", "</details>"]
    return "\n".join(lines)


def _step_words(step: dict) -> str:
    words = [str(step.get("action", "?")).replace("_", " ")]
    if step.get("count"):
        words.append(f"× {step['count']}")
    if step.get("steps"):
        words.append(f"{step['steps']} steps")
    if step.get("distance_m"):
        words.append(f"{step['distance_m']:g} m")
    if step.get("direction"):
        words.append(str(step["direction"]))
    if step.get("turn_deg"):
        words.append(f"{step['turn_deg']:+g}°")
    if step.get("duration_s"):
        words.append(f"for {step['duration_s']:g} s")
    return " ".join(words)


def _plan_markdown(plan: dict | None, duration: float | None) -> str:
    """The parsed motion prompt in plain words: what will happen, in order, and any warnings."""
    if not plan:
        return ""
    lines = ["### Motion"]
    for i, group in enumerate(plan.get("groups") or [], start=1):
        steps = [s for s in group.get("steps") or [] if isinstance(s, dict)]
        if steps:
            lines.append(f"{i}. " + html.escape(" while ".join(_step_words(s) for s in steps)))
    if duration:
        lines.append(f"\n**Duration:** {duration:.1f} s")
    warnings = list(dict.fromkeys(str(w) for w in plan.get("warnings") or []))
    lines += [f"- ⚠ {html.escape(w)}" for w in warnings]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ UI
def _friendly(fn):
    """Event handler wrapper: a bug shows one readable line in the UI, the traceback goes to the log."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as error:
            log.error("%s failed:\n%s", fn.__name__, traceback.format_exc())
            raise gr.Error(f"Something went wrong on our side ({type(error).__name__}); the details are in the "
                           "server log. Please try again.", title="Error") from None
    return wrapper


class DemoApp:
    """The Gradio Blocks app and its job pool."""

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY, job_timeout_s: float = DEFAULT_JOB_TIMEOUT_S,
                 queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.files = _Files()
        os.environ["GRADIO_TEMP_DIR"] = str(self.files.uploads)
        self.concurrency = concurrency
        self.queue_size = queue_size
        self.pool = _Pool(concurrency, job_timeout_s)
        atexit.register(self.pool.close)
        self.blocks = self._build()

    # -- events
    def _progress(self, progress):
        def on_stage(stage: str) -> None:
            fraction, words = STAGES.get(stage, (None, stage.capitalize()))
            progress(fraction, desc=words)
        return on_stage

    def _run(self, kind: str, args: dict, progress) -> dict:
        try:
            return self.pool.run(kind, args, self._progress(progress))
        except _JobFailed as error:
            raise gr.Error(str(error), title="Could not finish", duration=None) from None

    @_friendly
    def create(self, photo, description, prompt, rig, state, progress=gr.Progress()):
        """Photo (+ description, motion prompt, rig) -> (animated GLB, MP4, fit report)."""
        description = (description or "").strip()
        prompt = (prompt or "").strip()
        if len(description) > MAX_DESCRIPTION_CHARS:
            raise gr.Error(f"The description is too long (over {MAX_DESCRIPTION_CHARS} characters).")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise gr.Error(f"The motion prompt is too long (over {MAX_PROMPT_CHARS} characters).")
        if rig not in RIGS.values():
            raise gr.Error(f"Unknown rig {rig!r}; choose one of: {', '.join(RIGS.values())}.")
        image = self.files.check_upload(photo)
        state = state or self.files.new_session()
        state = dict(state, n=state["n"] + 1)
        out = Path(state["dir"]) / f"avatar-{state['n']}"
        progress(0.0, desc="Waiting for a free worker")
        result = self._run("create", {"image": str(image), "image_name": image.name, "output_dir": str(out),
                                      "prompt": prompt, "seed": 0, "rig": rig}, progress)
        state["avatar_dir"] = str(out)
        self._drop_old(state, keep=out)
        report = {"fit": result["report"].get("fit", {}), "params": result["report"].get("params", {}),
                  "rig": rig, "description": description or None, "prompt": prompt or None,
                  "plan": result["plan"], "duration_s": result["duration_s"]}
        # the description is noted with the result (a later version will use it to shape the body)
        (out / "demo_report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        glb, mp4 = out / "avatar.glb", out / "animation.mp4"
        state["last"] = {"dir": str(out), "markdown": _fit_markdown(result["report"], description) + "\n\n"
                         + _plan_markdown(result["plan"], result["duration_s"]),
                         "overlay": str(out / "overlay.png"), "obj": result["obj"], "fbx": result["fbx"]}
        return str(glb), (str(mp4) if mp4.is_file() else None), report, state

    @_friendly
    def animate(self, prompt, seed, state, progress=gr.Progress()):
        """New motion prompt for the current avatar (or the default body) -> (GLB, MP4, plan)."""
        prompt = (prompt or "").strip()
        if not prompt:
            raise gr.Error("Type a motion prompt first, e.g. “jump three times” or “박수를 두 번 쳐줘”.")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise gr.Error(f"The motion prompt is too long (over {MAX_PROMPT_CHARS} characters).")
        try:
            seed = int(seed or 0)
        except (TypeError, ValueError):
            raise gr.Error("The seed must be a whole number.") from None
        state = state or self.files.new_session()
        state = dict(state, n=state["n"] + 1)
        out = Path(state["dir"]) / f"motion-{state['n']}"
        avatar_dir = state.get("avatar_dir")
        progress(0.0, desc="Waiting for a free worker")
        result = self._run("animate", {"prompt": prompt, "seed": seed, "output_dir": str(out),
                                       "avatar_dir": avatar_dir}, progress)
        self._drop_old(state, keep=out)
        note = "" if avatar_dir else "No avatar yet, so the default body was animated. "
        last = dict(state.get("last") or {})
        last.update({"dir": str(out), "fbx": result["fbx"],
                     "markdown": (f"_{note}_\n\n" if note else "") + _plan_markdown(result["plan"], result["duration_s"])
                     + ("\n\n" + last["markdown"].split("### Motion")[0] if last.get("markdown") else "")})
        state["last"] = last
        plan = {"plan": result["plan"], "duration_s": result["duration_s"], "prompt": prompt,
                "avatar": "yours" if avatar_dir else "default body"}
        mp4 = out / "animation.mp4"
        return str(out / "avatar.glb"), (str(mp4) if mp4.is_file() else None), plan, state

    @staticmethod
    def _drop_old(state: dict, keep: Path) -> None:
        """Keep the session folder small: the current avatar and the newest result only."""
        session = Path(state["dir"])
        for child in session.iterdir():
            if child != keep and str(child) != state.get("avatar_dir"):
                shutil.rmtree(child, ignore_errors=True)

    @staticmethod
    @_friendly
    def details(state):
        """After a result: overlay, readable report and the download buttons."""
        last = (state or {}).get("last") or {}
        folder = Path(last["dir"]) if last.get("dir") else None

        def file(name: str | None):
            path = None if not name else (Path(name) if os.path.isabs(name) else folder / name)
            ok = path is not None and path.is_file()
            return gr.update(value=str(path) if ok else None, visible=ok)

        overlay = last.get("overlay")
        return (overlay if overlay and Path(overlay).is_file() else None, last.get("markdown", ""),
                file("avatar.glb" if folder else None), file("motion.bvh" if folder else None),
                file(last.get("obj")), file(last.get("fbx")))

    # -- layout
    def _build(self) -> gr.Blocks:
        with gr.Blocks(title="avatar3d — photo to animated 3D avatar", delete_cache=(1800, 3600)) as blocks:
            state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=_Files.remove_session)
            gr.Markdown("# avatar3d — one photo → an animated 3D avatar\n"
                        "Upload a full-body photo of one person (or pick an example), describe the motion in "
                        "English or 한국어, and press **Create**. Everything runs on this machine.")
            with gr.Row():
                with gr.Column(scale=1):
                    photo = _photo_input(label="Photo (one person, head to toe is best)", type="filepath",
                                         sources=["upload", "webcam", "clipboard"], height=360, elem_id="photo")
                    description = gr.Textbox(label="Description of the person (optional)",
                                             placeholder="키 큰 60대 남성 / petite young woman",
                                             max_length=MAX_DESCRIPTION_CHARS, elem_id="description")
                    prompt = gr.Textbox(label="Motion prompt (English or 한국어)", value=DEFAULT_PROMPT,
                                        max_length=MAX_PROMPT_CHARS, elem_id="prompt")
                    gr.Examples([[p] for p in PROMPT_EXAMPLES], inputs=[prompt], label="Motion examples")
                    rig = gr.Dropdown(list(RIGS.items()), value="anny", label="Rig (bone names in the exported files)",
                                      elem_id="rig")
                    create = gr.Button("Create", variant="primary", elem_id="create")
                    gr.Examples([[str(EXAMPLE_PHOTOS["full body"]), "", DEFAULT_PROMPT, "anny"],
                                 [str(EXAMPLE_PHOTOS["astronaut"]), "astronaut", "앞으로 3미터 걸어가", "anny"]],
                                inputs=[photo, description, prompt, rig], label="Example photos",
                                example_labels=["Full body", "Astronaut (half body)"], elem_id="photo-examples")
                with gr.Column(scale=2):
                    viewer = gr.Model3D(label="Your avatar (drag to orbit, scroll to zoom)", height=480,
                                        clear_color=(0.93, 0.94, 0.96, 1.0), elem_id="viewer")
                    with gr.Row():
                        video = gr.Video(label="Animation", autoplay=True, loop=True, elem_id="video")
                        overlay = gr.Image(label="Fit overlay", interactive=False, elem_id="overlay")
                    report_md = gr.Markdown(elem_id="report")
                    with gr.Row():
                        dl_glb = gr.DownloadButton("Download GLB", visible=False, elem_id="dl-glb")
                        dl_bvh = gr.DownloadButton("Download BVH", visible=False, elem_id="dl-bvh")
                        dl_obj = gr.DownloadButton("Download OBJ (zip)", visible=False, elem_id="dl-obj")
                        dl_fbx = gr.DownloadButton("Download FBX", visible=False, elem_id="dl-fbx")
                    gr.Markdown("<small>FBX appears when Blender's `bpy` is installed (optional extra).</small>")
                    with gr.Accordion("Re-animate this avatar (no refitting)", open=False):
                        new_prompt = gr.Textbox(label="New motion prompt", placeholder="jump three times / 박수를 두 번 쳐줘",
                                                max_length=MAX_PROMPT_CHARS, elem_id="new-prompt")
                        seed = gr.Number(0, precision=0, label="Seed (another seed, another take)", elem_id="seed")
                        reanimate = gr.Button("Re-animate", elem_id="reanimate")
                    report_json = gr.JSON(label="Report (as the API returns it)", visible=False)
            extras = [overlay, report_md, dl_glb, dl_bvh, dl_obj, dl_fbx]
            create.click(self.create, [photo, description, prompt, rig, state], [viewer, video, report_json, state],
                         api_name="create", concurrency_id="jobs", concurrency_limit=self.concurrency).then(
                self.details, [state], extras, api_visibility="private", queue=False)
            reanimate.click(self.animate, [new_prompt, seed, state], [viewer, video, report_json, state],
                            api_name="animate", concurrency_id="jobs", concurrency_limit=self.concurrency).then(
                self.details, [state], extras, api_visibility="private", queue=False)
        return blocks

    def launch(self, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False, **kwargs):
        theme = gr.themes.Soft(font=KOREAN_FONTS, font_mono=MONO_FONTS)
        self.blocks.queue(max_size=self.queue_size, default_concurrency_limit=self.concurrency)
        threading.Thread(target=self.pool.warm, daemon=True).start()
        return self.blocks.launch(server_name=host, server_port=port, share=share, theme=theme,
                                  max_file_size=MAX_UPLOAD, show_error=False, allowed_paths=[],
                                  footer_links=["gradio"], **kwargs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="avatar3d Gradio demo (offline; 127.0.0.1 unless told otherwise)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also make a public gradio.live link (needs internet)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="jobs run at once (default 1)")
    parser.add_argument("--job-timeout", type=float, default=DEFAULT_JOB_TIMEOUT_S, help="seconds before a job is stopped")
    parser.add_argument("--max-queue", type=int, default=DEFAULT_QUEUE_SIZE, help="jobs that may wait (default 16)")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.job_timeout <= 0 or args.max_queue < 1:
        parser.error("--concurrency, --job-timeout and --max-queue must be positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # `kill` closes the server like Ctrl-C, so the workers stop and the temp folder is removed
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    app = DemoApp(args.concurrency, args.job_timeout, args.max_queue)
    app.launch(args.host, args.port, args.share)


if __name__ == "__main__":
    main()
