"""Address, GCS and dashboard URL resolution, as ray.init resolves addresses."""

from __future__ import annotations

import pytest

from preflight import profiles
from preflight.errors import UsageError
from preflight.target import parse_address, parse_dashboard_url, resolve

AUTO = profiles.get("auto")
FY23 = profiles.get("fy23-q2")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ray://head:10001", ("head", 10001)),
        ("head:10002", ("head", 10002)),
        ("head", ("head", 10001)),
        ("  ray://head:10001  ", ("head", 10001)),
        ("RAY://head:1", ("head", 1)),
        ("ray://ray-cluster-kuberay-head-svc.kuberay:10001", ("ray-cluster-kuberay-head-svc.kuberay", 10001)),
        ("ray://[::1]:10001", ("::1", 10001)),
        ("[::1]", ("::1", 10001)),
        ("::1", ("::1", 10001)),
        ("10.0.0.5:10001", ("10.0.0.5", 10001)),
    ],
)
def test_accepted_addresses(text: str, expected: tuple) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    "text, words",
    [
        ("ray//h", "nothing after the port"),
        ("ray://", "no host name"),
        ("", "empty"),
        ("   ", "empty"),
        ("ray://h:0", "outside 1-65535"),
        ("ray://h:99999", "outside 1-65535"),
        ("ray://h:port", "not a number"),
        ("ray://h:", "not a number"),
        ("http://h:8265", "--dashboard-url"),
        ("https://h", "expected ray://"),
        ("grpc://h:10001", "expected ray://"),
        ("ray://h a:1", "spaces"),
        ("ray://h\x00:1", "control"),
        ("ray://hé.com:1", "ASCII"),
        ("ray://" + "a" * 10_000, "characters long"),
        ("ray://h:10001/path", "nothing after the port"),
        ("ray://::1:10001", "brackets"),
        ("ray://[::1", "missing ']'"),
        ("ray://[nothost]:1", "not an IPv6"),
        ("ray://[::1]x", "unexpected"),
        ("auto", "--local"),
        ("ray://-bad-.host:1", "not a valid host name"),
        ("ray://a..b:1", "not a valid host name"),
    ],
)
def test_rejected_addresses_say_why_in_one_line(text: str, words: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_address(text)
    message = str(info.value)
    assert words in message
    assert "\n" not in message and len(message) < 300


def test_credentials_in_a_bad_address_are_not_echoed() -> None:
    with pytest.raises(UsageError) as info:
        parse_address("ray://alice:s3cr3t-pw@head:10001")
    assert "s3cr3t-pw" not in str(info.value)


def test_resolution_order_flag_then_env_then_profile() -> None:
    env = {"RAY_ADDRESS": "ray://from-env:1234"}
    assert resolve(FY23, "ray://from-flag:1", environ=env).host == "from-flag"
    from_env = resolve(FY23, None, environ=env)
    assert (from_env.host, from_env.port, from_env.address_source) == ("from-env", 1234, "RAY_ADDRESS")
    default = resolve(FY23, None, environ={})
    assert default.address == "ray://ray-cluster-kuberay-head-svc.kuberay:10001"
    with pytest.raises(UsageError, match="no address"):
        resolve(AUTO, None, environ={})


def test_malformed_ray_address_env_is_named() -> None:
    with pytest.raises(UsageError, match="RAY_ADDRESS"):
        resolve(AUTO, None, environ={"RAY_ADDRESS": "http://oops:8265"})


def test_gcs_and_dashboard_defaults_follow_the_head() -> None:
    target = resolve(AUTO, "ray://head:10001", environ={})
    assert target.gcs_address == "head:6379"
    assert target.dashboard_url == "http://head:8265/"
    assert resolve(AUTO, "head", gcs_address="other:7000", environ={}).gcs_address == "other:7000"


def test_profile_dashboard_pattern_needs_a_domain() -> None:
    assert resolve(FY23, None, domain="example.com", environ={}).dashboard_url == "https://ray-dashboard.example.com/"
    # without --domain the in-cluster dashboard port on the head service is used
    assert resolve(FY23, None, environ={}).dashboard_url == "http://ray-cluster-kuberay-head-svc.kuberay:8265/"
    assert resolve(FY23, None, dashboard_url="https://dash.example.com", environ={}).dashboard_url == "https://dash.example.com/"


@pytest.mark.parametrize("bad", ["ftp://x", "http://", "not a url", "http://h:99999/", "http://h:0/"])
def test_bad_dashboard_urls(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_dashboard_url(bad)


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match="auto, fy23-q2"):
        profiles.get("fy99")
