"""The suite's rule for a head's hiccup (tests/real_runs.py): a failed run whose output shows that the head lost the
Ray Client server of its session is repeated once, with a warning that carries that server's log; anything else is
returned as it is, and a hiccup that repeats is the answer."""

from __future__ import annotations

import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterator, List, Tuple

import pytest

from tests.real_runs import HEAD_HICCUPS, hiccup_log, once_more_after_a_hiccup, run

RAY_SAYS = f"RuntimeError: {HEAD_HICCUPS[0]}. See ray_client_server_23999.err for detailed logs."
#: What a session that landed on another head's per-client server gets (measured with two heads on one machine).
CROSSED = ("ConnectionAbortedError: Initialization failure from server:\n"
           "Call to `ray.init()` on the server failed with: Perhaps you called ray.init twice by accident?")


@pytest.fixture
def head_logs() -> Iterator[Path]:
    """A head's log folder where the suite's heads keep theirs (/tmp/rpf-*), holding the lost server's log."""
    temp = Path(tempfile.mkdtemp(prefix="rpf-", dir="/tmp"))
    logs = temp / "session_latest" / "logs"
    logs.mkdir(parents=True)
    (logs / "ray_client_server_23999.err").write_text("grpc: bind 127.0.0.1:23999: Address already in use\n")
    try:
        yield logs
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _runs(*outputs: str) -> Tuple[List[str], Callable[[], str]]:
    calls: List[str] = []

    def one() -> str:
        calls.append(outputs[len(calls)])
        return calls[-1]

    return calls, one


def test_a_hiccup_is_run_once_more_and_the_warning_carries_the_lost_servers_log(head_logs: Path) -> None:
    calls, attempt = _runs(RAY_SAYS, "RESULT 42")
    with pytest.warns(RuntimeWarning, match="running it once more") as caught:
        assert once_more_after_a_hiccup(attempt, str, "the plain driver") == "RESULT 42"
    assert len(calls) == 2
    message = str(caught[0].message)
    assert message.startswith("the plain driver: the head lost the Ray Client server of its session (Starting Ray client server failed)")
    assert "Address already in use" in message and str(head_logs) in message


def test_a_hiccup_that_repeats_is_the_answer(head_logs: Path) -> None:
    calls, attempt = _runs(RAY_SAYS, RAY_SAYS, "RESULT 42")
    with pytest.warns(RuntimeWarning):
        assert once_more_after_a_hiccup(attempt, str, "the plain driver") == RAY_SAYS
    assert len(calls) == 2  # once more, not until it works


def test_any_other_failure_is_returned_at_once_without_a_warning(recwarn: pytest.WarningsRecorder) -> None:
    calls, attempt = _runs("ModuleNotFoundError: No module named 'helpers'", "RESULT 42")
    assert once_more_after_a_hiccup(attempt, str, "the user's script") == "ModuleNotFoundError: No module named 'helpers'"
    assert len(calls) == 1 and not recwarn.list


def test_the_log_is_said_to_be_gone_when_no_head_holds_it() -> None:
    assert hiccup_log(RAY_SAYS.replace("23999", "23998")) == "(ray_client_server_23998.err is no longer on disk)"
    assert hiccup_log(HEAD_HICCUPS[0]) == "(Ray named no log)"


def test_a_session_that_landed_on_another_heads_server_is_run_once_more_too() -> None:
    calls, attempt = _runs(CROSSED, "RESULT 42")
    with pytest.warns(RuntimeWarning, match=r"ray.init twice by accident\?\); running it once more. \(Ray named no log\)"):
        assert once_more_after_a_hiccup(attempt, str, "the seed workflow") == "RESULT 42"
    assert len(calls) == 2



@pytest.mark.parametrize("code, runs", [(0, 1), (1, 2)])
def test_a_child_that_quotes_a_hiccup_is_run_again_only_when_it_failed(tmp_path: Path, code: int, runs: int) -> None:
    """A child that worked may still quote a hiccup (the tool's report of the ``ray.init`` retry it got past): kept."""
    count = tmp_path / "runs"
    child = f"open({str(count)!r}, 'a').write('x'); print('psutil.ZombieProcess: PID still exists'); raise SystemExit({code})"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = run([sys.executable, "-c", child], "a child")
    assert done.returncode == code and count.read_text() == "x" * runs
    assert len(caught) == runs - 1
