"""What the real-browser tests share: a `streamlit run` server of app.py, screenshots, pages.

The server is the real one (``python -m streamlit run app.py``) in its own process, so a test
can kill it with SIGKILL and start another on the same workspace.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
WAIT_MS = 60_000  # one page action on a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer at {url}")


def start_server(workspace: Path, port: int, log: Path | None = None,
                 env: dict | None = None) -> subprocess.Popen:
    """``streamlit run app.py`` on 127.0.0.1:``port`` over ``workspace``; returns once it
    answers its health check. Output goes to ``log`` (or nowhere)."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (the child owns it)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
         "true", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false"], cwd=ROOT,
        env={**os.environ, **(env or {}), "WORKBENCH_WORKSPACE": str(workspace)},
        stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
    except TimeoutError:
        process.kill()
        raise
    return process


@contextmanager
def served(workspace: Path, log: Path | None = None,
           keep_log: str | None = None) -> Iterator[str]:
    """The app over ``workspace`` on a free 127.0.0.1 port while the block runs; yields its
    URL and stops the server after. With ``log`` and ``keep_log``, the server's output is
    copied to test-artifacts/KEEP_LOG once it has stopped (its tracebacks, for a failure seen
    in CI)."""
    port = free_port()
    process = start_server(workspace, port, log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        if log and keep_log:
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(log, ARTIFACTS / keep_log)


def first_start(page, password: str) -> None:
    """On the first-start form, set the admin password and log in; waits for the Data page."""
    heading(page, "First start: set the admin password")
    page.get_by_label("New admin password").fill(password)
    page.get_by_label("Repeat it").fill(password)
    page.get_by_role("button", name="Set password and log in").click()
    heading(page, "Data")


def admin_login(page, password: str) -> None:
    """On the login form (the admin password already set), log in as the admin; waits for
    the Data page."""
    page.get_by_label("Admin password").fill(password)
    page.get_by_role("button", name="Log in").click()
    heading(page, "Data")


def rater_login(page, token: str) -> None:
    """On the login form, start rating with the invite ``token`` (waits for nothing)."""
    page.get_by_label("Invite token").fill(token)
    page.get_by_role("button", name="Start rating").click()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def shot(page, name: str) -> None:
    """A full-page screenshot in test-artifacts/NAME.png; the page must show no exception."""
    page.wait_for_timeout(800)  # let tables and charts settle for the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    # Streamlit scrolls inside its main section, which full_page does not see: make the
    # window as tall as that section for the shot (at most 6000 px), then restore it
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\")"
                           "?.scrollHeight ?? 0")
    if height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(height, 6000)})
        page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)
    errors = page.locator("[data-testid='stException']").all_inner_texts()
    assert not errors, f"{name}: {errors}"


def new_page(browser, requests: list | None = None):
    """A page in a new browser context (its own cookies: another person)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    if requests is not None:
        page.on("request", lambda request: requests.append(request.url))
    return page


def heading(page, name: str) -> None:
    page.get_by_role("heading", name=name).first.wait_for(timeout=WAIT_MS)


def go(page, title: str, heading_text: str | None = None) -> None:
    """Click the sidebar link ``title`` and wait for the page's heading (``heading_text``,
    else the title)."""
    page.get_by_role("link", name=title, exact=True).click()
    heading(page, heading_text or title)


def expect_text(page, text, timeout: int = WAIT_MS):
    """Wait until ``text`` (a string or compiled regex) shows; on a timeout, save
    test-artifacts/failure.png and fail with the page's error lines."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    locator = page.get_by_text(text).first
    try:
        locator.wait_for(timeout=timeout)
    except PlaywrightTimeout:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        errors = page.locator("[data-testid='stAlertContentError']").all_inner_texts()
        raise AssertionError(f"{text!r} did not show; errors on the page: {errors}") from None
    return locator


def settle(page, timeout: int = WAIT_MS) -> None:
    """Wait until the script run behind the page has finished: no "running" status and no
    stale element left. A click on a stale button (the previous item's) is lost on a loaded
    machine, so a rater waits for this after each acknowledgement before clicking again."""
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget']\")"
        " && !document.querySelector(\"[data-stale='true']\")", timeout=timeout)


def upload(page, file: Path, timeout: int = WAIT_MS) -> None:
    """Put ``file`` into the page's st.file_uploader and wait until its upload has finished
    (the file's chip shows its name and no spinner). The upload is a separate request: a
    form submitted while it is still in flight carries no file, which a loaded machine hits."""
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(file))
    page.locator("[data-testid='stFileChipName']", has_text=file.name).wait_for(timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stFileChipIconSpinner']\")",
        timeout=timeout)
