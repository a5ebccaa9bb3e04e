"""The interpreter finder, on fake PATH, pyenv, uv and conda folders holding real links to real interpreters (and a
few scripts that only pretend): each candidate is run to verify it, whatever its path says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator

import pytest

from preflight import interpreters
from tests.worlds import find_python, interpreter_version, unavailable


@pytest.fixture(scope="module")
def py38() -> str:
    found = find_python("3.8")
    if found is None:
        unavailable("no Python 3.8 on this machine (PATH, pyenv): the finder's tests link to a real one")
    assert found is not None
    return os.path.realpath(found)


@pytest.fixture(scope="module")
def py38_version(py38: str) -> str:
    version = interpreter_version(py38)
    assert version is not None
    return version


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "home"
    folder.mkdir()
    yield folder


def _env(home: Path, *path: Path, **extra: str) -> Dict[str, str]:
    """A machine with nothing but these folders on PATH and an empty home (no pyenv, uv or conda of the real one)."""
    return dict({"HOME": str(home), "PATH": os.pathsep.join(str(p) for p in path)}, **extra)


def _link(target: str, link: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def test_a_python3_8_on_path_is_found_and_resolved_to_the_real_interpreter(tmp_path: Path, home: Path, py38: str,
                                                                           py38_version: str) -> None:
    link = _link(py38, tmp_path / "bin" / "python3.8")
    search = interpreters.find("3.8", _env(home, tmp_path / "bin"))
    assert search.chosen is not None
    assert search.chosen.path == str(link) and search.chosen.source == "PATH"
    assert search.chosen.version == py38_version and search.chosen.executable == py38


def test_pyenv_versions_are_read_newest_patch_first_and_each_is_run(tmp_path: Path, home: Path, py38: str) -> None:
    root = tmp_path / "pyenv"
    broken = _link(str(tmp_path / "gone"), root / "versions" / "3.8.100" / "bin" / "python3.8")
    good = _link(py38, root / "versions" / "3.8.99" / "bin" / "python3.8")
    _link(py38, root / "versions" / "3.8.99" / "envs" / "x" / "bin" / "python3.8")  # a pyenv-virtualenv: not a version
    _link(py38, root / "versions" / "3.8-dev" / "bin" / "python3.8")  # not a release: left out
    search = interpreters.find("3.8", _env(home, tmp_path / "empty", PYENV_ROOT=str(root)))
    assert [c.path for c in search.candidates] == [str(broken), str(good)]
    assert search.candidates[0].problem is not None and "does not run" in search.candidates[0].problem
    assert search.chosen is not None and search.chosen.path == str(good) and search.chosen.source == "pyenv"
    assert any(str(root / "versions") in place for place in search.looked_in)


def test_a_link_named_python3_8_that_runs_another_python_is_refused(tmp_path: Path, home: Path, py38: str) -> None:
    _link(sys.executable, tmp_path / "bin" / "python3.8")  # the Python running the tests: not 3.8
    good = _link(py38, home / ".pyenv" / "versions" / "3.8.5" / "bin" / "python3.8")
    search = interpreters.find("3.8", _env(home, tmp_path / "bin"))
    first = search.candidates[0]
    assert first.source == "PATH" and first.problem == f"is Python {interpreter_version(sys.executable)}, not 3.8"
    assert search.chosen is not None and search.chosen.path == str(good)  # ~/.pyenv of this home


def test_the_same_interpreter_reached_twice_is_one_candidate(tmp_path: Path, home: Path, py38: str) -> None:
    _link(py38, tmp_path / "bin" / "python3.8")
    _link(py38, tmp_path / "pyenv" / "versions" / "3.8.18" / "bin" / "python3.8")
    search = interpreters.find("3.8", _env(home, tmp_path / "bin", PYENV_ROOT=str(tmp_path / "pyenv")))
    assert len(search.candidates) == 1 and search.candidates[0].source == "PATH"


def test_uv_and_conda_folders_are_read(tmp_path: Path, home: Path, py38: str) -> None:
    data = tmp_path / "data"
    uv = _link(py38, data / "uv" / "python" / "cpython-3.8.20-linux-x86_64-gnu" / "bin" / "python3.8")
    found = interpreters.find("3.8", _env(home, tmp_path / "empty", XDG_DATA_HOME=str(data)))
    assert found.chosen is not None and found.chosen.path == str(uv) and found.chosen.source == "uv"
    conda_env = tmp_path / "conda" / "envs" / "py38"
    conda = _link(py38, conda_env / "bin" / "python3.8")
    (home / ".conda").mkdir()
    (home / ".conda" / "environments.txt").write_text(f"{conda_env}\n")
    found = interpreters.find("3.8", _env(home, tmp_path / "empty"))
    assert found.chosen is not None and found.chosen.path == str(conda) and found.chosen.source == "conda"


def test_a_virtual_environment_is_traced_back_to_its_base_interpreter(tmp_path: Path, home: Path, py38: str) -> None:
    venv = tmp_path / "venv"
    subprocess.run([py38, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    _link(str(venv / "bin" / "python"), tmp_path / "bin" / "python3.8")
    search = interpreters.find("3.8", _env(home, tmp_path / "bin"))
    assert search.chosen is not None and search.chosen.executable == py38


def test_interpreters_that_cannot_make_an_environment_are_named_with_the_reason(tmp_path: Path, home: Path) -> None:
    _script(tmp_path / "a" / "python3.8", "echo 'error while loading shared libraries: libpython3.8.so' >&2; exit 127")
    _script(tmp_path / "b" / "python3.8",
            "echo '{\"version\": \"3.8.10\", \"implementation\": \"CPython\", \"executable\": \"/usr/bin/python3.8\", "
            "\"prefix\": \"/usr\", \"base_prefix\": \"/usr\", \"venv\": true, \"ensurepip\": false}'")
    _script(tmp_path / "c" / "python3.8", "exec sleep 30")
    search = interpreters.find("3.8", _env(home, tmp_path / "a", tmp_path / "b"))
    assert search.chosen is None
    problems = [c.problem for c in search.candidates]
    assert problems[0] == "does not run: error while loading shared libraries: libpython3.8.so"
    assert "no ensurepip" in str(problems[1]) and "python3.8-venv" in str(problems[1])
    slow = interpreters.verify(str(tmp_path / "c" / "python3.8"), {"PATH": os.defpath}, timeout=0.5)
    assert slow == {"problem": "did not answer within 0.5 s"}


def test_the_servers_own_patch_is_preferred(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path) -> None:
    """Several usable 3.8s: the one of the server's patch wins over the first found (PATH)."""
    versions = {"a": "3.8.10", "b": "3.8.18"}
    for name in versions:
        _script(tmp_path / name / "python3.8", "exit 0")

    def fake_verify(path: str, environ: object, timeout: float = 1.0) -> Dict[str, object]:
        name = Path(path).parent.name
        return {"version": versions[name], "implementation": "CPython", "executable": path, "prefix": "/p" + name,
                "base_prefix": "/p" + name, "venv": True, "ensurepip": True}

    monkeypatch.setattr(interpreters, "verify", fake_verify)
    env = _env(home, tmp_path / "a", tmp_path / "b")
    assert interpreters.find("3.8", env, prefer="3.8.18").chosen.version == "3.8.18"  # type: ignore[union-attr]
    assert interpreters.find("3.8", env, prefer="3.8.13").chosen.version == "3.8.10"  # type: ignore[union-attr]
    assert interpreters.find("3.8", env).chosen.version == "3.8.10"  # type: ignore[union-attr]


def test_nothing_found_says_where_it_looked_and_what_would_install_one(tmp_path: Path, home: Path) -> None:
    env = _env(home, tmp_path / "empty")
    search = interpreters.find("3.8", env)
    assert search.chosen is None and search.candidates == []
    assert search.looked_in[0] == "PATH (python3.8)" and "~/.pyenv/versions" in search.looked_in[1]
    lines = interpreters.install_lines("3.8", env)
    assert lines[0].startswith("uv python install 3.8") and lines[1].startswith("pyenv install 3.8")
