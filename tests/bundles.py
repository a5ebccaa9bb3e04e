"""Helpers for the support-bundle tests: open a bundle, and read its index.html the way a browser renders it.

The browser is Debian's ``chromium``, run headless in a network namespace of its own (``unshare -n``: only a
loopback device) where that is allowed, and always with background networking off and every host name
resolving to nothing, so the page proves it needs no network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from html.parser import HTMLParser
from typing import Dict, List, Optional, Tuple

import pytest

from preflight.bundle import PREFIX, SUFFIX

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--host-resolver-rules=MAP * ~NOTFOUND")


def open_bundle(path: str) -> Dict[str, bytes]:
    """The bundle's files by their path inside its one top folder (which must be named like the archive)."""
    assert os.path.basename(path).startswith(PREFIX) and path.endswith(SUFFIX), path
    root = re.sub(r"-\d+$", "", os.path.basename(path)[: -len(SUFFIX)])  # a same-second bundle's "-2" is in its file name only
    files: Dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive.getmembers():
            assert member.isfile(), member.name
            top, _, name = member.name.partition("/")
            assert top == root, (top, root)
            extracted = archive.extractfile(member)
            assert extracted is not None
            files[name] = extracted.read()
    return files


def chromium() -> Optional[str]:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("RAY_PREFLIGHT_REQUIRE_BROWSER"):
        pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
    return found


def _isolated(command: List[str]) -> List[str]:
    """``command`` in a network namespace with only loopback, when this machine lets us make one."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True, timeout=10).returncode == 0:
        return [unshare, "-n", *command]
    return command


def rendered_dom(files: Dict[str, bytes]) -> str:
    """Extract the bundle into a folder and return the DOM chromium renders from its index.html."""
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="preflight-bundle-") as folder:
        for name, data in files.items():
            target = os.path.join(folder, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
        profile = os.path.join(folder, ".browser-profile")
        command = _isolated([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                             f"file://{os.path.join(folder, 'index.html')}"])
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


_VOID = ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr")


class Page(HTMLParser):
    """What a person sees: the verdict's text, each check row (id → status, text), each cluster piece, the links."""

    def __init__(self, dom: str):
        super().__init__()
        self._status: Dict[str, str] = {}
        self.verdict = ""
        self.checks: Dict[str, Tuple[str, str]] = {}
        self.pieces: Dict[str, str] = {}
        self.links: List[str] = []
        self._open: List[Tuple[str, str, str]] = []  # (tag, kind, key)
        self._text: Dict[Tuple[str, str], List[str]] = {}
        self.feed(dom)
        for (kind, key), parts in self._text.items():
            text = " ".join(" ".join(parts).split())
            if kind == "verdict":
                self.verdict = text
            elif kind == "check":
                self.checks[key] = (self._status[key], text)
            elif kind == "piece":
                self.pieces[key] = text

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))
        if found.get("id") == "verdict":
            self._open.append((tag, "verdict", ""))
        elif found.get("data-check"):
            key = str(found["data-check"])
            self._status[key] = str(found.get("data-status"))
            self._open.append((tag, "check", key))
        elif found.get("data-piece"):
            self._open.append((tag, "piece", str(found["data-piece"])))
        elif self._open and tag not in _VOID:
            self._open.append((tag, "", ""))

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag not in _VOID:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for _, kind, key in self._open:
            if kind:
                self._text.setdefault((kind, key), []).append(data)
                break
