"""A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe` (file descriptors 3
and 4 of the browser, messages as JSON ended by a NUL byte), enough for the page tests to type
into a form, follow pages and wait for a download with Debian's Chromium and no other package."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from pathlib import Path


class Browser:
    def __init__(self, chromium: Path, flags: list[str], profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # in the child: the pipes become its fds 3 and 4 (kept open below)
            high_r, high_w = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            [str(chromium), *flags, "--remote-debugging-pipe", f"--user-data-dir={profile}"],
            pass_fds=(3, 4, to_browser_r, from_browser_w),
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("the browser did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise ConnectionError("the browser closed its pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_for(self, method: str, timeout: float = 60, **match) -> dict:
        """The first event `method` (seen already or arriving) whose params hold `match`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                params = event.get("params", {})
                if event.get("method") == method and all(
                    params.get(k) == v for k, v in match.items()
                ):
                    self.events.remove(event)
                    return params
            seen = len(self.events)
            self.events.append(self._read_message(deadline))

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


class Tab:
    """One page of the browser with Page, Runtime and Log events on."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = browser.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def send(self, method: str, **params):
        return self.browser.send(method, self.session, **params)

    def open(self, url: str, settle_s: float = 1.0) -> None:
        self.send("Page.navigate", url=url)
        self.browser.wait_for("Page.loadEventFired")
        time.sleep(settle_s)  # scripts that draw after the load event

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def submit(self, fields: dict[str, str]) -> None:
        """Type into the page's form fields and send it; waits for the next page."""
        script = "".join(
            f"document.querySelector('[name={name}]').value = {json.dumps(value)};"
            for name, value in fields.items()
        )
        self.evaluate(script + "document.forms[0].submit();")
        self.browser.wait_for("Page.loadEventFired")

    def problems(self) -> list[str]:
        """Script errors and refused resources (CSP, network) the pages reported so far."""
        found = []
        for event in self.browser.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(str(params["entry"].get("text")))
        return found
