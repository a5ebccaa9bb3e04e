"""preflight.runtime_env_judge against the real thing: the file lists Ray 2.60 (in this Python) and Ray 2.2.0 (the
server world's Python 3.8) pack from the same folders, the limits each computes, real zips of sparse and random data,
and the shapes and pip entries Ray takes or refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from preflight import runtime_env_judge as judge
from tests.worlds import SERVER, WorldUnavailable, child_env, provision, unavailable

USER_EXCLUDES = ["*.bin", "docs/private", "/top_only.txt"]


def _write(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_tree(root: Path) -> Path:
    """A working_dir with nested .gitignore files, a .rayignore, a __pycache__, a .git folder, links and an empty folder."""
    _write(root / ".gitignore", "*.log\n/build/\nsecret*\n!secret_ok.txt\n# a comment\n\ndata/raw/\n")
    for name in ("main.py", "app.log", "secret.txt", "secret_ok.txt", "top_only.txt", "build/out.o", "pkg/__init__.py",
                 "pkg/__pycache__/mod.cpython-311.pyc", "pkg/x.tmp", "pkg/local/a.py", "pkg/sub/deep.log", "pkg/sub/ok.py",
                 "pkg/top_only.txt", "data/raw/r.csv", "data/clean.csv", "models/big.bin", "models/notes.md", "cache/v/x",
                 "docs/a.log", "docs/private/p.md", "docs/public.md", ".git/HEAD", "ünï/çödé.py"):
        _write(root / name, f"content of {name}\n")
    _write(root / "pkg" / ".gitignore", "*.tmp\nlocal/\n")
    _write(root / "data" / ".rayignore", "*.csv\n")
    _write(root / "cache" / ".gitignore", "# made by a tool\n*\n")  # as pytest's cache and virtualenv's venvs do
    (root / "emptydir").mkdir()
    (root / "linked.py").symlink_to("main.py")
    (root / "linked_dir").symlink_to("pkg/sub")
    (root / "dangling").symlink_to("nowhere")
    return root


# --- what Ray itself packs -------------------------------------------------------------------------------------------

def ray_260_names(root: Path, excludes: List[str], include_gitignore: bool = True) -> List[str]:
    """The entries of the zip Ray 2.60 (this Python's) builds, with the excludes its working_dir upload adds."""
    import logging

    from ray._private import ray_constants
    from ray._private.runtime_env.packaging import _zip_files

    out = root.parent / f"{root.name}-ray260.zip"
    logging.getLogger("ray._private.runtime_env.packaging").setLevel(logging.ERROR)
    _zip_files(str(root), ray_constants.get_runtime_env_default_excludes() + list(excludes), str(out), include_gitignore=include_gitignore)
    with zipfile.ZipFile(out) as zf:
        names = sorted(zf.namelist())
    out.unlink()
    return names


CHILD_220 = textwrap.dedent("""
    import json, logging, os, sys, zipfile
    logging.disable(logging.CRITICAL)
    from ray._private.runtime_env import packaging
    args = json.loads(sys.argv[1])
    result = {"packaging": packaging.__file__, "limit": packaging.GCS_STORAGE_MAX_SIZE}
    if args.get("root"):
        try:
            packaging._zip_directory(args["root"], args["excludes"], args["out"])
            with zipfile.ZipFile(args["out"]) as zf:
                result["names"] = sorted(zf.namelist())
                result["size"] = os.path.getsize(args["out"])
        except Exception as exc:
            result["error"] = "%s: %s" % (type(exc).__name__, exc)
    print(json.dumps(result))
""")


@pytest.fixture(scope="module")
def ray220() -> str:
    """The Python of the server world (Ray 2.2.0 on Python 3.8), provisioned through tests/worlds.py."""
    try:
        env = provision(SERVER, None)
    except WorldUnavailable as exc:
        unavailable(f"world {SERVER.name}: {exc}")
    return env.python


def ray_220(python: str, root: Optional[Path] = None, excludes: Optional[List[str]] = None,
            environ: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    args = {"root": str(root) if root else None, "excludes": excludes or [],
            "out": str(root.parent / f"{root.name}-ray220.zip") if root else None}
    env = dict(child_env(), **(environ or {}))
    proc = subprocess.run([python, "-c", CHILD_220, json.dumps(args)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def walk_paths(root: Path, excludes: List[str], version: str, **kwargs: Any) -> List[str]:
    walk = judge.walk_working_dir(str(root), excludes, version, list_paths=True, **kwargs)
    json.dumps(walk)
    return walk["paths"]


# --- agreement with Ray's own packing ----------------------------------------------------------------------------

def test_the_walk_packs_exactly_what_ray_260_packs(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "wd")
    expected = ray_260_names(root, USER_EXCLUDES)
    assert walk_paths(root, USER_EXCLUDES, "2.60.0") == expected
    # What the tree was built to show, so that agreement is not agreement on nothing:
    assert "secret_ok.txt" in expected and "secret.txt" not in expected  # negation inside one .gitignore
    assert "pkg/top_only.txt" in expected and "top_only.txt" not in expected  # anchored excludes pattern
    assert "data/clean.csv" not in expected  # .rayignore (2.53 and later)
    assert not any(n.startswith(("pkg/__pycache__", ".git/", "cache/")) for n in expected)  # default excludes; "*" in cache/.gitignore
    assert "emptydir/" in expected and "linked.py" in expected and "linked_dir/ok.py" in expected and "dangling" not in expected


def test_without_gitignore_the_walk_still_agrees_with_ray_260(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "wd")
    expected = ray_260_names(root, USER_EXCLUDES, include_gitignore=False)
    assert walk_paths(root, USER_EXCLUDES, "2.60.0", environ={judge.IGNORE_GITIGNORE_ENV: "1"}) == expected
    assert "secret.txt" in expected and "data/clean.csv" not in expected  # .rayignore is still read


def test_the_pathspec_package_agrees_with_ray_on_ordinary_patterns(tmp_path: Path) -> None:
    """Where no Ray is installed the pathspec package stands in for Ray's own copy (0.8.1)."""
    root = make_tree(tmp_path / "wd")
    fake = tmp_path / "site" / "ray" / "_private" / "runtime_env" / "packaging.py"
    _write(fake, "from pathspec import PathSpec\n")
    walk = judge.walk_working_dir(str(root), USER_EXCLUDES, "2.60.0", packaging_file=str(fake), list_paths=True)
    assert walk["matcher"].startswith("the pathspec") and "package" in walk["matcher"]
    assert walk["paths"] == ray_260_names(root, USER_EXCLUDES)


def test_the_walk_packs_exactly_what_ray_220_packs(tmp_path: Path, ray220: str) -> None:
    root = make_tree(tmp_path / "wd")
    ray = ray_220(ray220, root, USER_EXCLUDES)
    assert "error" not in ray, ray
    walk = judge.walk_working_dir(str(root), USER_EXCLUDES, "2.2.0", packaging_file=ray["packaging"], list_paths=True)
    assert "0.8.1" in walk["matcher"]
    assert walk["paths"] == ray["names"]
    # 2.2.0 reads no .rayignore and adds no default excludes:
    assert "data/clean.csv" in ray["names"] and "data/.rayignore" in ray["names"]
    assert ".git/HEAD" in ray["names"] and "pkg/__pycache__/mod.cpython-311.pyc" in ray["names"]
    assert walk["reads"] == {"gitignore": True, "rayignore": False, "default_excludes": []}
    # RAY_RUNTIME_ENV_IGNORE_GITIGNORE came in 2.4.0: 2.2.0 reads .gitignore whatever it says.
    assert judge.walk_working_dir(str(root), USER_EXCLUDES, "2.2.0", environ={judge.IGNORE_GITIGNORE_ENV: "1"})["reads"]["gitignore"]


def test_old_file_dates_break_ray_220_and_the_judge_says_so(tmp_path: Path, ray220: str) -> None:
    root = tmp_path / "wd"
    _write(root / "ok.py")
    _write(root / "old.py")
    os.utime(root / "old.py", (315_000_000, 315_000_000))  # December 1979
    ray = ray_220(ray220, root, [])
    assert "before 1980" in ray.get("error", ""), ray
    walk = judge.walk_working_dir(str(root), [], "2.2.0", packaging_file=ray.get("packaging"))
    assert walk["bad_timestamps"] == {"count": 1, "sample": ["old.py"]}
    limit = judge.upload_limit({}, "2.2.0", ray["packaging"])
    assert limit["strict_timestamps"] is True
    verdict = judge.judge_upload(walk, limit, judge.estimate_zip_bytes(str(root), walk))
    assert any("before 1980" in p for p in verdict["problems"])
    # Ray 2.60 stores such files (strict_timestamps=False): no problem there.
    assert ray_260_names(root, []) == ["ok.py", "old.py"]
    limit_260 = judge.upload_limit({}, "2.60.0", judge.packaging_file_of_installed_ray())
    assert limit_260["strict_timestamps"] is False
    assert not judge.judge_upload(walk, limit_260, judge.estimate_zip_bytes(str(root), walk))["problems"]


def test_excludes_dot_star_drops_the_whole_working_dir_as_in_ray(tmp_path: Path) -> None:
    """Ray matches the root itself as ".", which ".*" matches: the package is empty (a known Ray surprise)."""
    root = tmp_path / "wd"
    _write(root / "main.py")
    _write(root / ".env", "SECRET=1")
    assert ray_260_names(root, [".*"]) == []
    walk = judge.walk_working_dir(str(root), [".*"], "2.60.0", list_paths=True)
    assert walk["paths"] == [] and walk["root_excluded"] == {"rule": "excludes: .*", "pattern": ".*"}
    assert walk["included_top"] == [] and walk["dropped_top"] == [".env", "main.py"]
    verdict = judge.judge_upload(walk, judge.upload_limit({}, "2.60.0", None), judge.estimate_zip_bytes(str(root), walk))
    assert any("empty package" in p for p in verdict["problems"])


def test_top_level_names_and_excluded_rules(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "wd")
    walk = judge.walk_working_dir(str(root), USER_EXCLUDES, "2.60.0")
    assert "pkg" in walk["included_top"] and "main.py" in walk["included_top"] and "emptydir" in walk["included_top"]
    assert {"build", "cache", ".git", "app.log", "top_only.txt", "dangling"} <= set(walk["dropped_top"])
    assert not set(walk["included_top"]) & set(walk["dropped_top"])
    rules = {item["path"]: item["rule"] for item in walk["excluded"]["sample"]}
    # "/build/" does not match the folder "build" itself (Ray hands pathspec no trailing slash), only what is in it.
    assert rules["build/out.o"] == ".gitignore" and rules["pkg/x.tmp"] == "pkg/.gitignore" and rules["data/clean.csv"] == "data/.rayignore"
    assert rules[".git"] == "default excludes: .git" and rules["top_only.txt"] == "excludes: /top_only.txt"
    assert rules["cache"] == "cache/.gitignore"
    assert walk["left_out"]["sample"] == [{"path": "dangling", "why": "broken symbolic link"}]
    assert judge.is_included(walk, "pkg/sub/ok.py") is True and judge.is_included(walk, "build/out.o") is False


def test_a_link_to_a_parent_folder_is_reported_not_followed_forever(tmp_path: Path) -> None:
    root = tmp_path / "wd"
    _write(root / "sub" / "f.py")
    (root / "sub" / "up").symlink_to("..")
    walk = judge.walk_working_dir(str(root), [], "2.60.0")
    assert walk["symlink_loops"] == [{"path": "sub/up", "target": ".."}]
    assert walk["files"] == 1
    # Ray packs the folder again at every level until the system refuses the path (ELOOP): about 40 copies.
    assert len([n for n in ray_260_names(root, []) if n.endswith("f.py")]) > 30
    verdict = judge.judge_upload(walk, judge.upload_limit({}, "2.60.0", None), judge.estimate_zip_bytes(str(root), walk))
    assert any("links to a folder above it" in p for p in verdict["problems"])


def test_the_walk_stops_at_its_deadline(tmp_path: Path) -> None:
    root = tmp_path / "wd"
    for i in range(600):
        _write(root / f"d{i % 6}" / f"f{i}.py")
    walk = judge.walk_working_dir(str(root), [], "2.60.0", deadline_s=0.0)
    assert walk["truncated"] is True and walk["files"] < 600
    verdict = judge.judge_upload(walk, judge.upload_limit({}, "2.60.0", None), judge.estimate_zip_bytes(str(root), walk))
    assert verdict["verdict"] == "unknown" and "at least" in verdict["message"]


# --- sizes: sparse files, random data, Ray's real zip ------------------------------------------------------------

def _random_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))


def test_stored_estimate_is_the_size_of_rays_real_zip(tmp_path: Path) -> None:
    """Ray's ZipFile stores (no compression): a 64 MiB sparse file costs 64 MiB in the package."""
    root = tmp_path / "wd"
    root.mkdir()
    with open(root / "sparse.img", "wb") as handle:
        handle.truncate(64 * judge.MIB)
    _random_file(root / "rand.bin", 3 * judge.MIB)
    for i in range(50):
        _write(root / "src" / f"m{i}.py", "print('hello')\n" * i)
    (root / "empty").mkdir()
    walk = judge.walk_working_dir(str(root), [], "2.60.0")
    assert walk["holes"]["files"] == 1 and walk["holes"]["bytes"] >= 60 * judge.MIB
    limit = judge.upload_limit({}, "2.60.0", judge.packaging_file_of_installed_ray())
    assert limit["compression"] == "stored"
    estimate = judge.estimate_zip_bytes(str(root), walk, compression=limit["compression"])
    from ray._private.runtime_env.packaging import _zip_files

    out = tmp_path / "real.zip"
    _zip_files(str(root), [], str(out), include_gitignore=True)
    with zipfile.ZipFile(out) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    real = out.stat().st_size
    assert estimate["low"] <= real <= estimate["high"], (estimate, real)
    assert estimate["estimated_bytes"] == real


def test_deflated_estimate_brackets_a_real_deflated_zip(tmp_path: Path) -> None:
    """For a zip that compresses: a 200 MiB sparse file deflates to almost nothing, 3 MiB of random bytes do not."""
    root = tmp_path / "wd"
    root.mkdir()
    with open(root / "sparse.img", "wb") as handle:
        handle.truncate(200 * judge.MIB)
    with open(root / "mostly_holes.img", "wb") as handle:  # data at the start and the end, a hole between
        handle.write(os.urandom(256 * 1024))
        handle.seek(32 * judge.MIB)
        handle.write(b"tail" * 1024)
    _random_file(root / "rand.bin", 3 * judge.MIB)
    for i in range(200):
        _write(root / "src" / f"m{i}.py", "def f(x):\n    return x * %d\n" % i * (i % 7 + 1))
    walk = judge.walk_working_dir(str(root), [], "2.60.0")
    started = time.monotonic()
    estimate = judge.estimate_zip_bytes(str(root), walk, compression="deflated")
    assert time.monotonic() - started < 2.0
    out = tmp_path / "real.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            zf.write(path, path.relative_to(root))
    real = out.stat().st_size
    assert estimate["low"] <= real <= estimate["high"], (estimate, real)
    assert 0.8 * real <= estimate["estimated_bytes"] <= 1.25 * real, (estimate, real)
    assert real < 5 * judge.MIB  # 236 MiB of files


# --- the limit, from Ray's source ----------------------------------------------------------------------------------

PRINT_260 = ("import logging; logging.disable(logging.CRITICAL)\n"
             "from ray._private.runtime_env import packaging as p\n"
             "print(p.GCS_STORAGE_MAX_SIZE, p.PACKAGE_SIZE_WARNING)")


def test_the_limit_read_from_ray_260s_source_is_the_one_ray_computes() -> None:
    from ray._private.runtime_env import packaging

    source = judge.packaging_file_of_installed_ray()
    assert source and os.path.samefile(source, packaging.__file__)
    plain = judge.upload_limit({}, "2.60.0", source)
    if "RAY_max_grpc_message_size" not in os.environ:
        assert plain["bytes"] == packaging.GCS_STORAGE_MAX_SIZE == 512 * judge.MIB
        assert plain["warning_bytes"] == packaging.PACKAGE_SIZE_WARNING
    assert "GRPC_CPP_MAX_MESSAGE_SIZE" in plain["source"] and plain["from_table"] is False
    env = dict(os.environ, RAY_max_grpc_message_size="104857600")
    out = subprocess.run([sys.executable, "-c", PRINT_260], capture_output=True, text=True, timeout=120, env=env)
    limit, warning = map(int, out.stdout.split())
    overridden = judge.upload_limit(env, "2.60.0", source)
    assert (overridden["bytes"], overridden["warning_bytes"]) == (limit, warning) == (104857600, 52428800)
    assert overridden["source"].startswith("RAY_max_grpc_message_size=104857600")


def test_the_limit_read_from_ray_220s_source_is_the_one_ray_computes(ray220: str) -> None:
    ray = ray_220(ray220)
    plain = judge.upload_limit({}, "2.2.0", ray["packaging"])
    assert plain["bytes"] == ray["limit"] == 500 * judge.MIB
    assert plain["warning_bytes"] is None and plain["compression"] == "stored" and plain["strict_timestamps"] is True
    assert "500 * 1024 * 1024" in plain["source"]
    env = {"RAY_max_grpc_message_size": "123456789"}
    assert judge.upload_limit(env, "2.2.0", ray["packaging"])["bytes"] == ray_220(ray220, environ=env)["limit"] == 123456789


def test_without_a_packaging_file_the_limit_comes_from_the_table() -> None:
    old = judge.upload_limit({}, "2.2.0", None)
    assert old["bytes"] == 500 * judge.MIB and old["from_table"] and "table" in old["source"]
    assert old["warning_bytes"] is None and old["strict_timestamps"] is True
    new = judge.upload_limit({}, "2.60.0", None)
    assert new["bytes"] == 512 * judge.MIB and new["warning_bytes"] == 256 * judge.MIB and new["strict_timestamps"] is False
    gap = judge.upload_limit({}, "2.30.0", None)
    assert gap["bytes"] == 500 * judge.MIB and "smaller" in gap["source"]
    assert judge.upload_limit({"RAY_max_grpc_message_size": "1000"}, "2.2.0", None)["bytes"] == 1000
    bad = judge.upload_limit({"RAY_max_grpc_message_size": "lots"}, "2.60.0", None)
    assert bad["bytes"] == 512 * judge.MIB and "not an integer" in bad["problems"][0]
    assert judge.upload_limit({judge.PACKAGE_SIZE_WARNING_ENV: "-1"}, "2.60.0", None)["warning_bytes"] is None


def test_the_limit_is_read_without_running_anything(tmp_path: Path) -> None:
    pkg = tmp_path / "site" / "ray" / "_private"
    _write(pkg / "ray_constants.py", "BASE = 3\nBIG = BASE * 2 ** 20 + (1 << 10)\n")
    _write(pkg / "runtime_env" / "packaging.py", textwrap.dedent("""
        import os
        from ray._private.ray_constants import BIG as LIMIT_DEFAULT
        GCS_STORAGE_MAX_SIZE = int(os.environ.get("RAY_other_name", LIMIT_DEFAULT))
        PACKAGE_SIZE_WARNING = GCS_STORAGE_MAX_SIZE // 4
        def _zip_files(path, out):
            with ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
                pass
    """))
    got = judge.upload_limit({}, None, str(pkg / "runtime_env" / "packaging.py"))
    assert got["bytes"] == 3 * 2 ** 20 + 1024 and got["env_var"] == "RAY_other_name" and got["warning_bytes"] == got["bytes"] // 4
    assert (got["compression"], got["compresslevel"], got["strict_timestamps"]) == ("deflated", 9, True)
    assert judge.upload_limit({"RAY_other_name": "77"}, None, str(pkg / "runtime_env" / "packaging.py"))["bytes"] == 77
    # A default that is not literal arithmetic is never evaluated: the table answers, and says why.
    _write(pkg / "runtime_env" / "packaging.py", "import os\nGCS_STORAGE_MAX_SIZE = int(os.environ.get('X', __import__('os').getpid()))\n")
    refused = judge.upload_limit({}, "2.2.0", str(pkg / "runtime_env" / "packaging.py"))
    assert refused["from_table"] and refused["bytes"] == 500 * judge.MIB and refused["problems"]


def test_packaging_file_of_installed_ray_does_not_import_ray() -> None:
    code = ("import sys; from preflight.runtime_env_judge import packaging_file_of_installed_ray as f; "
            "p = f(); print(p.endswith('packaging.py'), 'ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "False"], out.stderr


# --- verdicts ------------------------------------------------------------------------------------------------------

def _walk(total: int, files: int = 10) -> Dict[str, Any]:
    return {"bytes": total, "files": files, "allocated_bytes": total, "holes": {"files": 0, "bytes": 0},
            "largest": [{"path": "data/model.pt", "bytes": total - files + 1, "allocated": total}],
            "zip": {"entries": files, "name_bytes": 20 * files, "zip64_local": 0, "zip64_central": 0},
            "reads": {"gitignore": True, "rayignore": True, "default_excludes": []}, "truncated": False, "ray_version": "2.60.0"}


def test_verdicts() -> None:
    limit = judge.upload_limit({}, "2.60.0", None)
    verdicts = {}
    for name, total in (("small", 10 * judge.MIB), ("warned", 300 * judge.MIB), ("edge", 512 * judge.MIB - 3000), ("big", 2 * judge.GIB)):
        walk = _walk(total)
        verdict = judge.judge_upload(walk, limit, judge.estimate_zip_bytes("/nonexistent", walk))
        json.dumps(verdict)
        verdicts[name] = verdict
    assert [verdicts[n]["verdict"] for n in ("small", "warned", "edge", "big")] == ["fits", "near", "near", "too-big"]
    over = _walk(512 * judge.MIB - 1000)  # the files fit; with zipfile's records the package does not
    assert judge.judge_upload(over, limit, judge.estimate_zip_bytes("/x", over))["verdict"] == "too-big"
    big = verdicts["big"]
    assert "2.00 GiB" in big["message"] and "512.0 MiB" in big["message"] and "data/model.pt" in big["message"]
    assert "excludes" in big["remedy"] and ".rayignore" in big["remedy"] and "cloud storage" in big["remedy"]
    assert "Ray warns from 256.0 MiB" in verdicts["warned"]["message"]
    old = dict(_walk(2 * judge.GIB), reads={"gitignore": True, "rayignore": False, "default_excludes": []}, ray_version="2.2.0")
    old_verdict = judge.judge_upload(old, judge.upload_limit({}, "2.2.0", None), judge.estimate_zip_bytes("/x", old))
    assert ".gitignore" in old_verdict["remedy"] and ".rayignore" not in old_verdict["remedy"]


# --- the runtime_env's shape ---------------------------------------------------------------------------------------

def test_validate_runtime_env(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    _write(tmp_path / "requirements.txt", "requests\n")
    _write(tmp_path / "bundle.zip", "PK")
    assert judge.validate_runtime_env({"working_dir": "code", "pip": "requirements.txt", "env_vars": {"A": "1"},
                                       "excludes": ["*.bin"]}, "2.2.0", base_dir=str(tmp_path)) == []
    assert judge.validate_runtime_env({"working_dir": "bundle.zip"}, "2.2.0", base_dir=str(tmp_path)) == []
    assert judge.validate_runtime_env({"working_dir": "s3://bucket/code.zip", "py_modules": ["gs://b/m.zip"]}, "2.2.0") == []
    assert judge.validate_runtime_env(None, "2.2.0") == []

    def one(env: Any, version: str = "2.2.0") -> str:
        problems = judge.validate_runtime_env(env, version, base_dir=str(tmp_path))
        assert len(problems) == 1, problems
        return problems[0]

    assert "must be a dict" in one(["working_dir", "."])
    assert "'working_dir'" in one({"workdir": "code"}) and "did you mean" in one({"workdir": "code"})
    assert "newer Ray" in one({"uv": ["requests"]}) and judge.validate_runtime_env({"uv": ["requests"]}, "2.60.0") == []
    assert "older Ray" in one({"docker": {}}, "2.60.0")
    assert "must be a string" in one({"working_dir": 42})
    assert "does not exist" in one({"working_dir": "missing"})
    assert "must be an existing folder" in one({"working_dir": "requirements.txt"})
    assert ".zip" in one({"working_dir": "https://example.com/code.tar.gz"})
    assert judge.validate_runtime_env({"working_dir": "https://example.com/code.tar.gz"}, "2.60.0") == []
    assert "scheme" in one({"working_dir": "hdfs://namenode/code.zip"})
    assert "py_modules must be a list" in one({"py_modules": "mod"})
    assert "pip must be" in one({"pip": 3})
    assert "does not exist" in one({"pip": "nope.txt"})
    assert "pip_install_options" in one({"pip": {"packages": ["x"], "pip_install_options": []}})
    assert judge.validate_runtime_env({"pip": {"packages": ["x"], "pip_install_options": []}}, "2.60.0") == []
    assert "'packages'" in one({"pip": {"pip_check": False}})
    assert "conda must be" in one({"conda": 3})
    said = one({"env_vars": {"OMP_NUM_THREADS": 4}})
    assert "OMP_NUM_THREADS" in said and "is int: Ray takes only strings" in said and "4" not in said.replace("OMP_NUM_THREADS", "")
    assert "excludes must be a list" in one({"excludes": "*.bin"})
    assert "pip and conda" in one({"pip": ["x"], "conda": {"dependencies": []}})
    assert "pip and conda" in one({"pip": ["x"], "conda": {"dependencies": []}}, "2.60.0")
    assert "container cannot be combined" in one({"container": {"image": "x"}, "pip": ["y"]}, "2.60.0")


# --- pip entries ---------------------------------------------------------------------------------------------------

def test_pip_conflicts() -> None:
    found = judge.pip_conflicts(["pydantic>=2", "ray==2.3.0", "numpy<2", "!!garbage!!", "-r more.txt", "--index-url https://x/simple",
                                 "git+https://example.com/repo.git", "./local_pkg", "protobuf>=4.21",
                                 "pydantic>=2; python_version >= '3.9'"], "2.2.0", "3.8.13")
    json.dumps(found)
    by_entry = {item["entry"]: item for item in found}
    assert set(by_entry) == {"pydantic>=2", "ray==2.3.0", "!!garbage!!", "protobuf>=4.21"}
    assert by_entry["pydantic>=2"]["fix"] == "pydantic<2" and "ModelField" in by_entry["pydantic>=2"]["why"]
    assert by_entry["ray==2.3.0"]["fix"].startswith("ray==2.2.0")
    assert "not a requirement" in by_entry["!!garbage!!"]["why"]
    assert by_entry["protobuf>=4.21"]["fix"] == "protobuf<4"
    # On Python 3.9 the marked entry applies too.
    marked = "pydantic>=2; python_version >= '3.9'"
    assert [i["entry"] for i in judge.pip_conflicts([marked], "2.2.0", "3.9.18")] == [marked]
    assert judge.pip_conflicts(["pydantic>=2", "pydantic>=1.10", "pydantic", "protobuf>=4", "ray>=2.2"], "2.60.0", "3.11.9") == []
    assert judge.pip_conflicts(["pydantic>=1.10", "pydantic", "protobuf>=3.20", "ray>=2.2,<2.3", "ray[default]==2.2.0"], "2.2.0", "3.8.13") == []


def test_pip_entries_that_fight_the_installed_rays_own_requirements() -> None:
    """Ray 2.60 (installed here) declares msgpack<2.0.0,>=1.0.0 and click>=7.0."""
    version = judge.installed_ray_version()
    assert version
    found = {item["entry"]: item for item in judge.pip_conflicts(["msgpack>=2", "click<7", "click>=8", "msgpack==1.0.8"], version, None)}
    assert set(found) == {"msgpack>=2", "click<7"}
    assert found["click<7"]["fix"].startswith("click>=7.0")
    # Another server release: this Ray's metadata says nothing about it.
    assert judge.pip_conflicts(["msgpack>=2"], "2.2.0", "3.8.13") == []
