"""Address, GCS and dashboard URL resolution, as ray.init (and ray job submit) read addresses."""

from __future__ import annotations

import pytest

from preflight import profiles
from preflight.errors import UsageError
from preflight.target import GCS, JOBS, RAY_CLIENT, parse, parse_address, parse_dashboard_url, resolve

AUTO = profiles.get("auto")
FY23 = profiles.get("fy23-q2")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ray://head:10001", (RAY_CLIENT, "head", 10001)),
        ("ray://head", (RAY_CLIENT, "head", 10001)),  # a ray:// address without a port means the Ray Client port
        ("  ray://head:10001  ", (RAY_CLIENT, "head", 10001)),
        ("\tray://head:10001\n", (RAY_CLIENT, "head", 10001)),
        ("RAY://head:1", (RAY_CLIENT, "head", 1)),
        ("ray://ray-cluster-kuberay-head-svc.kuberay:10001", (RAY_CLIENT, "ray-cluster-kuberay-head-svc.kuberay", 10001)),
        ("ray://[::1]:10001", (RAY_CLIENT, "::1", 10001)),
        ("ray://[::1]", (RAY_CLIENT, "::1", 10001)),
        ("ray://::1", (RAY_CLIENT, "::1", 10001)),
        # no scheme: the GCS, as ray.init reads it (it joins the cluster as a driver)
        ("head:6379", (GCS, "head", 6379)),
        ("head:10002", (GCS, "head", 10002)),
        ("10.0.0.5:10001", (GCS, "10.0.0.5", 10001)),
        ("[::1]:6379", (GCS, "::1", 6379)),
        ("[2001:db8::7]:6379", (GCS, "2001:db8::7", 6379)),
        (" head:6379 ", (GCS, "head", 6379)),
        ("head:65535", (GCS, "head", 65535)),
        ("head:1", (GCS, "head", 1)),
        # http(s)://: the dashboard, which serves the Ray Jobs API; the Ray Client address is derived on port 10001
        ("http://head:8265", (JOBS, "head", 10001)),
        ("http://head:8265/", (JOBS, "head", 10001)),
        ("https://ray-dashboard.example.com/", (JOBS, "ray-dashboard.example.com", 10001)),
        ("HTTP://head:8265", (JOBS, "head", 10001)),
        ("http://[::1]:8265", (JOBS, "::1", 10001)),
        ("https://dash.example.com/ray/", (JOBS, "dash.example.com", 10001)),
    ],
)
def test_accepted_addresses_and_their_form(text: str, expected: tuple) -> None:
    parsed = parse(text)
    assert (parsed.form, parsed.host, parsed.port) == expected
    assert parse_address(text) == expected[1:]


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
        ("h:0", "outside 1-65535"),
        ("h:65536", "outside 1-65535"),
        ("h:-1", "not a number"),
        ("h:", "not a number"),
        ("h:１０００１", "not a number"),
        ("http://h:0", "port 0 is not usable"),
        ("http://h:99999", "not a number from 1 to 65535"),
        ("http://", "no host name"),
        ("grpc://h:10001", "expected ray://"),
        ("ftp://h", "not ftp://"),
        ("ray://h a:1", "spaces"),
        ("h a:6379", "spaces"),
        ("http://h a:8265", "spaces"),
        ("ray://h\x00:1", "control"),
        ("ray://hé.com:1", "ASCII"),
        ("ray://" + "a" * 10_000, "characters long"),
        ("ray://h:10001/path", "nothing after the port"),
        ("h:6379/path", "nothing after the port"),
        ("ray://::1:10001", "brackets"),
        ("::1:6379", "brackets"),
        ("ray://[::1", "missing ']'"),
        ("ray://[nothost]:1", "not an IPv6"),
        ("[nothost]:6379", "not an IPv6"),
        ("ray://[::1]x", "unexpected"),
        ("auto", "--local"),
        ("local", "--local"),
        ("ray://-bad-.host:1", "not a valid host name"),
        ("ray://a..b:1", "not a valid host name"),
        ("-", "not a valid host name"),
    ],
)
def test_rejected_addresses_say_why_in_one_line(text: str, words: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_address(text)
    message = str(info.value)
    assert words in message, message
    assert "\n" not in message and len(message) < 300


@pytest.mark.parametrize(
    "text, client, gcs",
    [
        ("head", "ray://head:10001", "head:6379"),
        ("ray-cluster-kuberay-head-svc.kuberay", "ray://ray-cluster-kuberay-head-svc.kuberay:10001",
         "ray-cluster-kuberay-head-svc.kuberay:6379"),
        ("10.0.0.5", "ray://10.0.0.5:10001", "10.0.0.5:6379"),
        ("::1", "ray://[::1]:10001", "[::1]:6379"),
        ("[::1]", "ray://[::1]:10001", "[::1]:6379"),
    ],
)
def test_a_bare_host_is_refused_as_ray_init_refuses_it_with_both_lines_to_type(text: str, client: str, gcs: str) -> None:
    # Ray 2.60: ray.init("head") raises ValueError("Invalid address format: head") (no "://", and no port to read)
    with pytest.raises(UsageError) as info:
        parse(text)
    message = str(info.value)
    assert "has no port" in message and "Invalid address format" in message
    assert client in message and gcs in message and "driver" in message


def test_auto_and_local_say_what_ray_init_would_do_and_what_to_type() -> None:
    with pytest.raises(UsageError) as auto:
        parse("auto")
    assert "the Ray started on this machine with `ray start`" in str(auto.value) and "--local" in str(auto.value)
    with pytest.raises(UsageError) as local:
        parse("LOCAL", "RAY_ADDRESS")
    assert str(local.value).startswith("RAY_ADDRESS 'local' makes ray.init start a new Ray on this machine")
    assert "ray://host:10001" in str(local.value) and "--local" in str(local.value)


@pytest.mark.parametrize("text", ["ray://alice:s3cr3t-pw@head:10001", "alice:s3cr3t-pw@head:6379"])
def test_credentials_in_a_ray_address_are_refused_and_never_echoed(text: str) -> None:
    with pytest.raises(UsageError) as info:  # the Ray Client and the GCS take no credentials in the address
        parse(text)
    assert "s3cr3t-pw" not in str(info.value)


@pytest.mark.parametrize("text, url, user, password", [
    ("http://alice:s3cr3t-pw@head:8265/", "http://head:8265/", "alice", "s3cr3t-pw"),
    ("https://alice:s3cr3t-pw@dash.example.com", "https://dash.example.com/", "alice", "s3cr3t-pw"),
    ("https://al%69ce:s3cr3t%40pw%3A%2F%25@dash.example.com/x", "https://dash.example.com/x", "alice", "s3cr3t@pw:/%"),
    ("https://alice:s3cr3t@pw@dash.example.com:8443", "https://dash.example.com:8443/", "alice", "s3cr3t@pw"),
    ("https://j%C3%BCrgen:%E2%82%AC-s3cr3t@dash.example.com", "https://dash.example.com/", "jürgen", "€-s3cr3t"),
    ("https://alice:@dash.example.com", "https://dash.example.com/", "alice", ""),
    ("https://s3cr3t-pw@dash.example.com", "https://dash.example.com/", "s3cr3t-pw", None),
])
def test_credentials_in_a_dashboard_url_are_taken_out_and_percent_decoded(text: str, url: str, user: str, password: str) -> None:
    """RFC 3986: userinfo is split at the first ':' and each part percent-decoded (UTF-8); the host follows the last '@'.
    A user without a password may be a token (https://<token>@host/): it is never shown either."""
    for target in (resolve(AUTO, text, environ={}), resolve(AUTO, None, environ={"RAY_ADDRESS": text}),
                   resolve(AUTO, "ray://head:10001", dashboard_url=text, environ={})):
        assert target.dashboard_url == url and "s3cr3t" not in repr(target) + str(target.to_dict())
        assert target.dashboard_auth is not None
        assert (target.dashboard_auth.user, target.dashboard_auth.password) == (user, password)
        assert target.dashboard_auth.shown_user == (user if password is not None else None)
    assert parse_dashboard_url(text) == url


@pytest.mark.parametrize("text, words", [
    ("https://alice:s3cr3t/pw@dash.example.com", "must be percent-encoded"),
    ("https://alice:s3cr3t?pw@dash.example.com", "must be percent-encoded"),
    ("https://ali/ce:s3cr3t-pw@dash.example.com", "must be percent-encoded"),
    ("https://alice:s3cr3t%zz@dash.example.com", "write a literal % as %25"),
    ("https://alice:s3cr3t%ff@dash.example.com", "not UTF-8"),
    ("https://ali%3Ace:s3cr3t-pw@dash.example.com", "the user name holds ':'"),
    ("https://alice:s3cr3t%0A@dash.example.com", "control characters"),
    ("https://alice:s3cr3t-pw@dash.example.com:0", "port 0"),
    ("https://alice:s3cr3t-pw@-bad-", "not a valid host name"),
])
def test_unusable_credentials_in_a_dashboard_url_are_named_never_echoed(text: str, words: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_dashboard_url(text)
    assert words in str(info.value) and "s3cr3t" not in str(info.value)


def test_a_ray_jobs_address_and_a_dashboard_url_share_their_credentials() -> None:
    jobs = "https://alice:s3cr3t-pw@dash.example.com/"
    target = resolve(AUTO, jobs, dashboard_url="https://dash.example.com/", environ={})
    assert target.dashboard_auth is not None and target.dashboard_auth.password == "s3cr3t-pw"
    assert target.given == "https://dash.example.com/"
    with pytest.raises(UsageError, match="different credentials") as info:
        resolve(AUTO, jobs, dashboard_url="https://bob:other-s3cr3t@dash.example.com/", environ={})
    assert "s3cr3t" not in str(info.value)


def test_the_profiles_dashboard_pattern_may_carry_credentials() -> None:
    profile = profiles.Profile(name="site", description="", dashboard_url="https://svc:s3cr3t-pw@ray-dashboard.{domain}/")
    target = resolve(profile, "ray://head:10001", domain="example.com", environ={})
    assert target.dashboard_url == "https://ray-dashboard.example.com/"
    assert target.dashboard_auth is not None and target.dashboard_auth.user == "svc"


def test_resolution_order_flag_then_env_then_profile() -> None:
    env = {"RAY_ADDRESS": "ray://from-env:1234"}
    assert resolve(FY23, "ray://from-flag:1", environ=env).host == "from-flag"
    from_env = resolve(FY23, None, environ=env)
    assert (from_env.host, from_env.port, from_env.address_source) == ("from-env", 1234, "RAY_ADDRESS")
    default = resolve(FY23, None, environ={})
    assert default.address == "ray://ray-cluster-kuberay-head-svc.kuberay:10001"
    assert default.form == RAY_CLIENT
    with pytest.raises(UsageError, match="no address"):
        resolve(AUTO, None, environ={})


def test_malformed_ray_address_env_is_named() -> None:
    with pytest.raises(UsageError, match="^RAY_ADDRESS 'oops' has no port"):
        resolve(AUTO, None, environ={"RAY_ADDRESS": "oops"})
    with pytest.raises(UsageError, match="^RAY_ADDRESS 'http://oops:0'"):
        resolve(AUTO, None, environ={"RAY_ADDRESS": "http://oops:0"})


def test_a_gcs_address_is_the_gcs_and_what_ray_init_gets() -> None:
    for source, target in (("flag", resolve(AUTO, "10.0.0.5:6380", environ={})),
                           ("RAY_ADDRESS", resolve(AUTO, None, environ={"RAY_ADDRESS": " 10.0.0.5:6380 "}))):
        assert target.form == GCS and target.address_source == source
        assert (target.host, target.port, target.gcs_address) == ("10.0.0.5", 6380, "10.0.0.5:6380")
        assert target.address == "10.0.0.5:6380"  # the header and the JSON show the address as given
        assert target.init_address == "10.0.0.5:6380"  # the Fibonacci job hands ray.init the same string
        assert target.client_address is None
        assert target.dashboard_url == "http://10.0.0.5:8265/"
        assert target.to_dict()["address_form"] == "gcs"
    assert resolve(AUTO, "[::1]:6379", environ={}).to_dict() == {
        "address": "[::1]:6379", "address_form": "gcs", "address_source": "flag", "client_address": None,
        "init_address": "[::1]:6379", "gcs_address": "[::1]:6379", "dashboard_url": "http://[::1]:8265/",
        "dashboard_source": "head host"}


def test_a_gcs_address_and_another_gcs_address_contradict() -> None:
    assert resolve(AUTO, "head:6379", gcs_address="head:6379", environ={}).gcs_address == "head:6379"
    with pytest.raises(UsageError, match="itself a GCS address, and --gcs-address other:7000 names another"):
        resolve(AUTO, "head:6379", gcs_address="other:7000", environ={})


def test_a_jobs_url_is_the_dashboard_and_the_ray_client_address_is_derived() -> None:
    target = resolve(AUTO, "https://ray-dashboard.example.com", environ={})
    assert target.form == JOBS
    assert target.dashboard_url == "https://ray-dashboard.example.com/" == target.address
    assert target.client_address == target.init_address == "ray://ray-dashboard.example.com:10001"
    assert target.gcs_address == "ray-dashboard.example.com:6379"
    assert target.address_source == "derived from the Ray Jobs address (--address)"
    assert target.dashboard_source == "the Ray Jobs address (--address)"
    from_env = resolve(FY23, None, domain="example.com", environ={"RAY_ADDRESS": "http://10.0.0.5:8265"})
    assert from_env.dashboard_url == "http://10.0.0.5:8265/"  # the address wins over the profile's dashboard pattern
    assert from_env.address_source == "derived from the Ray Jobs address (RAY_ADDRESS)"
    assert from_env.to_dict()["address_form"] == "jobs" and from_env.to_dict()["client_address"] == "ray://10.0.0.5:10001"
    assert resolve(AUTO, "http://[::1]:8265", environ={}).client_address == "ray://[::1]:10001"
    assert resolve(AUTO, "http://h:8265", gcs_address="g:7000", environ={}).gcs_address == "g:7000"


def test_a_jobs_url_and_another_dashboard_url_contradict() -> None:
    same = resolve(AUTO, "http://head:8265", dashboard_url="http://head:8265/", environ={})
    assert same.dashboard_url == "http://head:8265/"
    with pytest.raises(UsageError, match="is a Ray Jobs address .the dashboard., and --dashboard-url 'http://other:8265/' names another"):
        resolve(AUTO, "http://head:8265", dashboard_url="http://other:8265", environ={})
    with pytest.raises(UsageError, match="^RAY_ADDRESS 'https://head/' is a Ray Jobs address"):
        resolve(AUTO, None, dashboard_url="https://other/", environ={"RAY_ADDRESS": "https://head/"})


def test_http_and_https_keep_their_scheme() -> None:
    assert resolve(AUTO, "http://head:8265", environ={}).dashboard_url == "http://head:8265/"
    assert resolve(AUTO, "https://head:8443", environ={}).dashboard_url == "https://head:8443/"
    assert resolve(AUTO, "https://head", environ={}).dashboard_url == "https://head/"


def test_gcs_and_dashboard_defaults_follow_the_head() -> None:
    target = resolve(AUTO, "ray://head:10001", environ={})
    assert target.gcs_address == "head:6379"
    assert target.dashboard_url == "http://head:8265/"
    assert target.form == RAY_CLIENT and target.client_address == target.init_address == target.address == "ray://head:10001"
    assert resolve(AUTO, "ray://head", gcs_address="other:7000", environ={}).gcs_address == "other:7000"


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
