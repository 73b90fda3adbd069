"""A real browser (Debian's headless Chromium via Selenium + chromedriver) uses the demo page:
picks the full-body example, clicks Create, waits for the result and checks what a user sees.
Screenshots are saved under artifacts/demo/."""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from urllib.parse import urlparse

import numpy as np
import pytest

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from avatar3d.bench.demo import chromium_available, chromium_driver, click_create_on_example  # noqa: E402

CJK_FONTS = ("Noto Sans CJK", "Noto Serif CJK", "NanumGothic", "Apple SD Gothic Neo", "Malgun Gothic", "Droid Sans Fallback")

pytestmark = pytest.mark.skipif(not chromium_available(),
                                reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="avatar3d-chromium-")
    driver = chromium_driver(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def png_array(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def non_background_fraction(image: np.ndarray) -> float:
    """Share of pixels that differ clearly from the most common colour (the clear colour)."""
    flat = image.reshape(-1, 3)
    colours, counts = np.unique(flat // 8, axis=0, return_counts=True)
    background = colours[counts.argmax()] * 8 + 4
    return float((np.abs(flat - background).max(axis=1) > 24).mean())


def requested_hosts(driver) -> set[str]:
    import json

    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url.startswith(("http:", "https:", "ws:", "wss:")):
                hosts.add(urlparse(url).hostname)
    return hosts


def platform_fonts(driver, selector: str) -> list[str]:
    """Fonts Chromium actually used to draw the text of ``selector`` (CDP CSS.getPlatformFontsForNode)."""
    driver.execute_cdp_cmd("DOM.enable", {})
    driver.execute_cdp_cmd("CSS.enable", {})
    root = driver.execute_cdp_cmd("DOM.getDocument", {"depth": -1, "pierce": True})["root"]["nodeId"]
    node = driver.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = driver.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return [f["familyName"] for f in fonts]


def test_korean_text_uses_a_local_cjk_font(browser, demo_url):
    browser.get(demo_url)
    label = WebDriverWait(browser, 60).until(
        lambda d: d.find_element(By.XPATH, "//*[@id='prompt']//span[contains(., '한국어')]"))
    assert label.is_displayed()
    browser.execute_script("arguments[0].setAttribute('data-test', 'korean-label')", label)
    fonts = platform_fonts(browser, "[data-test='korean-label']")
    assert any(f.startswith(CJK_FONTS) for f in fonts), f"Korean drawn with {fonts} (install fonts-noto-cjk)"


def test_click_create_on_the_example_and_see_the_result(browser, demo_url, artifacts):
    seconds = click_create_on_example(browser, demo_url)
    time.sleep(3)  # let the viewer load the GLB and draw a few frames
    browser.save_screenshot(str(artifacts / "browser_result.png"))

    canvas = browser.find_element(By.CSS_SELECTOR, "#viewer canvas")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    time.sleep(1)
    png = canvas.screenshot_as_png
    (artifacts / "viewer_canvas.png").write_bytes(png)
    image = png_array(png)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert non_background_fraction(image) > 0.02, "the 3D viewer's canvas is blank"

    videos = browser.find_elements(By.CSS_SELECTOR, "#video video")
    assert videos, "no video element"
    source = videos[0].get_attribute("src") or videos[0].get_attribute("currentSrc")
    assert source and urlparse(source).hostname == "127.0.0.1", source

    # the page never talked to anything but this machine (no CDN, no analytics)
    hosts = requested_hosts(browser)
    assert hosts <= {"127.0.0.1", "localhost"}, hosts
    print(f"seconds from Create to result in the page: {seconds:.1f}")


def test_the_viewer_plays_the_animation(browser, artifacts):
    """Two looks at the canvas a moment apart differ: the skinned GLB animates in gr.Model3D."""
    canvas = browser.find_element(By.CSS_SELECTOR, "#viewer canvas")
    a = png_array(canvas.screenshot_as_png)
    time.sleep(0.7)
    b = png_array(canvas.screenshot_as_png)
    (artifacts / "viewer_canvas_later.png").write_bytes(canvas.screenshot_as_png)
    changed = float((np.abs(a - b).max(axis=2) > 24).mean())
    assert changed > 0.002, f"the avatar did not move ({changed:.4f} of pixels changed)"
