"""``ray-preflight --help`` says what each option takes, and what no option can say (the environment, the settings
file, the exit codes, where options go); shell completion for bash, zsh and fish. Through the real command, in child
processes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from preflight import settings
from tests.conftest import run_cli

#: Each option and what its help shows after its name.
METAVARS = {
    "--timeout": "SECONDS", "--connect-timeout": "SECONDS",
    "--only": "IDS", "--skip": "IDS", "--ignore": "IDS",
    "--dashboard-url": "URL", "--address": "ADDRESS", "--gcs-address": "HOST:PORT",
    "--kubeconfig": "FILE", "--ca-bundle": "FILE", "--script": "FILE", "--runtime-env": "FILE", "--junit-xml": "FILE",
    "--fib-size": "N", "--fib-tasks": "N",
    "--profile": "NAME", "--context": "NAME", "--namespace": "NAME", "--domain": "NAME",
    "--format": "[text|json|junit]", "--route": "[client|jobs]",
}


def script() -> str:
    """The ``ray-preflight`` console script of this Python (completion scripts call the program by that name)."""
    found = shutil.which("ray-preflight", path=os.path.dirname(sys.executable))
    if found is None:
        pytest.fail("no ray-preflight console script next to this Python: pip install -e '.[test]'")
    return found


def command(args: List[str], env_extra: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=os.path.dirname(script()) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("RAY_ADDRESS", None)
    env.update(env_extra or {})
    return subprocess.run([script(), *args], capture_output=True, text=True, env=env, timeout=60)


def flat(text: str) -> str:
    """The help with its wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def main_help() -> str:
    proc = run_cli(["--help"])
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    return proc.stdout


def test_help_shows_what_each_option_takes(main_help: str) -> None:
    for option, metavar in METAVARS.items():
        assert re.search(rf"(^ +|, ){re.escape(option)} {re.escape(metavar)}( |$)", main_help, re.M), f"{option} {metavar}"
    assert "<str>" not in main_help and "TEXT" not in main_help
    assert re.search(r"^  --scale-test\[=full\] ", main_help, re.M)  # its value is optional, so it is attached
    text = flat(main_help)
    assert "How to show the result. [default: text]" in text
    assert "Deadline for the whole run (default 60 s;" in text and "(default 3 s)" in text
    assert "--install-completion [bash|zsh|fish]" in text and "--show-completion [bash|zsh|fish]" in text


def test_help_names_the_environment_the_settings_file_the_exit_codes_and_where_options_go(main_help: str) -> None:
    text = flat(main_help)
    variables = ["RAY_ADDRESS", "KUBECONFIG"] + [variable for _, variable, _ in settings.KEYS.values() if variable]
    for variable in variables:
        assert re.search(rf"^ +{variable} +--", main_help, re.M), variable
    assert "RAY_PREFLIGHT_TIMEOUT --timeout" in text and "RAY_PREFLIGHT_DEBUG=1" in text
    assert "Settings file: ray-preflight.toml, or [tool.ray-preflight] in pyproject.toml, the nearest one from the working " \
           "directory upwards" in text
    for code, meaning in [("0", "GO"), ("1", "NO-GO"), ("2", "unusable input"), ("130", "interrupted")]:
        assert re.search(rf"^ +{code} +{meaning}\b", main_help, re.M), code
    assert "Options go after the command (`ray-preflight report --address …`)" in text


def test_the_options_after_the_command_rule_is_the_one_enforced() -> None:
    proc = run_cli(["--timeout", "5", "report"])
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "ray-preflight: error: --timeout before `report` would be ignored: options go after the command "
        "(see ray-preflight report --help)")


def test_the_commands_help_shows_what_their_options_take() -> None:
    report = run_cli(["report", "--help"])
    assert report.returncode == 0
    assert all(f"{option} {metavar}" in report.stdout for option, metavar in METAVARS.items() if option not in ("--format", "--junit-xml"))
    assert "--output PATH" in report.stdout and "--redact PATTERN" in report.stdout and "<str>" not in report.stdout
    for name in ("list", "profiles"):
        assert "-f, --format [text|json]" in run_cli([name, "--help"]).stdout


def test_timeouts_stay_validated_by_the_tool_not_by_their_metavar() -> None:
    proc = run_cli(["--address", "ray://127.0.0.1:1", "--timeout", "soon"])
    assert proc.returncode == 2 and "number of seconds" in proc.stderr and len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o default -F _ray_preflight_completion ray-preflight"),
                                           ("zsh", "#compdef ray-preflight"),
                                           ("fish", "complete --command ray-preflight")])
def test_show_completion_prints_the_named_shells_script(shell: str, marker: str) -> None:
    for args in (["--show-completion", shell], [f"--show-completion={shell}"]):
        proc = command(args)
        assert proc.returncode == 0 and not proc.stderr, proc.stderr
        assert marker in proc.stdout and f"_RAY_PREFLIGHT_COMPLETE=complete_{shell}" in proc.stdout


def test_show_completion_refuses_a_shell_it_does_not_know() -> None:
    proc = command(["--show-completion", "tcsh"])
    assert proc.returncode == 2 and not proc.stdout
    assert proc.stderr.startswith("ray-preflight: error: ") and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in proc.stderr


def complete_bash(words: str, cword: int, args: Optional[List[str]] = None) -> List[str]:
    """What the bash completion script asks of the program: the candidates for word ``cword`` of ``words``."""
    proc = command(args or [], {"_RAY_PREFLIGHT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    return proc.stdout.split()


def test_a_bash_completion_request_completes_options_commands_and_values() -> None:
    assert complete_bash("ray-preflight --ti", 1) == ["--timeout"]
    assert complete_bash("ray-preflight --conn", 1) == ["--connect-timeout"]
    assert complete_bash("ray-preflight rep", 1) == ["report"]
    assert complete_bash("ray-preflight report --ru", 2) == ["--runtime-env"]
    assert complete_bash("ray-preflight --format ", 2) == ["text", "json", "junit"]
    assert complete_bash("ray-preflight --route j", 2) == ["jobs"]
    assert "fy23-q2" in complete_bash("ray-preflight --profile ", 2)
    assert complete_bash("ray-preflight --only ray-version,python-v", 2) == ["ray-version,python-version"]
    assert complete_bash("ray-preflight --ignore al", 2) == ["all"] and complete_bash("ray-preflight --only al", 2) == []
    # the request reaches the CLI framework even where --version alone has a fast path
    assert complete_bash("ray-preflight --vers", 1, ["--version"]) == ["--version"]


def test_the_bash_script_completes_in_a_real_bash() -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on this machine")
    source = command(["--show-completion", "bash"]).stdout
    proc = subprocess.run([bash, "--norc", "--noprofile", "-c", source + "\nCOMP_WORDS=(ray-preflight --ti); COMP_CWORD=1\n"
                           "_ray_preflight_completion ray-preflight\nprintf '%s\\n' \"${COMPREPLY[@]}\""],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PATH=os.path.dirname(script()) + os.pathsep + os.environ.get("PATH", "")))
    assert proc.returncode == 0 and proc.stdout.split() == ["--timeout"], proc.stderr


@pytest.mark.parametrize("shell, rc_file, installed", [("bash", ".bashrc", ".bash_completions/ray-preflight.sh"),
                                                       ("zsh", ".zshrc", ".zfunc/_ray-preflight"),
                                                       ("fish", None, ".config/fish/completions/ray-preflight.fish")])
def test_install_completion_writes_into_the_home_it_is_given(tmp_path: Path, shell: str, rc_file: Optional[str], installed: str) -> None:
    real = [Path.home() / name for name in (rc_file, installed) if name]
    before = [_state(path) for path in real]
    proc = command(["--install-completion", shell], {"HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"{shell} completion installed in {tmp_path / installed}")
    assert f"_RAY_PREFLIGHT_COMPLETE=complete_{shell}" in (tmp_path / installed).read_text()
    if rc_file == ".bashrc":
        assert f"source '{tmp_path / installed}'" in (tmp_path / rc_file).read_text()
    elif rc_file:
        assert (tmp_path / rc_file).is_file()
    assert [_state(path) for path in real] == before  # the files it writes, in the real HOME: untouched


def _state(path: Path) -> Optional[str]:
    return path.read_text() if path.is_file() else None


def test_version_alone_stays_without_the_cli_framework() -> None:
    code = "import sys; from preflight.cli import run_cli; run_cli(['--version']); print('typer' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["ray-preflight", "0.1.0", "False"], proc.stderr
