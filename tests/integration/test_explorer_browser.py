"""The explorer page in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) steps to a position, reads the predicted moves off the
page, flips a disc, and finds the page showing what the API answers. Skipped, saying why,
where the browser or Selenium is not installed (CI installs both)."""

from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager

import pytest

from probes.acts.writer import write_cache
from probes.explorer.api import open_explorer
from probes.explorer.server import create_app
from probes.fit import FitConfig
from probes.probe_stage import run_probe_stage

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
webdriver = pytest.importorskip(
    "selenium.webdriver", reason='Selenium is not installed: pip install -e ".[browser]"'
)
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="no headless browser: apt-get install chromium chromium-driver",
)


@contextmanager
def serving(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def browser(profile):
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never let Selenium look for drivers on the network
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1500,1100", f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, script: str, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def test_page_shows_what_the_api_answers(tiny_run, tiny_corpus, tmp_path):
    acts = write_cache(tiny_run, tiny_corpus, tmp_path / "acts.h5", n_games=150, progress=False)
    run_probe_stage(acts, tmp_path / "probes", FitConfig(probes=("mine_theirs/linear",)), False)
    app = create_app(open_explorer(tiny_run, [tiny_corpus], tmp_path / "probes"))
    client = app.test_client()
    names = "ABCDEFGH"

    def name(s):
        return f"{names[s % 8]}{s // 8 + 1}"

    def top(predictions, n):
        return [name(s) for s in sorted(range(64), key=lambda s: -predictions[s])[:n]]

    with serving(app) as url, browser(tmp_path / "profile") as driver:
        driver.get(url)
        wait_for(driver, "return document.body.getAttribute('data-ready') === '1'")
        game = int(driver.execute_script("return document.getElementById('game').value"))
        body = driver.find_element("tag name", "body")
        for _ in range(12):  # step forward with the arrow key
            body.send_keys("\ue014")
        wait_for(
            driver, "return document.getElementById('ply-label').textContent.startsWith('ply 12 ')"
        )
        position = client.get(f"/api/position?game={game}&ply=12").json
        shown = driver.find_element("id", "top-moves").text.split()
        assert shown == top(position["predictions"], len(position["legal"]))
        assert driver.find_element("id", "legal-moves").text.split() == [
            name(s) for s in position["legal"]
        ]
        square = next(s for s, c in enumerate(position["board"]) if c)
        driver.execute_script(
            "document.querySelector(`#board-svg g[data-square='${arguments[0]}']`)"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))",
            square,
        )
        wait_for(driver, "return document.getElementById('edited-legal') !== null")
        info = client.get("/api/info").json
        edit = client.get(
            f"/api/intervene?game={game}&ply=12&square={square}&method={info['defaults']['method']}"
            f"&layer={info['defaults']['layer']}&scale={info['defaults']['scale']}"
        ).json
        assert driver.find_element("id", "edited-legal").text.split() == [
            name(s) for s in edit["legal_after"]
        ]
        assert driver.find_element("id", "edited-top").text.split() == top(
            edit["predictions_after"], len(edit["legal_after"])
        )
        empty = next(s for s, c in enumerate(position["board"]) if not c)
        driver.execute_script(
            "document.querySelector(`#board-svg g[data-square='${arguments[0]}']`)"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))",
            empty,
        )
        assert "empty" in driver.find_element("id", "error").text
        # the circuits panel: a neuron's page and the prediction's attribution, as the API answers
        driver.find_element("id", "neuron-layer").clear()
        driver.find_element("id", "neuron-layer").send_keys("1")
        driver.find_element("id", "neuron-button").click()
        wait_for(driver, "return document.getElementById('neuron-sparkline') !== null")
        neuron = client.get(f"/api/neuron?game={game}&ply=12&layer=1&neuron=0").json
        assert driver.find_element("id", "neuron-promotes").text.split() == neuron["promotes"]
        points = driver.find_element("css selector", "#neuron-sparkline polyline")
        assert len(points.get_attribute("points").split()) == len(neuron["activation"])
        driver.find_element("id", "attribution-button").click()
        wait_for(driver, "return document.getElementById('attribution-title') !== null")
        attribution = client.get(f"/api/attribution?game={game}&ply=12").json
        title = driver.find_element("id", "attribution-title").text
        assert f"of {attribution['predicted']} (logit {attribution['logit']:.3f}" in title
        driver.save_screenshot(str(tmp_path / "explorer.png"))
    assert (tmp_path / "explorer.png").stat().st_size > 20_000
