"""A small Chrome DevTools protocol client over --remote-debugging-pipe (no websocket library needed).

Chromium reads commands from file descriptor 3 and writes answers and events to descriptor 4, one JSON
message each, ended by a NUL byte.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--window-size=1200,1400"]


class Browser:
    def __init__(self, profile: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire():
            # Move both ends above 4 first: a pipe end that already is fd 3 or 4 would otherwise be clobbered,
            # or keep its close-on-exec flag (dup2 onto itself changes nothing).
            reader = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            writer = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(reader, 3)
            os.dup2(writer, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire, close_fds=False,  # fds 3 and 4 (dup2 clears close-on-exec) reach Chromium
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._answers: dict[int, queue.Queue] = {}
        self._next = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message and message["id"] in self._answers:
                    self._answers[message["id"]].put(message)

    def send(self, method: str, params: dict | None = None, *, session: str | None = None, timeout: float = 60):
        with self._lock:
            self._next += 1
            number = self._next
            self._answers[number] = queue.Queue()
        message = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        answer = self._answers[number].get(timeout=timeout)
        del self._answers[number]
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def page(self, method: str, params: dict | None = None):
        return self.send(method, params, session=self.session)

    def js(self, expression: str):
        result = self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_loaded(self, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.js("window.__pc_old !== true && document.readyState === 'complete'"):
                    return
            except RuntimeError:
                pass  # the page is being replaced
            time.sleep(0.1)
        raise TimeoutError("page did not load")

    def goto(self, url: str):
        self.js("window.__pc_old = true")
        self.page("Page.navigate", {"url": url})
        self.wait_loaded()

    def act(self, expression: str):
        """Run JS that submits a form (a click), then wait for the next page."""
        self.js("window.__pc_old = true")
        self.js(expression)
        self.wait_loaded()

    def press(self, key: str):
        """A real key press (keyDown/char/keyUp), then wait for the next page."""
        self.js("window.__pc_old = true")
        for kind in ("keyDown", "char", "keyUp"):
            params = {"type": kind, "key": key, "text": key} if kind != "keyUp" else {"type": kind, "key": key}
            self.page("Input.dispatchKeyEvent", params)
        self.wait_loaded()

    def screenshot(self, path: Path):
        data = self.page("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
