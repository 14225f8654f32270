"""Render local HTML files in headless Chromium and collect errors and image states.

Pure Python: Chromium's DevTools protocol over ``--remote-debugging-pipe`` (the browser
reads JSON commands from fd 3 and writes replies and events to fd 4, each message ending
with a NUL byte). For every page we collect

- console messages of level error and uncaught exceptions (``Runtime`` domain),
- browser log entries of level error, e.g. blocked or failed resource loads (``Log``),
- failed network requests (``Network.loadingFailed``),
- for every ``<img>``: ``complete`` and ``naturalWidth`` after the load event.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)


def available() -> bool:
    return Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)


@dataclass
class Rendered:
    """What a page did in the browser."""

    images: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def broken_images(self) -> list[dict]:
        return [i for i in self.images if not (i["complete"] and i["naturalWidth"] > 0)]


def _high_fd(fd: int) -> int:
    """Duplicate ``fd`` to a number >= 10 so that moving the ends to fds 3 and 4 cannot clash."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return new


class HeadlessChromium:
    """One browser process; ``render(path)`` opens a page in a fresh tab."""

    def __init__(self, timeout: float = 90.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="robustlaw-chromium-")
        to_browser_r, to_browser_w = (_high_fd(fd) for fd in os.pipe())
        from_browser_r, from_browser_w = (_high_fd(fd) for fd in os.pipe())
        # A small exec shim puts the pipe ends on fds 3 and 4, where Chromium expects them.
        shim = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
            "os.execv(sys.argv[3], sys.argv[3:])"
        )
        self.log_path = Path(self._profile) / "stderr.log"
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    shim,
                    str(to_browser_r),
                    str(from_browser_w),
                    CHROMIUM,
                    *FLAGS,
                    f"--user-data-dir={self._profile}",
                ],
                pass_fds=(to_browser_r, from_browser_w),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._write_fd = to_browser_w
        self._read_fd = from_browser_r
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []

    # -- protocol -------------------------------------------------------------------

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write_fd, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self._read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self._read_fd, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the debugging pipe")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _call(self, method: str, params: dict | None = None, session: str | None = None):
        call_id = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    def _wait_event(self, method: str, session: str) -> None:
        deadline = time.monotonic() + self.timeout
        for event in self._events:
            if event.get("method") == method and event.get("sessionId") == session:
                return
        while True:
            message = self._read_message(deadline)
            self._events.append(message)
            if message.get("method") == method and message.get("sessionId") == session:
                return

    # -- pages ----------------------------------------------------------------------

    def render(self, path: Path, settle: float = 0.5) -> Rendered:
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._call(f"{domain}.enable", session=session)
        self._events = [e for e in self._events if e.get("sessionId") != session]
        self._call("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=session)
        self._wait_event("Page.loadEventFired", session)
        # Let late console messages and log entries arrive.
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._read_fd], [], [], deadline - time.monotonic())
            if not ready:
                break
            self._events.append(self._read_message(time.monotonic() + self.timeout))
        expression = (
            "JSON.stringify(Array.from(document.images).map(i => ({src: i.src.slice(0, 40),"
            " alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth})))"
        )
        value = self._call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
        )["result"]["value"]
        rendered = Rendered(images=json.loads(value))
        for event in self._events:
            if event.get("sessionId") != session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                rendered.errors.append(
                    f"uncaught: {details.get('text')} {details.get('exception')}"
                )
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = [a.get("value", a.get("description")) for a in params.get("args", [])]
                rendered.errors.append(f"console.{params['type']}: {args}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                rendered.errors.append(f"log ({entry.get('source')}): {entry.get('text')}")
            elif method == "Network.loadingFailed":
                rendered.errors.append(
                    f"load failed: {params.get('errorText')} ({params.get('blockedReason')})"
                )
        self._call("Target.closeTarget", {"targetId": target})
        return rendered

    def close(self) -> None:
        try:
            self._send("Browser.close")
            self._proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            # The browser leads its own session: end it and its helpers by its group id.
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()
        finally:
            for fd in (self._write_fd, self._read_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> HeadlessChromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
