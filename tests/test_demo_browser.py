"""The demo as people use it: a real (headless) Chromium opens `charclf demo`, a mouse draws an L on the
sketchpad, and the page's answer must equal `charclf predict` on the very image the demo received.

Needs Debian's browser (`apt-get install -y chromium chromium-driver`) and selenium (requirements.txt); where
either is missing the test is skipped with the reason. Leaves a screenshot in outputs/figures/demo-browser.png.
"""
from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from charclf.apps.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "outputs" / "figures" / "demo-browser.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="no system Chromium: apt-get install -y chromium chromium-driver (CI does this when "
                              "apt is reachable)"),
    # gradio's own queue code trips pandas 3 deprecation warnings; they are not ours to fix.
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1300,1000"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _wait(condition, timeout=30.0, what="the page"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_drawn_l_in_a_real_browser_matches_predict(tmp_path, monkeypatch, capsys):
    pytest.importorskip("gradio", reason="gradio is not installed (pip install 'charclf[demo]')")
    pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium; in requirements.txt)")
    from charclf.apps import demo as demo_mod
    from charclf.apps.predict import default_model_dir

    if not (default_model_dir() / "model.safetensors").exists():
        pytest.skip("model_hub/default is not in this checkout")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    received = []  # every image the demo was sent, exactly as its callback got it
    real_respond = demo_mod.respond

    def recording_respond(model, sketch, top=5, **kw):
        image = demo_mod.sketch_image(sketch)
        if image is not None:
            received.append(np.asarray(image).copy())
        return real_respond(model, sketch, top=top, **kw)

    monkeypatch.setattr(demo_mod, "respond", recording_respond)
    port = _free_port()
    app = demo_mod.launch(None, port=port, block=False, quiet=True)  # what `charclf demo --port` runs
    driver = None
    try:
        assert app.local_url.startswith(f"http://127.0.0.1:{port}")
        driver = _browser()
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        driver.get(app.local_url)
        canvas = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#sketchpad canvas"), what="the sketchpad")[-1]
        # The brush is active on load: no "select the draw tool" step before the first stroke.
        _wait(lambda: "select the draw tool" not in driver.page_source, timeout=10, what="the brush to be active")
        strokes = ActionChains(driver).move_to_element_with_offset(canvas, -40, -90).click_and_hold()
        for y in range(-90, 91, 15):  # the stem, top to bottom, then the foot, left to right
            strokes.move_to_element_with_offset(canvas, -40, y)
        for x in range(-40, 51, 15):
            strokes.move_to_element_with_offset(canvas, x, 90)
        strokes.release().perform()
        answer = _wait(lambda: driver.find_element(By.ID, "answer").text.strip(), what="the answer")
        time.sleep(1.0)  # let a late change event (trigger_mode="always_last") land before reading
        answer = driver.find_element(By.ID, "answer").text.strip()
        top5 = driver.find_element(By.ID, "top5").text.split()
        preview = driver.find_element(By.CSS_SELECTOR, "#model_input img")
        natural = driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", preview)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    finally:
        if driver is not None:
            driver.quit()
        app.close()
    assert received, "the demo never received the drawing"
    assert not errors, f"console errors: {errors[:3]}"
    assert natural == [224, 224]  # the 28x28 input shown 8x with nearest neighbour
    # The same image through `charclf predict`: the same answer (and the L reads as an L).
    png = tmp_path / "drawn.png"
    Image.fromarray(received[-1]).save(png)
    capsys.readouterr()
    assert main(["predict", str(png), "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)[0]
    assert answer == entry["answer"] == "L", (answer, entry["top"])
    assert top5[top5.index("top") + 2] == entry["top"][0][0]  # the Label's headline: "top 5", then the answer
