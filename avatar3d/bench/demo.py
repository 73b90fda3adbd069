"""`avatar3d bench demo`: the Gradio demo as users meet it.

* seconds from clicking **Create** on the default example (full-body photo, default prompt) to
  the result in the page, in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``
  via Selenium); without a browser, the same job through ``gradio_client`` (``"method"`` says which);
* three users submitting at once through ``gradio_client``: the queue must serve all three.

The demo is launched as ``python demo.py`` on a free local port (its worker warmed up first) and
stopped afterwards.  Also used by tests/demo/ to launch the demo.  Needs the demo extras
(gradio, gradio_client, selenium); they are imported lazily.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from avatar3d.utils.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_SCRIPT = REPO_ROOT / "demo.py"
FULLBODY_PHOTO = REPO_ROOT / "assets" / "samples" / "person_fullbody.png"
TARGETS = {"seconds_to_result": 30.0, "concurrent_failures": 0}
CONCURRENT_USERS = 3
BENCH_PROMPT = "walk forward 2 meters and wave"
STARTUP_TIMEOUT_S = 180.0
RESULT_TIMEOUT_S = 600.0
CHROMIUM = os.environ.get("AVATAR3D_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AVATAR3D_CHROMEDRIVER", "/usr/bin/chromedriver")
#: Headless Chromium on a closed network (see the machine notes): no background traffic, and
#: WebGL through SwiftShader so gr.Model3D can draw without a GPU.
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                  "--window-size=1400,1600", "--autoplay-policy=no-user-gesture-required")
WORKER_READY = re.compile(r"worker ready")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoServer:
    """``python demo.py`` in a subprocess on a free local port; a context manager.

    ``url`` is set once the app answers; with ``wait_for_worker`` we also wait until its job
    worker has warmed up (the log line "worker ready"), so timings start from a ready app.
    """

    def __init__(self, log_path: Path | None = None, job_timeout_s: float = 400.0, wait_for_worker: bool = True,
                 extra_args: tuple[str, ...] = ()) -> None:
        if not DEMO_SCRIPT.is_file():
            raise UserError(f"demo.py not found at {DEMO_SCRIPT}", "run this from a source checkout of avatar3d")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._own_log = log_path is None  # a temporary log, removed in stop()
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="avatar3d-demo-", suffix=".log")[1])
        self.job_timeout_s = job_timeout_s
        self.wait_for_worker = wait_for_worker
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self) -> "DemoServer":
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, str(DEMO_SCRIPT), "--port", str(self.port),
                                      "--job-timeout", str(self.job_timeout_s), *self.extra_args],
                                     cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        answered = False
        while True:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"demo.py exited with {self.proc.returncode}:\n{tail}")
            if not answered:
                try:
                    with urllib.request.urlopen(self.url + "gradio_api/info", timeout=5) as response:
                        answered = response.status == 200
                except OSError:
                    pass
            if answered and (not self.wait_for_worker or WORKER_READY.search(self.log_tail(10**7))):
                return self
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"demo.py was not ready within {STARTUP_TIMEOUT_S:.0f} s:\n{tail}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # demo.py stops its workers and removes its temp folder
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        if self._own_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> "DemoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


def chromium_driver(profile_dir: str | Path, log_network: bool = True):
    """A Selenium driver for Debian's headless Chromium with a fresh profile in ``profile_dir``."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    if log_network:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def result_shown(driver) -> bool:
    """True once the page shows a result: the 3D viewer's canvas and the GLB download button."""
    from selenium.webdriver.common.by import By

    buttons = driver.find_elements(By.ID, "dl-glb")
    return bool(driver.find_elements(By.CSS_SELECTOR, "#viewer canvas")) and bool(buttons) and buttons[0].is_displayed()


def click_create_on_example(driver, url: str, example: str = "Full body", timeout_s: float = RESULT_TIMEOUT_S) -> float:
    """Open the page, pick ``example``, click Create; seconds from the click to the result shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, 60)
    create = wait.until(EC.element_to_be_clickable((By.ID, "create")))
    wait.until(EC.element_to_be_clickable(
        (By.XPATH, f"//*[@id='photo-examples']//button[contains(., '{example}')]"))).click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#photo img"))
    create.click()
    start = time.monotonic()
    WebDriverWait(driver, timeout_s, poll_frequency=0.2).until(result_shown)
    return time.monotonic() - start


def _client_create(url: str) -> float:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    start = time.monotonic()
    client.predict(handle_file(str(FULLBODY_PHOTO)), "", BENCH_PROMPT, "anny", api_name="/create")
    return time.monotonic() - start


def run_demo_bench(users: int = CONCURRENT_USERS, browser: bool | None = None) -> dict[str, Any]:
    """Launch the demo, time one Create from the page, then ``users`` at once; the summary dict."""
    browser = chromium_available() if browser is None else browser
    summary: dict[str, Any] = {"bench": "demo", "method": "browser" if browser else "gradio_client",
                               "cpu_count": os.cpu_count(), "targets": TARGETS}
    with DemoServer() as server:
        if browser:
            profile = tempfile.mkdtemp(prefix="avatar3d-bench-chromium-")
            driver = chromium_driver(profile, log_network=False)
            try:
                summary["seconds_to_result"] = round(click_create_on_example(driver, server.url), 2)
            finally:
                driver.quit()
                import shutil

                shutil.rmtree(profile, ignore_errors=True)
        else:
            summary["seconds_to_result"] = round(_client_create(server.url), 2)
        print(f"one user: {summary['seconds_to_result']:.1f} s", file=sys.stderr)

        per_user: list[float | None] = [None] * users
        failures: list[str] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            try:
                per_user[i] = round(_client_create(server.url), 2)
            except Exception as error:  # noqa: BLE001 - a failed user is a result here
                with lock:
                    failures.append(f"user {i}: {type(error).__name__}: {error}")

        start = time.monotonic()
        with ThreadPoolExecutor(users) as pool:
            list(pool.map(one, range(users)))
        summary["concurrent_users"] = users
        summary["concurrent_wall_s"] = round(time.monotonic() - start, 2)
        summary["concurrent_seconds_per_user"] = per_user
        summary["concurrent_served"] = sum(v is not None for v in per_user)
        summary["concurrent_failures"] = failures
    summary["meets_target"] = (summary["seconds_to_result"] <= TARGETS["seconds_to_result"]
                               and not failures)
    return summary
