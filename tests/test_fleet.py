"""``ray-preflight clusters`` and ``preflight.clusters()``: the fleet view, against a Kubernetes API on loopback.

``preflight.testing_kuberay.SelectorKubeAPI`` serves real Kubernetes JSON (RayClusterLists in ``ray.io/v1`` and
``ray.io/v1alpha1``, PodLists filtered by label selector as kube-apiserver filters them) over a real HTTP socket, and the
tool reaches it through the official ``kubernetes`` client, from a child process as a user runs it and in-process as a
notebook calls it. What "usable" should say is worked out here from this test Python's own version and the Ray installed
in it, never written down.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import preflight
from preflight import schemas
from preflight.environment import ray_client_protocol
from preflight.fleet import read_cluster, usability
from preflight.ray_pins import SERVER_PROTOCOLS
from preflight.testing import closed_port
from preflight.testing_kuberay import TOKEN, ClusterSpec, SelectorKubeAPI, fleet_routes, forbidden, kubeconfig, variant
from tests.conftest import run_cli
from tests.json_contract import assert_valid

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHER_PY = "3.10" if PY != "3.10" else "3.8"
try:
    RAY: Optional[str] = metadata.version("ray")
except metadata.PackageNotFoundError:  # the suite brings Ray; without it every cluster is "no"
    RAY = None
CLUSTER_RAY = RAY or "2.60.0"
PROTOCOL = ray_client_protocol() if RAY else None
HOSTILE = "x<script>alert(1)</script>&y"


def tag(python: str) -> str:
    return "py" + python.replace(".", "")


#: (namespace, name) → (Ray, Python) the cluster runs, and the ClusterSpec that serves it.
SPECS = [
    ClusterSpec(namespace="kuberay"),  # the fy23-q2 cluster: Ray 2.2.0, Python 3.8
    ClusterSpec(namespace="ml-team", name="here", ray_version=CLUSTER_RAY, image=f"rayproject/ray:{CLUSTER_RAY}-{tag(PY)}",
                auth="authOptions", extra_groups=1, pending_workers=1),
    ClusterSpec(namespace="ml-team", name="here-but-unhealthy", ray_version=CLUSTER_RAY, image=f"rayproject/ray:{CLUSTER_RAY}-{tag(PY)}",
                state="unhealthy", autoscaling=False),
    ClusterSpec(namespace="ml-team", name="no-python-tag", ray_version=CLUSTER_RAY, image=f"rayproject/ray:{CLUSTER_RAY}"),
    ClusterSpec(namespace="ml-team", name="other-python", ray_version=CLUSTER_RAY, image=f"rayproject/ray:{CLUSTER_RAY}-{tag(OTHER_PY)}",
                idle_timeout_s=300),
    ClusterSpec(namespace="ml-team", name=HOSTILE, ray_version="2.9.0", image="rayproject/ray:2.9.0-py310-gpu"),
]
BROKEN = [
    {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "half-made", "namespace": "ml-team"}, "spec": "oops"},
    {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "no-head", "namespace": "ml-team"},
     "spec": {"rayVersion": "2.2.0", "workerGroupSpecs": [{"groupName": "g", "minReplicas": 0, "maxReplicas": 1}]}},
]
BROKEN_WHY = {"half-made": "cannot read it: spec is a str, not a mapping",
              "no-head": "cannot read it: spec.headGroupSpec is missing, not a mapping"}
ASKED = ["-n", "ml-team", "-n", "kuberay,restricted"]


def versions_of(spec: ClusterSpec) -> Tuple[str, Optional[str]]:
    """The Ray and Python a spec's head image says (the test's own reading of the tag)."""
    version = spec.image.rsplit(":", 1)[1]
    ray, _, rest = version.partition("-")
    python = rest.split("-")[0][2:] if rest.startswith("py") else None
    return ray, (f"{python[0]}.{python[1:]}" if python else None)


def expected(spec: ClusterSpec) -> Tuple[str, Optional[str]]:
    """What "usable" must say for this test Python and its Ray, worked out from sys.version_info and the installed Ray."""
    ray, python = versions_of(spec)
    noes = []
    if python is not None and python != PY:
        noes.append(f"Python {PY} here, {python} there")
    if RAY is None:
        noes.append("Ray is not installed here")
    elif ray != RAY and not (PROTOCOL and SERVER_PROTOCOLS.get(ray) == PROTOCOL):
        noes.append(f"Ray {RAY} here, {ray} there")
    if noes:
        return "no", "; ".join(noes)
    if python is None:
        return "unknown", "its Python is unknown (the head image tag names no -pyXY)"
    caveat = "but its state is unhealthy" if spec.state != "ready" else None
    if ray != RAY:
        caveat = f"Ray {RAY} here, {ray} there: it connects (same Ray Client protocol, {PROTOCOL}), but Ray supports only matching versions"
    return "yes", caveat


def expected_order() -> List[str]:
    rank = {"yes": 0, "unknown": 1, "no": 2}
    keyed = [((rank[expected(s)[0]], s.namespace, s.name), s.name) for s in SPECS]
    keyed += [((3, "ml-team", b["metadata"]["name"]), b["metadata"]["name"]) for b in BROKEN]
    return [name for _, name in sorted(keyed)]


@pytest.fixture(scope="module")
def world() -> Iterator[Tuple[SelectorKubeAPI, str, str]]:
    """The loopback API (two namespaces of RayClusters, two of them broken, and a namespace that refuses), a kubeconfig
    pointing at it (context namespace kuberay), and a HOME for the child processes."""
    table = fleet_routes(SPECS, refused=("restricted",), extra={"ml-team": BROKEN})
    with SelectorKubeAPI(table) as api, tempfile.TemporaryDirectory() as home:
        path = os.path.join(home, "kubeconfig.yaml")
        Path(path).write_text(kubeconfig(api.url))
        yield api, path, home


def cli(world: Tuple[SelectorKubeAPI, str, str], *args: str, flag: bool = True, **env: str) -> Any:
    api, path, home = world
    return run_cli(["clusters", *(["--kubeconfig", path] if flag else []), *args], env_extra=dict({"HOME": home}, **env), timeout=60)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


# -- through the command --------------------------------------------------------------------------------------------


def test_the_command_lists_every_cluster_usable_first_with_why(world: Tuple[SelectorKubeAPI, str, str]) -> None:
    proc = cli(world, *ASKED, "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fleet = assert_valid("clusters", json.loads(proc.stdout))
    rows = {r["name"]: r for r in fleet["clusters"]}
    assert [r["name"] for r in fleet["clusters"]] == expected_order()
    for spec in SPECS:
        row = rows[spec.name]
        assert (row["usable"], row["why"]) == expected(spec), spec.name
        assert row["namespace"] == spec.namespace and row["api_version"] == "ray.io/v1"
        assert (row["ray"], row["python"]) == versions_of(spec) and row["ray_version"] == spec.ray_version
        assert row["image_tag"] == spec.image.rsplit(":", 1)[1]
        assert row["address"] == f"ray://{spec.name}-head-svc.{spec.namespace}:10001"
        assert row["dashboard"] == f"http://{spec.name}-head-svc.{spec.namespace}:8265"
        assert row["autoscaling"] is spec.autoscaling and row["idle_timeout_s"] == (spec.idle_timeout_s if spec.autoscaling else None)
        assert row["token_auth"] is (spec.auth is not None) and row["problem"] is None
    for name, why in BROKEN_WHY.items():
        assert (rows[name]["usable"], rows[name]["why"], rows[name]["namespace"]) == ("unknown", why, "ml-team")
    assert rows["here"]["workers"] == [{"name": "smallgroup", "running": 1, "pending": 1, "min": 0, "max": 2, "desired": 2},
                                       {"name": "group0", "running": 1, "pending": 0, "min": 0, "max": 2, "desired": 1}]
    assert rows["here"]["workers_running"] == 2 and rows["here"]["auth"] == {"mode": "token", "source": "authOptions", "secret": None}
    assert rows["here-but-unhealthy"]["state"] == "unhealthy" and rows["ray-cluster-kuberay"]["state"] == "ready"
    assert fleet["listed"] is True and fleet["scope"] == {"all_namespaces": False, "namespaces": ["ml-team", "kuberay", "restricted"],
                                                          "namespace_from": "--namespace"}
    assert fleet["client"]["python"] == ".".join(map(str, sys.version_info[:3])) and fleet["client"]["ray"] == RAY
    [problem] = fleet["problems"]
    assert problem["status"] == 403 and problem["namespace"] == "restricted"
    assert problem["summary"] == "Kubernetes refused `list rayclusters.ray.io` in namespace restricted (403)"
    assert "kubectl auth can-i list rayclusters.ray.io -n restricted" in problem["remedy"]
    assert ClusterSpec().planted_secret not in proc.stdout and TOKEN not in proc.stdout  # no pod environment, no credentials


def test_the_text_table_is_aligned_and_a_refused_namespace_is_one_line(world: Tuple[SelectorKubeAPI, str, str]) -> None:
    proc = cli(world, *ASKED)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("NAMESPACE "))
    table = lines[header: header + 1 + len(SPECS) + len(BROKEN)]
    assert [line.split()[1] for line in table[1:]] == expected_order()
    for column in ("NAME", "PYTHON", "STATE", "WORKERS", "ADDRESS", "DASHBOARD", "USABLE HERE"):
        at = table[0].index("  " + column) + 2
        assert all(line[at - 2: at] == "  " and line[at] != " " for line in table[1:]), column
    usable_at = table[0].index("USABLE HERE")
    for spec in SPECS:
        line = next(t for t in table if f"ray://{spec.name}-head-svc" in t)
        usable, why = expected(spec)
        assert line[usable_at:] == (f"{usable}: {why}" if usable != "yes" and why else f"yes ({why})" if why else usable), line
    here = next(t for t in table if " here " in t)
    assert f"{CLUSTER_RAY} ({CLUSTER_RAY}-{tag(PY)})" in here and "smallgroup 1/0/2 +1 pending, group0 1/0/2" in here
    assert "on, idle 60 s" in here and "  token  " in here
    refused = [line for line in lines if "restricted" in line and line.startswith(" ! ")]
    assert refused == [" ! Kubernetes refused `list rayclusters.ray.io` in namespace restricted (403); confirm with "
                       "`kubectl auth can-i list rayclusters.ray.io -n restricted`; ask for that permission to see them"]
    assert lines[1] == f"here: Python {'.'.join(map(str, sys.version_info[:3]))}, " + (f"Ray {RAY}" if RAY else "no Ray installed")
    usable = sum(1 for s in SPECS if expected(s)[0] == "yes")
    assert lines[-1].startswith(f"{len(SPECS) + len(BROKEN)} RayClusters in 2 namespaces: {usable} usable here")


def test_all_namespaces_is_one_list_of_rayclusters_and_one_of_pods(world: Tuple[SelectorKubeAPI, str, str]) -> None:
    api = world[0]
    before = len(api.asked)
    proc = cli(world, "-A", "-f", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fleet = assert_valid("clusters", json.loads(proc.stdout))
    assert [r["name"] for r in fleet["clusters"]] == expected_order()
    assert fleet["scope"] == {"all_namespaces": True, "namespaces": [], "namespace_from": None} and fleet["problems"] == []
    assert sorted(api.asked[before:]) == ["/api/v1/pods?labelSelector=ray.io%2Fcluster", "/apis/ray.io/v1/rayclusters"]


def test_one_pod_list_per_namespace_and_the_context_namespace_by_default(world: Tuple[SelectorKubeAPI, str, str]) -> None:
    api, path, _ = world
    before = len(api.asked)
    proc = cli(world, "-f", "json", flag=False, KUBECONFIG=path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fleet = assert_valid("clusters", json.loads(proc.stdout))
    assert fleet["scope"]["namespaces"] == ["kuberay"] and fleet["scope"]["namespace_from"] == "the Kubernetes context"
    assert [r["name"] for r in fleet["clusters"]] == ["ray-cluster-kuberay"]
    assert fleet["clusters"][0]["workers"] == [{"name": "smallgroup", "running": 1, "pending": 0, "min": 0, "max": 2, "desired": 1}]
    assert sorted(api.asked[before:]) == ["/api/v1/namespaces/kuberay/pods?labelSelector=ray.io%2Fcluster",
                                          "/apis/ray.io/v1/namespaces/kuberay/rayclusters"]


def test_html_output_escapes_the_names(world: Tuple[SelectorKubeAPI, str, str]) -> None:
    proc = cli(world, "-n", "ml-team", "--format", "html")
    assert proc.returncode == 0, proc.stderr
    assert "<script>" not in proc.stdout and "x&lt;script&gt;alert(1)&lt;/script&gt;&amp;y" in proc.stdout
    assert proc.stdout.count("<tr>") == 1 + len([s for s in SPECS if s.namespace == "ml-team"]) + len(BROKEN)


# -- in a notebook ----------------------------------------------------------------------------------------------------


def test_the_notebook_api_returns_the_same_rows_with_html_and_repr(world: Tuple[SelectorKubeAPI, str, str]) -> None:
    fleet = preflight.clusters(["ml-team", "kuberay", "restricted"], kubeconfig=world[1])
    assert [row.name for row in fleet] == expected_order() and len(fleet) == len(SPECS) + len(BROKEN)
    for spec in SPECS:
        assert (fleet[f"{spec.namespace}/{spec.name}"].usable, fleet[spec.name].why) == expected(spec)
    assert [row.name for row in fleet.usable] == [s.name for s in SPECS if expected(s)[0] == "yes"]
    data = assert_valid("clusters", fleet.to_dict())
    cli_data = json.loads(cli(world, *ASKED, "-f", "json").stdout)
    assert {k: v for k, v in data.items() if k != "duration_s"} == {k: v for k, v in cli_data.items() if k != "duration_s"}
    html = fleet._repr_html_()
    assert "<script>" not in html and "x&lt;script&gt;alert(1)&lt;/script&gt;&amp;y" in html
    for name in expected_order():
        assert f">{name}</td>" in html or name == HOSTILE
    assert "kubectl auth can-i list rayclusters.ray.io -n restricted" in html
    usable = sum(1 for s in SPECS if expected(s)[0] == "yes")
    assert repr(fleet).startswith(f"<Fleet {len(SPECS) + len(BROKEN)} RayClusters in 2 namespaces: {usable} usable here")
    assert repr(fleet["here"]).startswith("<ClusterRow ml-team/here usable=")
    with pytest.raises(KeyError):
        fleet["nowhere"]
    with pytest.raises(ValueError, match="--kubeconfig /nonexistent/kubeconfig: no such file"):
        preflight.clusters(kubeconfig="/nonexistent/kubeconfig")


def test_an_old_kuberay_serving_only_v1alpha1_is_read_in_that_version() -> None:
    """KubeRay 0.4 (the generation of Ray 2.2) serves RayClusters as ray.io/v1alpha1 only: v1 answers 404, then
    v1alpha1 is listed."""
    table = fleet_routes([ClusterSpec(namespace="kuberay"), ClusterSpec(namespace="kuberay", name="second", workers=2, max_replicas=4)],
                         served=("v1alpha1",))
    with SelectorKubeAPI(table) as api, tempfile.TemporaryDirectory() as home:
        Path(home, "config").write_text(kubeconfig(api.url))
        fleet = preflight.clusters("kuberay", kubeconfig=str(Path(home, "config")))
        fleet_all = preflight.clusters(all_namespaces=True, kubeconfig=str(Path(home, "config")))
    assert [(r.name, r.api_version) for r in fleet] == [("ray-cluster-kuberay", "ray.io/v1alpha1"), ("second", "ray.io/v1alpha1")]
    assert [g.shown() for g in fleet["second"].groups] == ["smallgroup 2/0/4"]
    assert [r.name for r in fleet_all] == [r.name for r in fleet] and fleet.problems == []
    assert [p for p in api.asked if "rayclusters" in p] == ["/apis/ray.io/v1/namespaces/kuberay/rayclusters",
                                                            "/apis/ray.io/v1alpha1/namespaces/kuberay/rayclusters",
                                                            "/apis/ray.io/v1/rayclusters", "/apis/ray.io/v1alpha1/rayclusters"]


def test_pods_that_cannot_be_listed_leave_the_totals_of_the_raycluster_status() -> None:
    table = variant(fleet_routes([ClusterSpec(namespace="kuberay", workers=2, max_replicas=3)]),
                    **{"/api/v1/namespaces/kuberay/pods": forbidden("list", "pods", "", "kuberay")})
    with SelectorKubeAPI(table) as api, tempfile.TemporaryDirectory() as home:
        Path(home, "config").write_text(kubeconfig(api.url))
        fleet = preflight.clusters(kubeconfig=str(Path(home, "config")))
    row = fleet["ray-cluster-kuberay"]
    assert fleet.listed and row.workers_running == 2 and [g.to_dict() for g in row.groups] == [
        {"name": "smallgroup", "running": None, "pending": None, "min": 0, "max": 3, "desired": 2}]
    assert "smallgroup ?/0/3" in fleet.to_text()
    assert [p.line() for p in fleet.problems] == [
        "Kubernetes refused `list pods` in namespace kuberay (403): running workers per group are unknown (each RayCluster's status "
        "gives its total); confirm with `kubectl auth can-i list pods -n kuberay`; ask for that permission to see them"]


def test_an_empty_namespace_is_listed_and_exits_0() -> None:
    with SelectorKubeAPI(fleet_routes([], extra={"empty": []})) as api, tempfile.TemporaryDirectory() as home:
        Path(home, "config").write_text(kubeconfig(api.url))
        proc = run_cli(["clusters", "-n", "empty", "--kubeconfig", str(Path(home, "config"))], env_extra={"HOME": home}, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NAMESPACE" not in proc.stdout and proc.stdout.splitlines()[-1].startswith("no RayClusters in namespace empty (")


# -- when nothing can be listed, and unusable input --------------------------------------------------------------------


def test_no_kuberay_crds_exits_1_naming_them() -> None:
    with SelectorKubeAPI(fleet_routes([ClusterSpec()], served=())) as api, tempfile.TemporaryDirectory() as home:
        Path(home, "config").write_text(kubeconfig(api.url))
        fleet = preflight.clusters(kubeconfig=str(Path(home, "config")))
    assert not fleet.listed and len(fleet) == 0
    assert [p.line() for p in fleet.problems] == [
        "the API server serves no RayClusters (neither ray.io/v1 nor ray.io/v1alpha1): KubeRay's CRDs are not installed; "
        "`kubectl get crd rayclusters.ray.io` confirms it"]


def test_refused_across_all_namespaces_exits_1_with_the_can_i_line() -> None:
    table = fleet_routes([ClusterSpec()], cluster_scope_refused=True)
    with SelectorKubeAPI(table) as api, tempfile.TemporaryDirectory() as home:
        Path(home, "config").write_text(kubeconfig(api.url))
        proc = run_cli(["clusters", "-A", "--kubeconfig", str(Path(home, "config"))], env_extra={"HOME": home}, timeout=60)
        as_json = run_cli(["clusters", "-A", "--kubeconfig", str(Path(home, "config")), "-f", "json"], env_extra={"HOME": home}, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert [line for line in proc.stdout.splitlines() if line.startswith(" ! ")] == [
        " ! Kubernetes refused `list rayclusters.ray.io` across all namespaces (403); confirm with "
        "`kubectl auth can-i list rayclusters.ray.io -A`; ask for that permission to see them"]
    assert proc.stdout.splitlines()[-1].startswith("no RayClusters could be listed")
    fleet = assert_valid("clusters", json.loads(as_json.stdout))
    assert as_json.returncode == 1 and fleet["listed"] is False and fleet["clusters"] == []


@pytest.mark.parametrize("api_kwargs, words", [
    ({"token": "another-token"}, "Kubernetes rejected the credentials (401): Unauthorized; refresh your kubeconfig"),
    ({"silent": True}, "did not answer within 1.0 s"),
], ids=["401", "silent"])
def test_an_api_that_rejects_or_stays_silent_exits_1_in_one_line_within_the_timeout(api_kwargs: Dict[str, Any], words: str) -> None:
    with SelectorKubeAPI(fleet_routes([ClusterSpec()]), **api_kwargs) as api, tempfile.TemporaryDirectory() as home:
        Path(home, "config").write_text(kubeconfig(api.url))
        started = time.monotonic()
        proc = run_cli(["clusters", "-n", "kuberay,ml-team", "--timeout", "1", "--kubeconfig", str(Path(home, "config"))],
                       env_extra={"HOME": home}, timeout=60)
        elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout + proc.stderr
    problems = [line for line in proc.stdout.splitlines() if line.startswith(" ! ")]
    assert len(problems) == 1 and words in problems[0], proc.stdout  # the same answer for both namespaces is one line
    assert elapsed < 10, elapsed  # each request waits 1 s, and they run side by side


def test_an_api_that_is_not_there_exits_1_in_one_line() -> None:
    with tempfile.TemporaryDirectory() as home:
        Path(home, "config").write_text(kubeconfig(f"http://127.0.0.1:{closed_port()}"))
        proc = run_cli(["clusters", "--kubeconfig", str(Path(home, "config"))], env_extra={"HOME": home}, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert [line for line in proc.stdout.splitlines() if line.startswith(" ! ")] == [
        f" ! the Kubernetes API at http://127.0.0.1:{line_port(proc.stdout)} refused the connection"]


def line_port(text: str) -> str:
    return text.split("http://127.0.0.1:", 1)[1].split()[0]


@pytest.mark.parametrize("args, env, words", [
    (["--kubeconfig", "/nonexistent/kubeconfig"], {}, "--kubeconfig /nonexistent/kubeconfig: no such file"),
    ([], {"KUBECONFIG": "/nonexistent/kubeconfig"}, "no Kubernetes credentials: run inside the cluster or set KUBECONFIG"),
    (["--context", "prod"], {"KUBECONFIG": "{config}"}, "--context prod: no such context in"),
    ([], {"KUBECONFIG": "{broken}"}, "is not valid YAML at line 2"),
    (["-A", "-n", "kuberay"], {"KUBECONFIG": "{config}"}, "--all-namespaces and --namespace exclude each other"),
    (["-n", "Bad_Namespace"], {"KUBECONFIG": "{config}"}, "is not a Kubernetes namespace name"),
    (["--timeout", "soon"], {"KUBECONFIG": "{config}"}, "--timeout must be a number of seconds, not 'soon'"),
    (["--format", "yaml"], {"KUBECONFIG": "{config}"}, "--format must be text, json or html, not 'yaml'"),
], ids=["missing-kubeconfig", "no-credentials", "unknown-context", "malformed-kubeconfig", "all-and-namespace", "bad-namespace",
        "bad-timeout", "bad-format"])
def test_unusable_input_is_one_line_and_exit_2(args: List[str], env: Dict[str, str], words: str) -> None:
    with tempfile.TemporaryDirectory() as home:
        Path(home, "config").write_text(kubeconfig(f"http://127.0.0.1:{closed_port()}"))
        Path(home, "broken").write_text("clusters: [unclosed\n  - {{{")
        filled = {k: v.format(config=str(Path(home, "config")), broken=str(Path(home, "broken"))) for k, v in env.items()}
        proc = run_cli(["clusters", *args], env_extra=dict({"HOME": home}, **filled), timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert words in one_line(proc.stderr) and proc.stdout == ""


def test_options_before_the_command_are_refused() -> None:
    proc = run_cli(["--namespace", "kuberay", "clusters"], timeout=60)
    assert proc.returncode == 2 and "before `clusters` would be ignored" in one_line(proc.stderr)


# -- the rules, on plain data -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("client, cluster, answer", [
    ({"python": "3.8.13", "ray": "2.1.0", "ray_client_protocol": "2022-10-05"}, ("2.2.0", "3.8"),
     ("yes", "Ray 2.1.0 here, 2.2.0 there: it connects (same Ray Client protocol, 2022-10-05), but Ray supports only matching versions")),
    ({"python": "3.8.13", "ray": "2.1.0", "ray_client_protocol": "2022-10-05"}, ("2.3.0", "3.8"), ("no", "Ray 2.1.0 here, 2.3.0 there")),
    ({"python": "3.10.6", "ray": "2.60.0", "ray_client_protocol": None}, ("2.2.0", "3.8"),
     ("no", "Python 3.10 here, 3.8 there; Ray 2.60.0 here, 2.2.0 there")),
    ({"python": "3.8.18", "ray": "2.2.0", "ray_client_protocol": "2022-10-05"}, ("2.2", "3.8"), ("yes", None)),
    ({"python": "3.8.18", "ray": "2.2.0", "ray_client_protocol": None}, ("2.2.0", None),
     ("unknown", "its Python is unknown (the head image tag names no -pyXY)")),
    ({"python": "3.8.18", "ray": "2.2.0", "ray_client_protocol": None}, (None, "3.8"),
     ("unknown", "its Ray is unknown (no spec.rayVersion, no version in the head image tag)")),
    ({"python": "3.8.18", "ray": None, "ray_client_protocol": None}, ("2.2.0", "3.8"), ("no", "Ray is not installed here")),
], ids=["same-protocol", "other-protocol", "both-differ", "same", "python-unknown", "ray-unknown", "no-ray"])
def test_the_usable_rule_is_the_version_checks_rule(client: Dict[str, Any], cluster: Tuple[Optional[str], Optional[str]],
                                                      answer: Tuple[str, Optional[str]]) -> None:
    assert usability(cluster[0], cluster[1], client) == answer


_json = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
                         ["metadata", "name", "namespace", "spec", "status", "rayVersion", "headGroupSpec", "template", "containers",
                          "image", "env", "workerGroupSpecs", "groupName", "minReplicas", "maxReplicas", "authOptions", "mode",
                          "enableInTreeAutoscaling", "autoscalerOptions", "idleTimeoutSeconds", "state", "conditions"]), inner, max_size=4),
                     max_leaves=25)
_CLUSTER_SCHEMA = Draft202012Validator({"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": schemas.load("clusters")["$defs"],
                                        "$ref": "#/$defs/cluster"})


@settings(max_examples=300, deadline=None)
@given(_json)
def test_any_object_in_a_list_is_a_row_never_a_crash(obj: Any) -> None:
    client = {"python": "3.8.18", "ray": "2.2.0", "ray_client_protocol": None}
    row = read_cluster(obj, "ml-team", {}, client)
    assert not list(_CLUSTER_SCHEMA.iter_errors(row.to_dict())), row.to_dict()
    assert row.usable in ("yes", "no", "unknown") and (row.problem is None or row.usable == "unknown")
    row.cells()
