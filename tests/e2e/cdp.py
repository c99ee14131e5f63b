"""A small Chrome DevTools protocol client for the browser tests: headless Chromium (Debian's
package), driven over its DevTools websocket with aiohttp (which textual-serve brings), so the
tests need no browser-automation library and no browser download.

Only what the tests use: open a tab, run a script in it before the page's own, evaluate an
expression, press a key, take a screenshot, close the tab, close the browser.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

# Flags known to work on this closed network: without the networking ones Chromium stalls
# reaching for services it cannot reach.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
BINARIES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


class CDPError(RuntimeError):
    """A DevTools command failed."""


class Browser:
    """One headless Chromium with a fresh profile in ``profile``; use ``async with``."""

    def __init__(self, binary: str, profile: Path, size: tuple[int, int] = (1280, 900)) -> None:
        self.binary = binary
        self.profile = profile
        self.size = size
        self.proc: subprocess.Popen | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> "Browser":
        self.profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
             f"--window-size={self.size[0]},{self.size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Chromium writes the port it chose, and the browser's websocket path, to this file
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                await self.__aexit__()
                raise CDPError(f"Chromium did not start (exit status {self.proc.poll()})")
            await asyncio.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._ws is not None and not self._ws.closed:
            try:
                await asyncio.wait_for(self.send("Browser.close"), 5)
            except (CDPError, asyncio.TimeoutError, ConnectionError):
                pass
        if self._reader is not None:
            self._reader.cancel()
        if self._http is not None:
            await self._http.close()
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            future = self._pending.pop(data.get("id"), None)
            if future is not None and not future.done():
                future.set_result(data)

    async def send(self, method: str, params: dict | None = None, session: str | None = None,
                   timeout: float = 30) -> dict:
        """Send one command and return its result."""
        ident = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self._ws.send_json(message)
        data = await asyncio.wait_for(future, timeout)
        if "error" in data:
            raise CDPError(f"{method}: {data['error'].get('message')}")
        return data.get("result", {})

    async def new_tab(self) -> "Tab":
        target = (await self.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        session = (await self.send("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        return Tab(self, target, session)


class Tab:
    """One page of the browser."""

    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser = browser
        self.target = target
        self.session = session

    async def send(self, method: str, params: dict | None = None) -> dict:
        return await self.browser.send(method, params, self.session)

    async def before_each_page(self, source: str) -> None:
        """Run ``source`` in every page this tab loads, before the page's own scripts."""
        await self.send("Page.enable")
        await self.send("Page.addScriptToEvaluateOnNewDocument", {"source": source})

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", {"url": url})

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise CDPError(f"evaluate: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    async def press(self, char: str) -> None:
        """Type one printable character, as a keyboard would (key down with its text, key up)."""
        code = f"Key{char.upper()}" if char.isalpha() else ""
        vk = ord(char.upper())
        await self.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": char, "code": code, "text": char,
                                                   "unmodifiedText": char, "windowsVirtualKeyCode": vk})
        await self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": char, "code": code,
                                                   "windowsVirtualKeyCode": vk})

    async def screenshot(self, path: Path) -> Path:
        data = (await self.send("Page.captureScreenshot", {"format": "png"}))["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    async def close(self) -> None:
        await self.browser.send("Target.closeTarget", {"targetId": self.target})
