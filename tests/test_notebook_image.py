"""``notebook-image``: the notebook this runs in uses the release's image (profile ``notebook_image``).

Through the real command, as a notebook pod runs it: the in-cluster settings a pod has (``KUBERNETES_SERVICE_HOST``/
``PORT`` pointing at a Kubernetes API served on loopback over HTTPS, and a service-account folder with a token, the CA
certificate and the namespace, found through ``RAY_PREFLIGHT_SERVICEACCOUNT_DIR``), and a pod named after this
machine's host name, as a pod's host name is its name. The tool reaches it through the official ``kubernetes`` client.
Then the check alone, with plain facts.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from preflight import profiles
from preflight.checks.notebook_image import NOT_IN_A_POD, notebook_image, shown_image
from preflight.model import Missing, Status
from preflight.testing_kuberay import (
    NOTEBOOK_IMAGE,
    TOKEN,
    ClusterSpec,
    FakeKubeAPI,
    forbidden,
    notebook_routes,
    routes,
    status_body,
)
from tests.conftest import run_cli
from tests.json_contract import assert_valid

AUTO, FY23 = profiles.get("auto"), profiles.get("fy23-q2")
#: The notebook's namespace (a Kubeflow profile's), not the RayCluster's.
NS = "alice"
HOST = socket.gethostname()
POD_PATH = f"/api/v1/namespaces/{NS}/pods/{HOST}"
OTHER_IMAGE = "kubeflownotebookswg/jupyter-scipy:v1.7.0"
KUBE = ["kubernetes", "kuberay-operator", "raycluster", "head-service", "worker-groups"]


@pytest.fixture
def service_account(tmp_path: Path, tls_pair: Tuple[str, str]) -> Path:
    """A pod's service-account folder: token, the API server's CA certificate, the pod's namespace."""
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "token").write_text(TOKEN)
    (folder / "ca.crt").write_text(Path(tls_pair[0]).read_text())
    (folder / "namespace").write_text(NS)
    return folder


class Pod:
    """Run the command as a process in the notebook pod would, against a loopback Kubernetes API serving ``table``."""

    def __init__(self, sa: Path, tls: Tuple[str, str], home: Path):
        self.sa, self.tls, self.home = sa, tls, home
        self.requests: List[str] = []

    def run(self, table: Dict[str, Tuple[int, Any]], args: List[str], in_pod: bool = True, silent: bool = False,
            timeout: float = 60) -> Tuple[int, Dict[str, Any], str]:
        with FakeKubeAPI(table, tls=self.tls, silent=silent) as api:
            env = {"HOME": str(self.home), "KUBECONFIG": "", "RAY_PREFLIGHT_SERVICEACCOUNT_DIR": str(self.sa)}
            if in_pod:
                env.update(KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=str(api.port))
            proc = run_cli([*args, "--format", "json"], env_extra=env, timeout=timeout)
            self.requests = list(api.requests)
        assert proc.stdout.strip(), proc.stderr
        report = assert_valid("report", json.loads(proc.stdout))
        return proc.returncode, {r["id"]: r for r in report["results"]}, proc.stderr


@pytest.fixture
def pod(service_account: Path, tls_pair: Tuple[str, str], tmp_path: Path) -> Iterator[Pod]:
    home = tmp_path / "home"
    home.mkdir()
    yield Pod(service_account, tls_pair, home)


ONLY = ["--profile", "fy23-q2", "--only", "notebook-image", "--connect-timeout", "2"]


def test_the_releases_image_passes_naming_it(pod: Pod) -> None:
    code, results, _ = pod.run(notebook_routes(HOST, NS), ONLY)
    result = results["notebook-image"]
    assert result["status"] == "pass", result
    assert result["summary"] == (f"notebook ray-notebook runs {NOTEBOOK_IMAGE}, the release's image "
                                 "(profile fy23-q2: …/kubeflow/notebooks/jupyter-data-science:<tag>)")
    assert result["details"]["container"] == "ray-notebook"  # the notebook's container, not the istio-proxy sidecar before it
    assert code == 0
    assert [p.split("?")[0] for p in pod.requests] == [POD_PATH]  # one read: this pod, in the service account's namespace


def test_another_image_warns_with_the_platforms_remedy(pod: Pod) -> None:
    code, results, _ = pod.run(notebook_routes(HOST, NS, image=OTHER_IMAGE), ONLY)
    result = results["notebook-image"]
    assert result["status"] == "warn", result
    assert result["summary"] == (f"notebook ray-notebook runs {OTHER_IMAGE}, not the release's notebook image "
                                 "…/kubeflow/notebooks/jupyter-data-science:<tag> (profile fy23-q2)")
    assert result["remedy"] == ("open the notebook server with the release's image: in the Kubeflow dashboard, Notebooks → New "
                                "Notebook → Image, choose …/kubeflow/notebooks/jupyter-data-science:<tag> (Python 3.8, as on the "
                                "cluster), then work in that notebook server (attach this one's workspace volume to keep its files)")
    assert code == 1  # a warning alone is no evidence that anything works: NO-GO, "no check passed"


def test_the_text_output_shows_the_warning_and_the_remedy(pod: Pod, service_account: Path, tls_pair: Tuple[str, str]) -> None:
    with FakeKubeAPI(notebook_routes(HOST, NS, image=OTHER_IMAGE), tls=tls_pair) as api:
        proc = run_cli(ONLY, env_extra={"HOME": str(pod.home), "KUBECONFIG": "", "RAY_PREFLIGHT_SERVICEACCOUNT_DIR": str(service_account),
                                        "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port)})
    assert " ! notebook-image" in proc.stdout and "→ open the notebook server with the release's image" in proc.stdout, proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("NO-GO (no check passed (1 warn))"), proc.stdout


def test_a_forbidden_pod_read_cannot_verify_and_gives_the_can_i_line(pod: Pod) -> None:
    code, results, _ = pod.run({POD_PATH: forbidden("get", "pods", "", NS)}, ONLY)
    result = results["notebook-image"]
    assert result["status"] == "warn", result
    assert result["summary"] == f"cannot verify the image of pod {HOST}: Kubernetes refused `get pods` in namespace {NS} (403)"
    assert result["remedy"] == f"confirm with `kubectl auth can-i get pods -n {NS}`; ask for that permission to let this check see"


def test_outside_a_pod_it_skips_and_reads_nothing(pod: Pod) -> None:
    code, results, _ = pod.run(notebook_routes(HOST, NS), ONLY, in_pod=False)
    assert results["notebook-image"]["status"] == "skip"
    assert results["notebook-image"]["summary"] == f"skipped: {NOT_IN_A_POD}"
    assert pod.requests == [] and code == 1  # nothing could be checked


def test_a_profile_without_a_notebook_image_skips(pod: Pod) -> None:
    _, results, _ = pod.run(notebook_routes(HOST, NS), ["--profile", "auto", "--address", "ray://127.0.0.1:10001",
                                                         "--only", "notebook-image"])
    assert results["notebook-image"]["status"] == "skip"
    assert results["notebook-image"]["summary"] == "skipped: profile auto expects no particular notebook image"


def test_a_pod_that_is_not_found_skips_with_the_reason(pod: Pod) -> None:
    _, results, _ = pod.run({f"/api/v1/namespaces/{NS}/pods/another-pod-0": (200, {})}, ONLY)
    result = results["notebook-image"]
    assert result["status"] == "skip", result
    assert result["summary"].startswith(f"skipped: no pod {HOST} in namespace {NS} (this host name is not the pod's name")


def test_a_pod_without_the_notebook_label_is_judged_by_its_first_container(pod: Pod) -> None:
    _, results, _ = pod.run(notebook_routes(HOST, NS, notebook=None, sidecar=False), ONLY)
    result = results["notebook-image"]
    assert result["status"] == "pass", result
    assert result["summary"].startswith(f"pod {HOST} (no notebook-name label: not a Kubeflow notebook's pod?) runs {NOTEBOOK_IMAGE}")
    assert result["details"]["container"] == "main"


def test_a_silent_api_server_is_an_error_within_the_bound(pod: Pod) -> None:
    started = time.monotonic()
    _, results, _ = pod.run(notebook_routes(HOST, NS), [*ONLY[:-1], "1"], silent=True)
    took = time.monotonic() - started
    result = results["notebook-image"]
    assert result["status"] == "error" and "did not answer within 2.0 s" in result["summary"], result
    assert took < 15, took  # connect 1 s, read 2 s (plus the command's start-up)


def test_it_joins_the_kubernetes_checks_in_a_pod_on_both_routes(pod: Pod) -> None:
    """The whole Kubernetes view from a notebook pod: the RayCluster in kuberay (the address's namespace) and the
    notebook in the service account's, both through the pod's service account."""
    table = dict(routes(ClusterSpec()), **notebook_routes(HOST, NS))
    for route in ("client", "jobs"):
        args = ["--profile", "fy23-q2", "--route", route, "--only", ",".join([*KUBE, "notebook-image"]), "--connect-timeout", "2"]
        if route == "jobs":
            args += ["--address", "http://ray-cluster-kuberay-head-svc.kuberay:8265"]
        code, results, stderr = pod.run(table, args)
        assert {cid: r["status"] for cid, r in results.items()} == {c: "pass" for c in [*KUBE, "notebook-image"]}, results
        assert "in-cluster service account" in results["kubernetes"]["summary"]
        assert code == 0, stderr
    assert POD_PATH in [p.split("?")[0] for p in pod.requests]


def test_the_profile_lists_its_notebook_image() -> None:
    proc = run_cli(["profiles", "--format", "json"], timeout=60)
    listed = assert_valid("profiles", json.loads(proc.stdout))["profiles"]
    assert listed["fy23-q2"]["notebook_image"] == "*/kubeflow/notebooks/jupyter-data-science:*"
    assert listed["auto"]["notebook_image"] is None
    assert "any tag" in listed["fy23-q2"]["description"]


# --- the check with plain facts --------------------------------------------------------------------------------------

def facts(image: Optional[str] = NOTEBOOK_IMAGE, notebook: Optional[str] = "ray-notebook", containers: Optional[list] = None,
          **extra: Any) -> Dict[str, Any]:
    listed = containers if containers is not None else [{"name": "istio-proxy", "image": "istio/proxyv2:1.14.1"},
                                                        {"name": notebook or "main", "image": image}]
    return dict({"pod": "ray-notebook-0", "namespace": NS, "namespace_from": "the service account", "source": "in-cluster service account",
                 "server": "https://10.96.0.1:443",
                 "read": {"ok": True, "value": {"name": "ray-notebook-0", "notebook": notebook, "containers": listed}}}, **extra)


def refused_read(status: Optional[int], message: str = "no") -> Dict[str, Any]:
    return facts(read={"ok": False, "error": {"status": status, "verb": "get", "resource": "pods",
                                              "namespace": NS, "message": message}})


@pytest.mark.parametrize("image", [
    NOTEBOOK_IMAGE,
    "registry.example.com:5000/mapr-252711/kubeflow/notebooks/jupyter-data-science:ezaf-fy23-q2",  # a mirror, its port
    "gcr.io/mapr-252711/kubeflow/notebooks/jupyter-data-science:1.6.0-0.1.2",
    "gcr.io/mapr-252711/kubeflow/notebooks/jupyter-data-science:v1@sha256:" + "ab" * 32,
])
def test_any_registry_prefix_and_any_tag_of_the_releases_image_pass(image: str) -> None:
    out = notebook_image(facts(image), FY23)
    assert out.status is Status.PASS, out.summary
    assert out.details["image"] == image and out.details["expected"] == FY23.notebook_image


@pytest.mark.parametrize("image", [
    OTHER_IMAGE,
    "gcr.io/mapr-252711/kubeflow/notebooks/jupyter-tensorflow-full:ezaf-fy23-q2",  # the release's, but not the one for Ray
    "gcr.io/mapr-252711/kubeflow/notebooks/jupyter-data-science-gpu:ezaf-fy23-q2",
    "gcr.io/mapr-252711/kubeflow/notebooks/jupyter-data-science",  # no tag: whatever latest is
    "kubeflow/notebooks/jupyter-data-science:ezaf-fy23-q2",  # no registry: Docker Hub's, not the platform's
    "gcr.io/mapr-252711/kubeflow/notebooks/JUPYTER-DATA-SCIENCE:ezaf-fy23-q2",
])
def test_other_images_warn_with_the_image_to_choose_and_its_python(image: str) -> None:
    out = notebook_image(facts(image), FY23)
    assert out.status is Status.WARN, out.summary
    assert f"runs {image}, not the release's notebook image …/kubeflow/notebooks/jupyter-data-science:<tag>" in out.summary
    assert "choose …/kubeflow/notebooks/jupyter-data-science:<tag> (Python 3.8, as on the cluster)" in str(out.remedy)


def test_the_notebooks_container_is_the_one_named_after_the_notebook_else_the_first() -> None:
    sidecar_first = [{"name": "istio-proxy", "image": OTHER_IMAGE}, {"name": "ray-notebook", "image": NOTEBOOK_IMAGE}]
    assert notebook_image(facts(containers=sidecar_first), FY23).status is Status.PASS
    unlabelled = notebook_image(facts(notebook=None, containers=sidecar_first), FY23)
    assert unlabelled.status is Status.WARN and unlabelled.details["container"] == "istio-proxy"
    renamed = notebook_image(facts(notebook="other", containers=sidecar_first), FY23)
    assert renamed.details["container"] == "istio-proxy"  # no container of the label's name: the first


def test_without_facts_or_a_pattern_it_never_passes() -> None:
    assert notebook_image(Missing(NOT_IN_A_POD), FY23).summary == f"skipped: {NOT_IN_A_POD}"
    assert notebook_image(facts(), AUTO).status is Status.SKIP
    assert notebook_image(None, FY23).status is Status.ERROR
    for out in (notebook_image(facts(containers=[]), FY23), notebook_image(facts(image=None), FY23),
                notebook_image(facts(read=None), FY23)):
        assert out.status is Status.ERROR, out.summary


@pytest.mark.parametrize("status, verdict, words", [
    (403, Status.WARN, "cannot verify the image of pod ray-notebook-0: Kubernetes refused `get pods` in namespace alice (403)"),
    (401, Status.WARN, "Kubernetes rejected this pod's service-account token (401)"),
    (404, Status.SKIP, "no pod ray-notebook-0 in namespace alice"),
    (500, Status.ERROR, "could not read the image of pod ray-notebook-0 (HTTP 500): no"),
    (None, Status.ERROR, "could not read the image of pod ray-notebook-0: no"),
])
def test_a_failed_read_is_named(status: Optional[int], verdict: Status, words: str) -> None:
    out = notebook_image(refused_read(status), FY23)
    assert out.status is verdict and words in out.summary, out.summary


def test_an_unusable_service_account_cannot_verify() -> None:
    out = notebook_image(facts(broken="the pod's service account cannot be used: Service certification file does not exist."), FY23)
    assert out.status is Status.WARN and out.summary.startswith("cannot verify the notebook's image: the pod's service account")


def test_the_pattern_is_shown_as_a_person_reads_it() -> None:
    assert shown_image("*/kubeflow/notebooks/jupyter-data-science:*") == "…/kubeflow/notebooks/jupyter-data-science:<tag>"
    assert shown_image("registry/x:1.0") == "registry/x:1.0"


def test_the_probe_treats_a_host_without_a_service_account_as_outside_a_pod(tmp_path: Path) -> None:
    """KUBERNETES_SERVICE_HOST alone (a leftover variable, or a pod that mounts no token) is not enough."""
    from preflight import config
    from preflight.runner import run

    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "1", "KUBECONFIG": "",
               "RAY_PREFLIGHT_SERVICEACCOUNT_DIR": str(tmp_path), "HOME": str(tmp_path)}
    report = run(config.build("ray://127.0.0.1:10001", profile="fy23-q2", only=["notebook-image"], environ=environ))
    result = report["notebook-image"]
    assert result.status is Status.SKIP and f"no service-account token in {tmp_path}" in result.summary


def test_a_500_answer_is_an_error_naming_the_cause(pod: Pod) -> None:
    _, results, _ = pod.run({POD_PATH: (500, status_body(500, "InternalError", "etcdserver: request timed out"))}, ONLY)
    assert results["notebook-image"]["status"] == "error"
    assert "etcdserver: request timed out" in results["notebook-image"]["summary"]


def test_a_service_account_without_its_ca_certificate_cannot_verify(pod: Pod, service_account: Path) -> None:
    (service_account / "ca.crt").unlink()
    _, results, _ = pod.run(notebook_routes(HOST, NS), ONLY)
    result = results["notebook-image"]
    assert result["status"] == "warn", result
    assert result["summary"].startswith("cannot verify the notebook's image: the pod's service account cannot be used: "), result
    assert pod.requests == []
