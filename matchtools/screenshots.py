"""``make screenshots``: the match centre in Chromium, at desktop and phone width, with a real match in it.

Starts a throw-away `make run` stack, imports a StatsBomb-format events file
(the test fixture unless one is given), opens the page headless and writes
``docs/match-centre-desktop.png`` and ``docs/match-centre-phone.png``.
"""

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from devstack.run_process import RunProcess
from devstack.stack import free_port
from matchtools.client import ApiClient
from matchtools.statsbomb import convert

PROJECT = Path(__file__).resolve().parents[1]
FIXTURE = PROJECT / "tests" / "fixtures" / "statsbomb_events.json"
SIZES = {"desktop": (1280, 1500, False), "phone": (375, 1400, True)}  # width, height, mobile


def chromium(width: int, height: int) -> webdriver.Chrome:
    """Debian's Chromium, headless, through Debian's chromedriver."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        raise FileNotFoundError("chromium and chromedriver: apt-get install chromium chromium-driver")
    options = Options()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m matchtools.screenshots", description=__doc__)
    parser.add_argument("file", nargs="?", type=Path, default=FIXTURE, help="StatsBomb events JSON")
    parser.add_argument("--match-id", default="statsbomb-demo")
    parser.add_argument("--out", type=Path, default=PROJECT / "docs")
    args = parser.parse_args(argv)
    events, _ = convert(json.loads(args.file.read_text()), args.match_id, datetime(2024, 7, 14, 19, tzinfo=UTC))
    token = "screenshots"
    stack = RunProcess(Path(tempfile.mkdtemp(prefix="screenshots-")) / "data", free_port(), token)
    try:
        client = ApiClient(stack.url, token)
        for start in range(0, len(events), 500):
            client.post_events(events[start : start + 500])
        deadline = time.monotonic() + 300
        while len(client.timeline(args.match_id)) < len(events) and time.monotonic() < deadline:
            time.sleep(0.5)
        args.out.mkdir(parents=True, exist_ok=True)
        for name, (width, height, mobile) in SIZES.items():
            browser = chromium(1280, 900)
            try:  # device metrics, not the window: headless Chromium keeps windows at least 500 px wide
                browser.execute_cdp_cmd(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
                )
                browser.get(f"{stack.url}/#{args.match_id}")
                WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#timeline li"))
                WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "connection").text == "live")
                path = args.out / f"match-centre-{name}.png"
                browser.save_screenshot(str(path))
                print(f"{path} ({len(events)} events of {args.match_id})")
            finally:
                browser.quit()
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
