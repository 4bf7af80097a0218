"""Opening a report in headless Chromium: its console errors, the URLs it requested,
and a full-page screenshot.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`).
The browser reads commands from file descriptor 3 and writes replies to 4, each a JSON
message ended by a NUL byte, so no port is opened and no extra package is needed. The tests and `scripts/docs_images.py` use it; Debian's `chromium` package
provides the browser.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--remote-debugging-pipe")


class BrowserError(RuntimeError):
    """Chromium could not be started, or did not respond in time."""


class PageRender(NamedTuple):
    """The outcome of opening a page."""

    errors: list[str]
    """Console errors, uncaught exceptions and error log entries (failed loads)."""
    requests: list[str]
    """Every URL the page requested, the page itself included."""
    screenshot: bytes
    """A PNG of the whole page."""


def find_chromium() -> str | None:
    """Return the path of a Chromium on PATH, or None."""
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _Pipe:
    def __init__(self, process: subprocess.Popen, to_browser: int, from_browser: int):
        self.process = process
        self.to_browser = to_browser
        self.from_browser = from_browser
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode("utf-8") + b"\0")
        while True:
            reply = self.receive(timeout)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method} failed: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def receive(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                raise BrowserError(f"Chromium did not respond within {timeout:.0f}s")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the DevTools pipe; it may have crashed")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for(self, method: str, timeout: float) -> None:
        if any(event.get("method") == method for event in self.events):
            return
        deadline = time.monotonic() + timeout
        while True:
            event = self.receive(max(0.1, deadline - time.monotonic()))
            self.events.append(event)
            if event.get("method") == method:
                return


def _errors(events: list[dict]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            errors.append("console: " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append("exception: " + details.get("text", "") + " "
                          + details.get("exception", {}).get("description", ""))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(f"log ({entry.get('source')}): {entry.get('text')}")
    return errors


def render_page(page: Path, width: int = 1280, height: int = 900, settle: float = 0.5,
                timeout: float = 60.0) -> PageRender:
    """Open a local HTML file in headless Chromium and capture what happened.

    Raises
    ------
    BrowserError
        No Chromium is installed, or it did not start or respond within `timeout`.
    """
    chromium = find_chromium()
    if chromium is None:
        raise BrowserError("Chromium is not installed; on Debian: apt-get install chromium")
    command_read, command_write = os.pipe()
    reply_read, reply_write = os.pipe()

    def place_pipes():
        # Chromium reads commands from descriptor 3 and writes replies to 4. Copies
        # come first, so that neither dup2 overwrites the other's source.
        commands, replies = os.dup(command_read), os.dup(reply_write)
        os.dup2(commands, 3)
        os.dup2(replies, 4)
        os.set_inheritable(3, True)
        os.set_inheritable(4, True)

    with tempfile.TemporaryDirectory(prefix="clearance-chromium-") as profile:
        process = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=place_pipes)
        os.close(command_read)
        os.close(reply_write)
        pipe = _Pipe(process, command_write, reply_read)
        try:
            return _capture(pipe, page, width, height, settle, timeout)
        finally:
            try:
                pipe.send("Browser.close", timeout=5)
            except (BrowserError, OSError):
                pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.close(command_write)
            os.close(reply_read)


def _capture(pipe: _Pipe, page: Path, width: int, height: int, settle: float,
             timeout: float) -> PageRender:
    target = pipe.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Network", "Page"):
        pipe.send(f"{domain}.enable", session=session)
    pipe.send("Emulation.setDeviceMetricsOverride",
              {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
              session=session)
    pipe.events.clear()
    pipe.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
    pipe.wait_for("Page.loadEventFired", timeout)
    # Late console messages (from a timer, say) still count.
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        try:
            pipe.events.append(pipe.receive(max(0.05, deadline - time.monotonic())))
        except BrowserError:
            break
    metrics = pipe.send("Page.getLayoutMetrics", session=session)
    content = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = pipe.send("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": content["height"], "scale": 1}},
        session=session, timeout=timeout)
    requests = [e["params"]["request"]["url"] for e in pipe.events
                if e.get("method") == "Network.requestWillBeSent"]
    return PageRender(_errors(pipe.events), requests, base64.b64decode(shot["data"]))
