"""Real-browser check: the app served by `streamlit run` shows every page of a workspace.

Run as: make test-e2e   (needs Debian's chromium at /usr/bin/chromium and playwright)
Screenshots go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.prepared import prepare_workspace

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
PAGES = {"data": "Data", "dedup": "Duplicates", "run": "Run", "rate": "Rate", "report": "Report"}
pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer at {url}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workspace = prepare_workspace(tmp_path_factory.mktemp("e2e") / "ws")
    port = free_port()
    env = {**os.environ, "WORKBENCH_WORKSPACE": str(workspace)}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
         "true", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("no browser: apt-get install chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        yield browser
        browser.close()


@pytest.mark.parametrize("slug", PAGES)
def test_each_page_renders_in_a_real_browser(server, browser, slug):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/{slug}")
    page.get_by_role("heading", name=PAGES[slug]).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # let tables and charts settle for the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{slug}.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0
    page.close()
