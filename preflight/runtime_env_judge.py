"""Judges a Ray ``runtime_env`` before it is submitted: what Ray would pack from a local ``working_dir`` and whether the
package fits the limit Ray applies, whether the dict's shape is one the cluster's Ray takes, and which ``pip`` entries
would break or replace the cluster's Ray. Nothing is zipped or uploaded; every result is plain JSON data.

What each Ray release does was read from its own source (``ray/_private/runtime_env/packaging.py``, ``working_dir.py``,
``ray/_private/ray_constants.py`` and ``ray/runtime_env/runtime_env.py``); the constants below name the releases read.
A release between two that were read is given the behaviour of the older one, and results say so.

The walk follows Ray's own traversal (``_dir_travel`` with the handler of ``_zip_files``; ``_zip_directory`` in 2.4.0 and older):

* a path is skipped when any active rule matches it: the ``excludes`` of the runtime_env (relative to the working_dir),
  and each ``.gitignore`` (and, from Ray 2.53, ``.rayignore``) relative to its own folder; a folder's own ignore files
  apply to the folder itself, as ``"."``, so a ``*`` or ``.*`` line in them drops the folder whole (``excludes: [".*"]``
  drops the whole working_dir);
* a skipped folder is not entered; one rule cannot re-include what another excluded (each file is its own PathSpec);
* symbolic links are followed (``Path.is_dir``/``is_file``/``ZipFile.write`` all follow them), broken ones and
  anything that is neither a regular file nor a folder are left out silently; a link to a folder above it makes Ray
  descend until the system refuses (about 40 levels), packing that folder that many times over;
* a file is stored with its full size: Ray's ``ZipFile(path, "w")`` uses ZIP_STORED, so a sparse 1 GiB file or a
  folder of zeros counts every byte against the limit.
"""

from __future__ import annotations

import ast
import difflib
import errno
import heapq
import importlib.util
import os
import stat
import sys
import time
import warnings
import zlib
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

MIB = 1024 * 1024
GIB = 1024 * MIB

# --- what each Ray release does, as read from its source --------------------------------------------------------------

#: ``.rayignore`` is read beside ``.gitignore`` from this release: 2.52.0's packaging.py has no such name, 2.53.0's
#: ``get_excludes_from_ignore_files`` reads both (and so do 2.54.0 to 2.57.0 and 2.60.0).
RAYIGNORE_SINCE = "2.53.0"
#: ``RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1`` on the submitting machine stops Ray reading ``.gitignore`` files from this
#: release (read: absent from 2.3.1, present in 2.4.0 and 2.52.0 to 2.60.0). It never affects ``.rayignore``.
IGNORE_GITIGNORE_SINCE = "2.4.0"
IGNORE_GITIGNORE_ENV = "RAY_RUNTIME_ENV_IGNORE_GITIGNORE"
#: Ray adds these to the user's ``excludes`` from this release (read: absent from 2.53.0, ``".git,.venv,venv,
#: __pycache__"`` in 2.54.0 to 2.60.0); the variable below replaces the list (comma-separated; empty: none).
DEFAULT_EXCLUDES_SINCE = "2.54.0"
DEFAULT_EXCLUDES = (".git", ".venv", "venv", "__pycache__")
DEFAULT_EXCLUDES_ENV = "RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES"
#: Ray warns when the zipped package reaches half the limit from this release (read: absent from 2.55.0,
#: ``PACKAGE_SIZE_WARNING = GCS_STORAGE_MAX_SIZE // 2`` in 2.56.0, 2.57.0 and 2.60.0).
PACKAGE_SIZE_WARNING_SINCE = "2.56.0"
PACKAGE_SIZE_WARNING_ENV = "RAY_PACKAGE_SIZE_WARNING_MIB"
LIMIT_ENV = "RAY_max_grpc_message_size"
#: ``GCS_STORAGE_MAX_SIZE`` defaults, for when no packaging.py can be read: (first release, bytes, what was read).
LIMIT_TABLE: Tuple[Tuple[str, int, str], ...] = (
    ("0", 500 * MIB, "500 * 1024 * 1024 in the packaging.py of Ray 2.2.0, 2.3.1 and 2.4.0"),
    ("2.52.0", 512 * MIB, "GRPC_CPP_MAX_MESSAGE_SIZE = 512 * 1024 * 1024 in Ray 2.52.0 to 2.57.0 and 2.60.0"),
)
#: Releases on either side of the gap in which the table's figure was not read.
LIMIT_TABLE_GAP = ("2.4.0", "2.52.0")
#: ``ZipFile(..., "w")`` without ``strict_timestamps=False`` refuses files dated before 1980 (read: Ray 2.2.0 to 2.4.0);
#: 2.52.0 to 2.60.0 pass ``strict_timestamps=False``.
STRICT_TIMESTAMPS_UNTIL = "2.4.0"
LENIENT_TIMESTAMPS_SINCE = "2.52.0"

#: The top-level keys of a runtime_env each band of releases knows (``RuntimeEnv.known_fields``). Other keys are
#: plugin fields: the cluster's runtime_env agent ignores them with a warning unless a plugin of that name is installed.
#: (first release of the band, last release read with this set, the set)
KNOWN_FIELDS: Tuple[Tuple[str, str, frozenset], ...] = (
    ("2.2.0", "2.4.0", frozenset({
        "py_modules", "java_jars", "working_dir", "conda", "pip", "container", "excludes", "env_vars",
        "_ray_release", "_ray_commit", "_inject_current_ray", "config", "docker",
    })),
    ("2.53.0", "2.60.0", frozenset({
        "py_modules", "py_executable", "java_jars", "working_dir", "conda", "pip", "uv", "container", "excludes",
        "env_vars", "_ray_release", "_ray_commit", "_inject_current_ray", "config", "worker_process_setup_hook",
        "_nsight", "_rocprof_sys", "image_uri",
    })),
)
#: The keys a ``pip`` dict may hold, by the same bands.
PIP_DICT_KEYS = {"2.2.0": {"packages", "pip_check", "pip_version"},
                 "2.53.0": {"packages", "pip_check", "pip_install_options", "pip_version"}}
#: Archives a local or remote working_dir may be (2.2.0: "Only .zip files supported for remote URIs").
ARCHIVE_SUFFIXES = {"2.2.0": (".zip",), "2.53.0": (".zip", ".tar.gz", ".tgz", ".tar.xz")}
REMOTE_SCHEMES = ("s3", "gs", "https", "http", "file", "gcs", "local")

ZIP64_LIMIT = (1 << 31) - 1
#: Python's zipfile: a local header is 30 bytes + name, a central-directory entry 46 bytes + name, the end record 22.
ZIP_LOCAL_HEADER = 30
ZIP_CENTRAL_HEADER = 46
ZIP_END_RECORD = 22
ZIP64_END_RECORDS = 56 + 20
#: ``symlink -> ..`` makes Ray descend until the system's limit on links in one path (ELOOP), 40 on Linux.
SYMLINK_DEPTH = 40
SAMPLE_BYTES = 64 * 1024
MAX_SAMPLED_FILES = 32
#: A file whose allocated blocks fall this far short of its size is counted as having holes.
HOLE_MIN = 64 * 1024
#: Deflate turns a run of zeros into about 1/1030 of its size (zlib level 6; 64 KiB alone: 78 bytes).
ZERO_RATIO_LOW, ZERO_RATIO_HIGH = 1.0 / 1040, 1.0 / 800


# --- versions -----------------------------------------------------------------------------------------------------

def _release(version: Optional[str]) -> Optional[Tuple[int, ...]]:
    """``(2, 2, 0)`` for "2.2.0" (pre-releases and dev builds count as their release); None when unparseable."""
    if not version:
        return None
    try:
        release = Version(str(version)).release
    except InvalidVersion:
        return None
    return tuple(release) + (0,) * (3 - len(release)) if len(release) < 3 else tuple(release)


def _at_least(version: Optional[str], since: str) -> Optional[bool]:
    got, want = _release(version), _release(since)
    if got is None or want is None:
        return None
    return got >= want


def installed_ray_version() -> Optional[str]:
    """The version of the Ray installed for this Python (from its metadata; Ray is not imported), or None."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python 3.8 has it
        return None
    try:
        return version("ray")
    except PackageNotFoundError:
        return None


def packaging_file_of_installed_ray() -> Optional[str]:
    """``ray/_private/runtime_env/packaging.py`` of the Ray this Python would import, found without importing Ray
    (``find_spec`` of a top-level package locates it without running it); None when there is none."""
    try:
        spec = importlib.util.find_spec("ray")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = os.path.join(folder, "_private", "runtime_env", "packaging.py")
        if os.path.isfile(candidate):
            return candidate
    return None


def packaging_behaviour(ray_version: Optional[str], environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """What the packing Ray of ``ray_version`` reads: {"gitignore", "rayignore", "default_excludes", "notes"}."""
    environ = os.environ if environ is None else environ
    notes: List[str] = []
    if _release(ray_version) is None:
        notes.append(f"Ray version {ray_version!r} unknown: judged as the newest release read ({KNOWN_FIELDS[-1][1]})")
        ray_version = KNOWN_FIELDS[-1][1]
    gitignore = True
    if _at_least(ray_version, IGNORE_GITIGNORE_SINCE) and environ.get(IGNORE_GITIGNORE_ENV, "0") == "1":
        gitignore = False
        notes.append(f"{IGNORE_GITIGNORE_ENV}=1: .gitignore files are not read")
    rayignore = bool(_at_least(ray_version, RAYIGNORE_SINCE))
    defaults: List[str] = []
    if _at_least(ray_version, DEFAULT_EXCLUDES_SINCE):
        raw = environ.get(DEFAULT_EXCLUDES_ENV)
        if raw is None:
            defaults = list(DEFAULT_EXCLUDES)
        else:
            defaults = [x.strip() for x in raw.split(",") if x.strip()]
            notes.append(f"{DEFAULT_EXCLUDES_ENV}={raw!r}: Ray's default excludes are {defaults}")
    return {"gitignore": gitignore, "rayignore": rayignore, "default_excludes": defaults, "notes": notes}


# --- gitwildmatch, as the packing Ray matches ---------------------------------------------------------------------

_VENDORED: Dict[str, Any] = {}


def _site_root(packaging_file: str) -> Optional[str]:
    """The folder holding the ``ray`` package of ``.../ray/_private/runtime_env/packaging.py``."""
    parts = os.path.abspath(packaging_file).split(os.sep)
    if "ray" not in parts:
        return None
    index = len(parts) - 1 - parts[::-1].index("ray")
    return os.sep.join(parts[:index]) or os.sep


def _load_vendored(folder: str) -> Any:
    """A copy of pathspec shipped inside Ray, loaded from its folder under a private name (Ray is not imported)."""
    if folder in _VENDORED:
        return _VENDORED[folder]
    name = f"_preflight_ray_pathspec_{abs(hash(folder)):x}"
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _VENDORED[folder] = module
    return module


def _pathspec_of(packaging_file: Optional[str]) -> Tuple[Any, bool, str]:
    """(module with ``PathSpec``, whether it is a copy inside Ray, description): the pathspec that packaging.py imports
    (Ray 2.2.0 to 2.60.0 import their own copy, pathspec 0.8.1), else the ``pathspec`` package."""
    if packaging_file:
        try:
            tree = _parse(packaging_file)
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[-1] == "pathspec" and node.module != "pathspec":
                    root = _site_root(packaging_file)
                    if root is None:
                        break
                    folder = os.path.join(root, *node.module.split("."))
                    module = _load_vendored(folder)
                    return module, True, f"the pathspec {getattr(module, '__version__', '?')} copy inside that Ray ({node.module})"
        except Exception as exc:  # noqa: BLE001 - any failure falls back to the package, and says so
            fallback = f" (its own copy could not be loaded: {type(exc).__name__}: {exc})"
        else:
            fallback = ""
    else:
        fallback = ""
    import pathspec

    return pathspec, False, f"the pathspec {getattr(pathspec, '__version__', '?')} package{fallback}"


class _Rules:
    """The patterns of one source (the runtime_env's excludes, or one ignore file), anchored at folder ``base``."""

    __slots__ = ("base", "label", "lines", "_fast", "_spec", "_patterns")

    def __init__(self, base: str, label: str, lines: Sequence[str], module: Any, vendored: bool) -> None:
        self.base = base  # "" for the working_dir's root, else the folder's path relative to it ("a/b")
        self.label = label
        self.lines = [line for line in lines if line]  # PathSpec.from_lines drops empty lines the same way
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pathspec >= 1 deprecates the name "gitwildmatch" that Ray uses
            self._spec = module.PathSpec.from_lines("gitwildmatch", lines)
        self._patterns = list(self._spec.patterns)
        self._fast: Optional[List[Tuple[Callable[[str], Any], bool, int]]] = None
        if vendored and len(self._patterns) == len(self.lines):
            # pathspec 0.8.1's match_file: the last pattern whose regex matches decides (include or exclude).
            self._fast = [(p.regex.match, bool(p.include), index)
                          for index, p in enumerate(self._patterns) if p.include is not None and p.regex is not None]

    def relative(self, rel: str) -> str:
        """``rel`` (relative to the root) as Ray hands it to this source: relative to ``base``, ``"."`` for base itself."""
        if not self.base:
            return rel or "."
        if rel == self.base:
            return "."
        return rel[len(self.base) + 1:]

    def match(self, rel: str) -> Optional[int]:
        """The index (in ``lines``) of the pattern that excludes ``rel`` (relative to the root), or None."""
        path = self.relative(rel)
        if self._fast is not None:
            decided: Optional[int] = None
            for matches, include, index in self._fast:
                if matches(path):
                    decided = index if include else None
            return decided
        if not self._spec.match_file(path):
            return None
        for index in range(len(self._patterns) - 1, -1, -1):
            pattern = self._patterns[index]
            regex = getattr(pattern, "regex", None)
            if pattern.include and regex is not None and (regex.match(path) or regex.search(path)):
                return index if index < len(self.lines) else -1
        return -1

    def text(self, index: int) -> str:
        return self.lines[index].strip() if 0 <= index < len(self.lines) else "?"


# --- the walk -----------------------------------------------------------------------------------------------------

def _readable(st: os.stat_result, euid: int, groups: Set[int]) -> bool:
    if euid == 0:
        return True
    mode = st.st_mode
    if st.st_uid == euid:
        return bool(mode & stat.S_IRUSR)
    if st.st_gid in groups:
        return bool(mode & stat.S_IRGRP)
    return bool(mode & stat.S_IROTH)


def _zip_name_bytes(name: str) -> int:
    """Length of ``name`` as zipfile writes it (ASCII, else UTF-8); raises UnicodeEncodeError as zipfile would."""
    return len(name.encode("utf-8"))


class _Walk:
    """State of one walk (see ``walk_working_dir``)."""

    def __init__(self, root: str, deadline: float, list_paths: bool) -> None:
        self.root = root
        self.deadline = deadline
        self.truncated = False
        self.files = 0
        self.empty_dirs = 0
        self.bytes = 0
        self.allocated = 0
        self.hole_bytes = 0
        self.holey_files = 0
        self.name_bytes = 0
        self.zip64_local = 0
        self.zip64_central = 0
        self.big: List[Tuple[int, str, int]] = []  # heap of (size, rel, allocated), the MAX_SAMPLED_FILES largest
        self.small_sample: List[str] = []
        self.excluded_count = 0
        self.excluded: List[Dict[str, str]] = []
        self.left_out: List[Dict[str, str]] = []
        self.left_out_count = 0
        self.loops: List[Dict[str, str]] = []
        self.errors: List[Dict[str, str]] = []
        self.unreadable: List[str] = []
        self.unreadable_count = 0
        self.bad_times: List[str] = []
        self.bad_times_count = 0
        self.bad_names: List[str] = []
        self.top_seen: Set[str] = set()
        self.top_included: Set[str] = set()
        self.paths: Optional[List[str]] = [] if list_paths else None
        self.visited = 0
        self.euid = os.geteuid() if hasattr(os, "geteuid") else 0
        self.groups = set(os.getgroups()) if hasattr(os, "getgroups") else set()
        if hasattr(os, "getegid"):
            self.groups.add(os.getegid())
        self.low_time = time.mktime((1980, 1, 1, 0, 0, 0, 0, 0, -1))
        try:
            self.high_time: Optional[float] = time.mktime((2108, 1, 1, 0, 0, 0, 0, 0, -1))
        except (OverflowError, ValueError):  # pragma: no cover - 32-bit time_t
            self.high_time = None

    def tick(self) -> bool:
        """False once the deadline has passed (checked every 256 entries)."""
        self.visited += 1
        if self.visited & 0xFF == 0 and time.monotonic() > self.deadline:
            self.truncated = True
        return not self.truncated

    def exclude(self, rel: str, rule: Dict[str, str]) -> None:
        self.excluded_count += 1
        if len(self.excluded) < 20:
            self.excluded.append({"path": rel, **rule})

    def include(self, rel: str, name: str) -> None:
        if rel != ".":
            self.top_included.add(rel.split("/", 1)[0])
        try:
            self.name_bytes += _zip_name_bytes(name)
        except UnicodeEncodeError:
            if len(self.bad_names) < 20:
                self.bad_names.append(rel.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace"))
        if self.paths is not None:
            self.paths.append(name)

    def add_file(self, rel: str, st: os.stat_result) -> None:
        size = st.st_size
        blocks = getattr(st, "st_blocks", None)
        allocated = size if blocks is None else min(size, blocks * 512)
        self.files += 1
        self.bytes += size
        self.allocated += allocated
        if size - allocated >= HOLE_MIN:
            self.holey_files += 1
            self.hole_bytes += size - allocated
        if size * 1.05 > ZIP64_LIMIT:
            self.zip64_local += 1
        if size > ZIP64_LIMIT:
            self.zip64_central += 1
        item = (size, rel, allocated)
        if len(self.big) < MAX_SAMPLED_FILES:
            heapq.heappush(self.big, item)
        elif size > self.big[0][0]:
            heapq.heapreplace(self.big, item)
        if len(self.small_sample) < 16 and (self.files % 97 == 1):
            self.small_sample.append(rel)
        if not _readable(st, self.euid, self.groups):
            self.unreadable_count += 1
            if len(self.unreadable) < 20:
                self.unreadable.append(rel)
        mtime = st.st_mtime
        if mtime < self.low_time or (self.high_time is not None and mtime >= self.high_time):
            self.bad_times_count += 1
            if len(self.bad_times) < 20:
                self.bad_times.append(rel)
        self.include(rel, rel)

    def leave_out(self, rel: str, why: str) -> None:
        self.left_out_count += 1
        if len(self.left_out) < 20:
            self.left_out.append({"path": rel, "why": why})


def _read_ignore_file(path: str) -> List[str]:
    with open(path, "r") as handle:  # as Ray reads it: text, this locale's encoding, readlines()
        return handle.readlines()


def _skip(rules: Sequence[_Rules], rel: str, defaults: int = 0) -> Optional[Dict[str, str]]:
    """The first source (in Ray's order) that excludes ``rel``: {"rule", "pattern"}; None when included. The first
    ``defaults`` patterns of the root's excludes are Ray's default excludes (Ray joins both lists into one PathSpec)."""
    for source in rules:
        index = source.match(rel)
        if index is not None:
            text = source.text(index)
            if source.base == "" and source.label == "excludes":
                label = f"default excludes: {text}" if 0 <= index < defaults else f"excludes: {text}"
            else:
                label = source.label
            return {"rule": label, "pattern": text}
    return None


def _scan(path: str) -> List[os.DirEntry]:
    with os.scandir(path) as it:
        return sorted(it, key=lambda e: e.name)


def walk_working_dir(path: str, excludes: List[str], ray_version: str, deadline_s: float = 10.0, *,
                     environ: Optional[Mapping[str, str]] = None, packaging_file: Optional[str] = None,
                     list_paths: bool = False) -> Dict[str, Any]:
    """Walk ``path`` as the Ray of ``ray_version`` walks a local working_dir to pack it, without reading any file but
    the ignore files. ``excludes`` is the runtime_env's list; Ray's default excludes (2.54 and later, see
    ``DEFAULT_EXCLUDES``) are added here, as Ray adds them. ``environ`` (default: this process's) gives the switches
    Ray reads on the submitting machine. Patterns are matched with the pathspec that ``packaging_file`` imports (default:
    the installed Ray's, when it is ``ray_version``), else the ``pathspec`` package.

    Returns: ``root``, ``ray_version``, ``reads`` (what that Ray reads), ``matcher``, ``files``, ``empty_dirs``, ``bytes``,
    ``allocated_bytes``, ``holes`` ({"files", "bytes"}), ``largest`` (10 × {"path", "bytes", "allocated"}),
    ``big_files`` (the 32 largest, same shape), ``small_sample`` (paths), ``zip`` ({"entries", "name_bytes",
    "zip64_local", "zip64_central"}), ``excluded`` ({"count", "sample": [{"path", "rule", "pattern"}]}),
    ``left_out`` (not packed although not excluded: broken links, sockets...), ``included_top`` and ``dropped_top``
    (sorted top-level names at least partly packed / not packed at all), ``root_excluded``, ``symlink_loops``,
    ``errors`` (what makes Ray's packing raise), ``unreadable``, ``bad_timestamps``, ``bad_names``, ``truncated``,
    ``elapsed_s``, ``notes``; ``paths`` (the zip's entry names, sorted) with ``list_paths``."""
    started = time.monotonic()
    environ = os.environ if environ is None else environ
    root = os.path.abspath(path)
    behaviour = packaging_behaviour(ray_version, environ)
    notes = list(behaviour["notes"])
    if packaging_file is None and ray_version and installed_ray_version() == ray_version:
        packaging_file = packaging_file_of_installed_ray()
    module, vendored, matcher = _pathspec_of(packaging_file)
    walk = _Walk(root, started + max(0.0, deadline_s), list_paths)
    defaults = behaviour["default_excludes"]
    user = [str(x) for x in (excludes or [])]
    root_rules = _Rules("", "excludes", defaults + user, module, vendored)
    n_default = len([x for x in defaults if x])

    result_root_excluded: Optional[Dict[str, str]] = None
    names = ["."]
    if behaviour["gitignore"]:
        names.append(".gitignore")
    if behaviour["rayignore"]:
        names.append(".rayignore")
    ignore_names = names[1:]

    try:
        root_st = os.stat(root)
    except OSError as exc:
        return _walk_result(walk, behaviour, matcher, ray_version, notes, started,
                            errors=[{"path": ".", "error": f"{type(exc).__name__}: {exc.strerror or exc}"}])
    if not stat.S_ISDIR(root_st.st_mode):
        return _walk_result(walk, behaviour, matcher, ray_version, notes, started,
                            errors=[{"path": ".", "error": "not a folder"}])

    # Each frame: (absolute folder, rel, rules inherited from above, (dev, ino) of the folders above and itself)
    stack: List[Tuple[str, str, Tuple[_Rules, ...], Tuple[Tuple[int, int], ...]]] = [
        (root, "", (root_rules,), ((root_st.st_dev, root_st.st_ino),))]
    while stack:
        if not walk.tick():
            break
        folder, rel, inherited, ancestors = stack.pop()
        try:
            entries = _scan(folder)
        except OSError as exc:
            skipped = _skip(inherited, rel, n_default) if rel else None
            if skipped is not None:
                walk.exclude(rel, skipped)
            else:
                walk.errors.append({"path": rel or ".", "error": f"cannot list it, so Ray's walk raises: {exc.strerror or exc}"})
            continue
        if not rel:
            walk.top_seen.update(e.name for e in entries)
        own: List[_Rules] = []
        for entry in entries:
            if entry.name in ignore_names:
                try:
                    if not entry.is_file():
                        continue
                    lines = _read_ignore_file(entry.path)
                    label = f"{rel}/{entry.name}" if rel else entry.name
                    own.append(_Rules(rel, label, lines, module, vendored))
                except Exception as exc:  # noqa: BLE001 - Ray raises the same reading or compiling it
                    walk.errors.append({"path": f"{rel}/{entry.name}" if rel else entry.name,
                                        "error": f"Ray fails reading it: {type(exc).__name__}: {exc}"})
        rules = inherited + tuple(own)
        skipped = _skip(rules, rel, n_default)
        if skipped is not None:
            if not rel:
                result_root_excluded = skipped
            walk.exclude(rel or ".", skipped)
            continue
        if not entries:
            walk.empty_dirs += 1
            walk.include(rel or ".", (rel or ".") + "/")
            continue
        subfolders: List[Tuple[str, str, Tuple[_Rules, ...], Tuple[Tuple[int, int], ...]]] = []
        for entry in entries:
            if not walk.tick():
                break
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                is_dir = is_file = False
            if is_dir:
                try:
                    st = entry.stat()
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        walk.leave_out(child, "symbolic link loop")
                    else:
                        walk.errors.append({"path": child, "error": f"cannot stat: {exc.strerror or exc}"})
                    continue
                ident = (st.st_dev, st.st_ino)
                if ident in ancestors:
                    target = ""
                    try:
                        target = os.readlink(entry.path)
                    except OSError:
                        pass
                    # Ray checks the link itself against the rules first: an excluded loop is harmless.
                    skipped = _skip(rules, child, n_default)
                    if skipped is not None:
                        walk.exclude(child, skipped)
                        continue
                    if len(walk.loops) < 20:
                        walk.loops.append({"path": child, "target": target})
                    walk.top_included.add(child.split("/", 1)[0])
                    continue
                subfolders.append((entry.path, child, rules, ancestors + (ident,)))
                continue
            skipped = _skip(rules, child, n_default)
            if skipped is not None:
                walk.exclude(child, skipped)
                continue
            if not is_file:
                walk.leave_out(child, "broken symbolic link" if entry.is_symlink() else "not a regular file or folder")
                continue
            try:
                st = entry.stat()
            except OSError as exc:
                walk.errors.append({"path": child, "error": f"cannot stat: {exc.strerror or exc}"})
                continue
            walk.add_file(child, st)
        stack.extend(reversed(subfolders))
    return _walk_result(walk, behaviour, matcher, ray_version, notes, started, root_excluded=result_root_excluded)


def _walk_result(walk: _Walk, behaviour: Dict[str, Any], matcher: str, ray_version: Optional[str], notes: List[str],
                 started: float, errors: Optional[List[Dict[str, str]]] = None,
                 root_excluded: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    ordered = sorted(walk.big, key=lambda item: (-item[0], item[1]))
    big = [{"path": rel, "bytes": size, "allocated": allocated} for size, rel, allocated in ordered]
    if walk.truncated:
        notes.append("the walk stopped at its deadline: every figure is a lower bound")
    if root_excluded is not None:
        notes.append(f"the working_dir itself matches {root_excluded['rule']} (as \".\"): Ray packs nothing from it")
    return {
        "root": walk.root,
        "ray_version": ray_version,
        "reads": {"gitignore": behaviour["gitignore"], "rayignore": behaviour["rayignore"],
                  "default_excludes": behaviour["default_excludes"]},
        "matcher": matcher,
        "files": walk.files,
        "empty_dirs": walk.empty_dirs,
        "bytes": walk.bytes,
        "allocated_bytes": walk.allocated,
        "holes": {"files": walk.holey_files, "bytes": walk.hole_bytes},
        "largest": big[:10],
        "big_files": big,
        "small_sample": list(walk.small_sample),
        "zip": {"entries": walk.files + walk.empty_dirs, "name_bytes": walk.name_bytes,
                "zip64_local": walk.zip64_local, "zip64_central": walk.zip64_central},
        "excluded": {"count": walk.excluded_count, "sample": list(walk.excluded)},
        "left_out": {"count": walk.left_out_count, "sample": list(walk.left_out)},
        "included_top": sorted(walk.top_included),
        "dropped_top": sorted(walk.top_seen - walk.top_included),
        "root_excluded": root_excluded,
        "symlink_loops": list(walk.loops),
        "errors": (errors or []) + list(walk.errors),
        "unreadable": {"count": walk.unreadable_count, "sample": list(walk.unreadable)},
        "bad_timestamps": {"count": walk.bad_times_count, "sample": list(walk.bad_times)},
        "bad_names": list(walk.bad_names),
        "truncated": walk.truncated,
        "elapsed_s": round(time.monotonic() - started, 4),
        "notes": notes,
        **({"paths": sorted(walk.paths)} if walk.paths is not None else {}),
    }


def is_included(walk: Dict[str, Any], rel: str) -> Optional[bool]:
    """Whether the walk packed ``rel`` (a path relative to the working_dir): exact with ``list_paths``, else by its
    top-level name (True: that name is at least partly packed; False: not at all; None: not seen)."""
    rel = rel.strip("/")
    if "paths" in walk:
        return rel in walk["paths"] or any(p.startswith(rel + "/") for p in walk["paths"])
    top = rel.split("/", 1)[0]
    if top in walk["included_top"]:
        return True
    return False if top in walk["dropped_top"] else None


# --- the limit, read from Ray's source ----------------------------------------------------------------------------

_PARSED: Dict[Tuple[str, float], ast.Module] = {}


def _parse(path: str) -> ast.Module:
    key = (os.path.abspath(path), os.path.getmtime(path))
    if key not in _PARSED:
        with open(path, "rb") as handle:
            _PARSED[key] = ast.parse(handle.read(), filename=path)
    return _PARSED[key]


def _top_assignments(tree: ast.Module) -> Dict[str, ast.expr]:
    found: Dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            found[node.target.id] = node.value
    return found


def _imported_from(tree: ast.Module, name: str) -> Optional[Tuple[str, int, str]]:
    """(module, level, original name) that ``name`` is imported from at the top of ``tree``."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return node.module, node.level, alias.name
    return None


def _module_file(module: str, level: int, importer: str) -> Optional[str]:
    if level:
        base = os.path.dirname(os.path.abspath(importer))
        for _ in range(level - 1):
            base = os.path.dirname(base)
    else:
        root = _site_root(importer)
        if root is None:
            return None
        base = root
    stem = os.path.join(base, *module.split("."))
    for candidate in (stem + ".py", os.path.join(stem, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


class _Unsafe(ValueError):
    """An expression that is not literal integer arithmetic over names that resolve to such."""


def _evaluate(node: ast.expr, path: str, depth: int = 0, bound: Optional[Dict[str, int]] = None) -> Tuple[int, str]:
    """(value, where it came from) of literal integer arithmetic, names resolved in ``path`` or the module they are
    imported from (3 hops at most). Nothing is executed."""
    if depth > 3:
        raise _Unsafe("too many hops")
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value, ""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value, where = _evaluate(node.operand, path, depth, bound)
        return (-value if isinstance(node.op, ast.USub) else value), where
    if isinstance(node, ast.BinOp):
        left, where_l = _evaluate(node.left, path, depth, bound)
        right, where_r = _evaluate(node.right, path, depth, bound)
        op = node.op
        if isinstance(op, ast.Add):
            value = left + right
        elif isinstance(op, ast.Sub):
            value = left - right
        elif isinstance(op, ast.Mult):
            value = left * right
        elif isinstance(op, ast.FloorDiv) and right:
            value = left // right
        elif isinstance(op, ast.Pow) and 0 <= right <= 64 and abs(left) <= 1 << 16:
            value = left ** right
        elif isinstance(op, ast.LShift) and 0 <= right <= 64:
            value = left << right
        else:
            raise _Unsafe(f"operator {type(op).__name__}")
        if abs(value) > 1 << 80:
            raise _Unsafe("too large")
        return value, where_l or where_r
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "int" and len(node.args) == 1:
        return _evaluate(node.args[0], path, depth, bound)
    if isinstance(node, ast.Name):
        if bound and node.id in bound:
            return bound[node.id], ""
        tree = _parse(path)
        assigned = _top_assignments(tree)
        if node.id in assigned:
            value, where = _evaluate(assigned[node.id], path, depth + 1, bound)
            return value, where or f"{node.id} = {_literal_text(assigned[node.id])} in {os.path.basename(path)}"
        origin = _imported_from(tree, node.id)
        if origin is not None:
            module, level, original = origin
            target = _module_file(module, level, path)
            if target is None:
                raise _Unsafe(f"cannot find {module}")
            target_assigned = _top_assignments(_parse(target))
            if original not in target_assigned:
                raise _Unsafe(f"{original} is not assigned in {module}")
            value, where = _evaluate(target_assigned[original], target, depth + 1)
            return value, where or f"{original} = {_literal_text(target_assigned[original])} in {module}"
        raise _Unsafe(f"unknown name {node.id}")
    raise _Unsafe(type(node).__name__)


def _literal_text(node: ast.expr) -> str:
    """A short rendering of literal arithmetic (``500 * 1024 * 1024``), without ``ast.unparse`` (Python 3.9+)."""
    if isinstance(node, ast.Constant):
        return repr(node.value)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.BinOp):
        ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Pow: "**", ast.LShift: "<<"}
        return f"{_literal_text(node.left)} {ops.get(type(node.op), '?')} {_literal_text(node.right)}"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return f"-{_literal_text(node.operand)}"
    return "…"


def _environ_get(node: ast.expr) -> Optional[Tuple[str, ast.expr]]:
    """(variable, default) of ``int(os.environ.get("NAME", default))`` or ``os.environ.get("NAME", default)``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "int" and len(node.args) == 1:
        node = node.args[0]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and len(node.args) == 2 and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        owner = node.func.value
        if isinstance(owner, ast.Attribute) and owner.attr == "environ":
            return node.args[0].value, node.args[1]
    return None


def _zip_call(tree: ast.Module) -> Optional[ast.Call]:
    """The ``ZipFile(..., "w", ...)`` call of the function that packs a folder (``_zip_files``, ``_zip_directory``)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in ("_zip_files", "_zip_directory"):
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    func = call.func
                    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                    if name == "ZipFile":
                        return call
    return None


def _zip_settings(tree: ast.Module) -> Dict[str, Any]:
    """{"compression": "stored"|"deflated"|..., "compresslevel", "strict_timestamps"} of Ray's ZipFile call."""
    call = _zip_call(tree)
    settings: Dict[str, Any] = {"compression": "stored", "compresslevel": None, "strict_timestamps": True}
    if call is None:
        settings["compression"] = None
        settings["strict_timestamps"] = None
        return settings
    compression: Optional[ast.expr] = call.args[2] if len(call.args) > 2 else None
    for keyword in call.keywords:
        if keyword.arg == "compression":
            compression = keyword.value
        elif keyword.arg == "strict_timestamps" and isinstance(keyword.value, ast.Constant):
            settings["strict_timestamps"] = bool(keyword.value.value)
        elif keyword.arg == "compresslevel" and isinstance(keyword.value, ast.Constant):
            settings["compresslevel"] = keyword.value.value
    if compression is not None:
        name = compression.attr if isinstance(compression, ast.Attribute) else compression.id if isinstance(compression, ast.Name) else ""
        settings["compression"] = name[len("ZIP_"):].lower() if name.startswith("ZIP_") else name or "?"
    return settings


def _limit_from_table(ray_version: Optional[str]) -> Tuple[int, str]:
    release = _release(ray_version)
    chosen = LIMIT_TABLE[-1]
    if release is not None:
        for row in LIMIT_TABLE:
            if release >= (_release(row[0]) or (0, 0, 0)):
                chosen = row
    text = f"from this tool's table of releases read ({chosen[2]})"
    low, high = (_release(v) for v in LIMIT_TABLE_GAP)
    if release is None:
        text += f"; Ray version {ray_version!r} unknown: the newest figure"
    elif low is not None and high is not None and low < release < high:
        text += f"; Ray {ray_version} lies between {LIMIT_TABLE_GAP[0]} and {LIMIT_TABLE_GAP[1]}, whose figures were read: the smaller is used"
    return chosen[1], text


def upload_limit(environ: Mapping[str, str], ray_version: Optional[str], packaging_file: Optional[str]) -> Dict[str, Any]:
    """The size at which Ray refuses a packed working_dir (``len(zip) >= GCS_STORAGE_MAX_SIZE``), read from
    ``packaging_file`` (Ray's packaging.py, parsed, not imported) with ``RAY_max_grpc_message_size`` from ``environ``
    overriding it as in Ray; from this module's table by ``ray_version`` when there is no file.

    Returns {"bytes", "source", "env_var", "default_bytes", "warning_bytes" (Ray's own warning threshold, or None),
    "warning_source", "compression" ("stored": Ray does not compress), "compresslevel", "strict_timestamps"
    (True: files dated before 1980 make Ray's zip fail; None: unknown), "from_table", "problems"}."""
    problems: List[str] = []
    env_var = LIMIT_ENV
    warning_env = PACKAGE_SIZE_WARNING_ENV
    settings: Dict[str, Any] = {"compression": "stored", "compresslevel": None, "strict_timestamps": None}
    default: Optional[int] = None
    source = ""
    warning_node: Optional[ast.expr] = None
    tree: Optional[ast.Module] = None
    if packaging_file:
        try:
            tree = _parse(packaging_file)
            assigned = _top_assignments(tree)
            node = assigned.get("GCS_STORAGE_MAX_SIZE")
            if node is None:
                raise _Unsafe("no GCS_STORAGE_MAX_SIZE assignment")
            got = _environ_get(node)
            if got is not None:
                env_var, default_node = got
            else:
                default_node = node
            default, where = _evaluate(default_node, packaging_file)
            source = f"GCS_STORAGE_MAX_SIZE in {os.path.basename(packaging_file)}: default " + (
                where or _literal_text(default_node))
            settings = _zip_settings(tree)
            warning_node = assigned.get("PACKAGE_SIZE_WARNING")
            if isinstance(assigned.get("PACKAGE_SIZE_WARNING_MIB_ENV_VAR"), ast.Constant):
                warning_env = str(assigned["PACKAGE_SIZE_WARNING_MIB_ENV_VAR"].value)  # type: ignore[attr-defined]
        except (OSError, SyntaxError, ValueError) as exc:
            problems.append(f"could not read the limit from {packaging_file}: {exc}")
            default = None
            tree = None
    from_table = default is None
    if default is None:
        default, source = _limit_from_table(ray_version)
        strict_release = _release(ray_version)
        if strict_release is not None:
            if strict_release <= (_release(STRICT_TIMESTAMPS_UNTIL) or ()):
                settings["strict_timestamps"] = True
            elif strict_release >= (_release(LENIENT_TIMESTAMPS_SINCE) or ()):
                settings["strict_timestamps"] = False
    limit = default
    raw = environ.get(env_var)
    if raw is not None:
        try:
            limit = int(raw)
            source = f"{env_var}={raw} (overrides the default {default}: {source})"
        except ValueError:
            problems.append(f"{env_var}={raw!r} is not an integer: importing Ray's packaging module raises ValueError")
    warning: Optional[int] = None
    warning_source = ""
    if tree is not None and warning_node is not None and packaging_file:
        try:
            warning, _ = _evaluate(warning_node, packaging_file, bound={"GCS_STORAGE_MAX_SIZE": limit})
            warning_source = f"PACKAGE_SIZE_WARNING = {_literal_text(warning_node)}"
        except _Unsafe as exc:
            problems.append(f"could not read PACKAGE_SIZE_WARNING: {exc}")
    elif tree is None and _at_least(ray_version, PACKAGE_SIZE_WARNING_SINCE):
        warning = limit // 2
        warning_source = f"half the limit, as Ray {PACKAGE_SIZE_WARNING_SINCE} and later warn"
    if warning is not None and environ.get(warning_env) is not None:
        try:
            mib = int(environ[warning_env])
            warning = None if mib < 0 else mib * MIB
            warning_source = f"{warning_env}={environ[warning_env]}"
        except ValueError:
            pass  # Ray keeps its default threshold for a malformed value
    return {"bytes": limit, "source": source, "env_var": env_var, "default_bytes": default, "warning_bytes": warning,
            "warning_source": warning_source, "compression": settings["compression"] or "stored",
            "compresslevel": settings["compresslevel"], "strict_timestamps": settings["strict_timestamps"],
            "from_table": from_table, "problems": problems}


# --- the zipped size ----------------------------------------------------------------------------------------------

def _data_segments(fd: int, size: int, limit: int = 4096) -> Optional[List[Tuple[int, int]]]:
    """The file's data extents [(start, end)] by SEEK_DATA/SEEK_HOLE; None where the system cannot tell."""
    seek_data, seek_hole = getattr(os, "SEEK_DATA", None), getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        return None
    segments: List[Tuple[int, int]] = []
    offset = 0
    try:
        while offset < size and len(segments) < limit:
            try:
                start = os.lseek(fd, offset, seek_data)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break
                raise
            end = min(size, os.lseek(fd, start, seek_hole))
            if end <= start:
                break
            segments.append((start, end))
            offset = end
    except OSError:
        return None
    if len(segments) >= limit:
        return None
    return segments


def _deflated(data: bytes, level: int) -> int:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return len(compressor.compress(data) + compressor.flush())


def _sample_file(path: str, size: int, level: int) -> Dict[str, Any]:
    """Read up to three 64 KiB samples of the file's data (start, middle, end) and deflate them at ``level``."""
    with open(path, "rb") as handle:
        fd = handle.fileno()
        segments = _data_segments(fd, size)
        if segments is None:
            segments = [(0, size)]
        data_bytes = sum(end - start for start, end in segments)
        offsets: List[int] = []
        if data_bytes:
            for fraction in (0.0, 0.5, 1.0):
                target = int((data_bytes - min(SAMPLE_BYTES, data_bytes)) * fraction)
                for start, end in segments:
                    if target < end - start:
                        offsets.append(start + target)
                        break
                    target -= end - start
        seen_in = seen_out = 0
        ratios: List[float] = []
        for offset in dict.fromkeys(offsets):
            handle.seek(offset)
            chunk = handle.read(SAMPLE_BYTES)
            if not chunk:
                continue
            out = _deflated(chunk, level)
            seen_in += len(chunk)
            seen_out += out
            ratios.append(out / len(chunk))
        return {"data": data_bytes, "holes": max(0, size - data_bytes), "in": seen_in, "out": seen_out, "ratios": ratios}


def estimate_zip_bytes(root: str, walk: Dict[str, Any], *, compression: str = "stored", compresslevel: Optional[int] = None,
                       deadline_s: float = 5.0) -> Dict[str, Any]:
    """The size of the zip Ray would build from the walk's files, without building it.

    ``compression`` is what Ray's ``ZipFile`` uses (``upload_limit(...)["compression"]``): every Ray read stores files
    ("stored"), so the size is the files' bytes plus zipfile's own per-entry records, computed, not guessed. For
    "deflated" (a zip that compresses), the largest files (at most 32) are sampled: their holes (SEEK_DATA/SEEK_HOLE)
    count as zeros (about 1030:1), up to three 64 KiB samples of their data are deflated at ``compresslevel`` (zlib's
    default when None, as zipfile's) for a ratio; the other files take the ratio of a few of them read whole, plus the
    per-entry records.

    Returns {"estimated_bytes", "low", "high", "compression", "method", "overhead_bytes", "lower_bound" (the walk was cut
    short), "sampled" (for "deflated": [{"path", "bytes", "data", "ratio"}])}."""
    zip_info = walk.get("zip", {})
    entries = int(zip_info.get("entries", 0))
    names = int(zip_info.get("name_bytes", 0))
    total = int(walk.get("bytes", 0))
    overhead = entries * (ZIP_LOCAL_HEADER + ZIP_CENTRAL_HEADER) + 2 * names + ZIP_END_RECORD
    overhead += 20 * int(zip_info.get("zip64_local", 0)) + 20 * int(zip_info.get("zip64_central", 0))
    overhead_high = overhead
    if entries >= 0xFFFF or total + overhead > ZIP64_LIMIT:
        overhead += ZIP64_END_RECORDS
        overhead_high += ZIP64_END_RECORDS
    if total + overhead > ZIP64_LIMIT:
        overhead_high += 12 * entries  # entries past 2 GiB carry their offset in a zip64 field; which ones depends on order
    lower_bound = bool(walk.get("truncated"))
    if compression in (None, "", "stored"):
        low, high = total + overhead, total + overhead_high
        return {"estimated_bytes": (low + high) // 2, "low": low, "high": high, "compression": "stored",
                "method": "Ray stores files uncompressed (ZIP_STORED): every byte of every file, holes included, plus "
                          f"{ZIP_LOCAL_HEADER + ZIP_CENTRAL_HEADER} bytes and twice the name per entry and the end records",
                "overhead_bytes": overhead, "lower_bound": lower_bound, "sampled": []}
    if compression != "deflated":
        return {"estimated_bytes": total + overhead, "low": overhead, "high": total + overhead_high, "compression": compression,
                "method": f"{compression} is not modelled: anywhere between the records alone and the files stored",
                "overhead_bytes": overhead, "lower_bound": lower_bound, "sampled": []}
    level = zlib.Z_DEFAULT_COMPRESSION if compresslevel is None else int(compresslevel)
    deadline = time.monotonic() + deadline_s
    sampled: List[Dict[str, Any]] = []
    big = list(walk.get("big_files", []))
    # The files making up most of the bytes: largest first, until 90 % of the bytes or 32 files.
    chosen: List[Dict[str, Any]] = []
    covered = 0
    for item in big:
        if covered >= 0.9 * total and chosen:
            break
        chosen.append(item)
        covered += int(item["bytes"])
    est_f: float = 0.0
    low_f: float = 0.0
    high_f: float = 0.0
    big_bytes = 0
    ratio_in = ratio_out = 0
    for item in chosen:
        size = int(item["bytes"])
        big_bytes += size
        path = os.path.join(root, item["path"])
        result: Optional[Dict[str, Any]] = None
        if time.monotonic() < deadline:
            try:
                result = _sample_file(path, size, level)
            except OSError:
                result = None
        if result is None or not result["in"]:
            holes = result["holes"] if result else max(0, size - int(item.get("allocated", size)))
            data = size - holes
            est_f += data * 0.5 + holes * ZERO_RATIO_LOW
            low_f += holes * ZERO_RATIO_LOW
            high_f += data * 1.001 + holes * ZERO_RATIO_HIGH + 64
            sampled.append({"path": item["path"], "bytes": size, "data": data, "ratio": None})
            continue
        ratio = result["out"] / result["in"]
        r_min, r_max = min(result["ratios"]), max(result["ratios"])
        data, holes = result["data"], result["holes"]
        unsampled = max(0, data - result["in"])
        est_f += result["out"] + unsampled * ratio + holes * (1.0 / 1030)
        low_f += result["out"] + unsampled * r_min * 0.5 + holes * ZERO_RATIO_LOW
        high_f += result["out"] + unsampled * min(1.001, max(r_max * 2, r_max + 0.05)) + holes * ZERO_RATIO_HIGH + 64
        ratio_in += result["in"]
        ratio_out += result["out"]
        sampled.append({"path": item["path"], "bytes": size, "data": data, "ratio": round(ratio, 4)})
    rest = max(0, total - big_bytes)
    small_in = small_out = 0
    for rel in walk.get("small_sample", []):
        if time.monotonic() >= deadline:
            break
        try:
            with open(os.path.join(root, rel), "rb") as handle:
                chunk = handle.read(SAMPLE_BYTES)
        except OSError:
            continue
        small_in += len(chunk)
        small_out += _deflated(chunk, level) if chunk else 2
    if small_in:
        small_ratio = small_out / small_in
    elif ratio_in:
        small_ratio = ratio_out / ratio_in
    else:
        small_ratio = 0.5
    rest_files = max(0, int(walk.get("files", 0)) - len(chosen))
    est_f += rest * small_ratio + rest_files * 2
    low_f += rest * small_ratio * 0.3
    high_f += rest * min(1.001, max(1.0, small_ratio)) + rest_files * 5
    estimated = int(est_f) + overhead
    return {"estimated_bytes": estimated, "low": int(low_f) + overhead, "high": int(high_f) + overhead_high, "compression": "deflated",
            "method": f"deflate samples of the {len(chosen)} largest file(s) (holes as zeros, ~1030:1), the other "
                      f"{rest_files} file(s) at a ratio of {small_ratio:.2f}, plus zipfile's per-entry records",
            "overhead_bytes": overhead, "lower_bound": lower_bound, "sampled": sampled}


# --- the verdict --------------------------------------------------------------------------------------------------

def _size(n: float) -> str:
    n = float(n)
    if n >= GIB:
        return f"{n / GIB:.2f} GiB"
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{int(n)} B"


def _remedy(walk: Dict[str, Any], paths: Sequence[str]) -> str:
    reads = walk.get("reads", {})
    quoted = ", ".join(f'"{p}"' for p in paths[:3]) or '"<path>"'
    places = [f"add them to the runtime_env's excludes ({{\"excludes\": [{quoted}]}})"]
    ignore_files = []
    if reads.get("gitignore", True):
        ignore_files.append(".gitignore")
    if reads.get("rayignore"):
        ignore_files.append(".rayignore")
    if ignore_files:
        places.append("list them in a " + " or ".join(ignore_files) + " in the working_dir")
    else:
        version = walk.get("ray_version") or "this"
        places.append(f"(Ray {version} reads no .rayignore" + ("; .gitignore is switched off" if not reads.get("gitignore", True) else "") + ")")
    places.append("or put large data in cloud storage (s3://, gs://) and read it from the job instead of shipping it")
    return "; ".join(places)


def judge_upload(walk: Dict[str, Any], limit: Dict[str, Any], estimate: Dict[str, Any]) -> Dict[str, Any]:
    """Whether the packed working_dir fits Ray's limit: {"verdict": "fits" | "near" | "too-big" | "unknown", "message"
    (one line), "remedy", "problems" (what makes the packing fail whatever its size), "limit_bytes", "warning_bytes",
    "estimated_bytes", "low", "high"}.

    "too-big": even the low end of the estimate reaches the limit (Ray refuses ``len(zip) >= limit``); "near": the range
    reaches the limit, or the estimate reaches Ray's own warning threshold (half the limit from Ray 2.56), or 90 % of the
    limit where Ray has none; "unknown": the walk stopped at its deadline before seeing too much."""
    limit_bytes = int(limit["bytes"])
    warning = limit.get("warning_bytes")
    est, low, high = int(estimate["estimated_bytes"]), int(estimate["low"]), int(estimate["high"])
    truncated = bool(walk.get("truncated"))
    if low >= limit_bytes:
        verdict = "too-big"
    elif truncated:
        verdict = "unknown"
    elif high >= limit_bytes or (warning is not None and est >= warning) or (warning is None and est >= 0.9 * limit_bytes):
        verdict = "near"
    else:
        verdict = "fits"
    stored = estimate.get("compression") == "stored"
    at_least = "at least " if truncated else ""
    total = int(walk.get("bytes", 0))
    holes = bool(walk.get("holes", {}).get("bytes"))
    stored_note = " (Ray stores files uncompressed" + ("; holes count in full)" if holes else ")")
    zipped = f"{at_least}{_size(est)}" + (stored_note if stored else f" (range {_size(low)} to {_size(high)})")
    on_disk = f"{at_least}{_size(total)} in {walk.get('files', 0):,} file(s)"
    if holes:
        on_disk += f", of which only {_size(walk.get('allocated_bytes', 0))} allocated on disk (sparse)"
    words = {"fits": "fits", "near": "is close to", "too-big": "is over", "unknown": "could not be sized against"}
    message = f"working_dir: {on_disk}; zipped {zipped} {words[verdict]} Ray's limit of {_size(limit_bytes)}"
    if verdict == "near" and warning is not None and est >= warning:
        message += f" (Ray warns from {_size(warning)})"
    largest = [item for item in walk.get("largest", []) if item["bytes"] >= 0.01 * total][:3] or list(walk.get("largest", []))[:1]
    if verdict in ("too-big", "near") and largest:
        message += "; largest: " + ", ".join(f"{item['path']} {_size(item['bytes'])}" for item in largest)
    problems: List[str] = []
    for error in walk.get("errors", []):
        problems.append(f"{error['path']}: {error['error']}")
    for loop in walk.get("symlink_loops", []):
        problems.append(f"{loop['path']} links to a folder above it ({loop['target'] or '?'}): Ray follows it about "
                        f"{SYMLINK_DEPTH} levels deep, packing that folder as many times over (more with several such links)")
    if walk.get("unreadable", {}).get("count"):
        problems.append(f"{walk['unreadable']['count']} file(s) this user cannot read (e.g. {walk['unreadable']['sample'][0]}): "
                        "Ray's zip raises PermissionError")
    if walk.get("bad_timestamps", {}).get("count"):
        strict = limit.get("strict_timestamps")
        sample = walk["bad_timestamps"]["sample"][0]
        if strict:
            problems.append(f"{walk['bad_timestamps']['count']} file(s) dated before 1980 or after 2107 (e.g. {sample}): "
                            "this Ray's zip raises ValueError (touch them, or exclude them)")
        elif strict is None:
            problems.append(f"{walk['bad_timestamps']['count']} file(s) dated before 1980 or after 2107 (e.g. {sample}): "
                            f"Ray {STRICT_TIMESTAMPS_UNTIL} and older refuse them")
    for name in walk.get("bad_names", [])[:3]:
        problems.append(f"{name}: a file name that is not valid UTF-8, which zipfile cannot store")
    if walk.get("root_excluded"):
        problems.append(f"the working_dir itself matches {walk['root_excluded']['rule']}: Ray uploads an empty package")
    problems.extend(limit.get("problems", []))
    if problems:
        message += f"; and {len(problems)} problem(s) besides its size (see problems)"
    remedy = ""
    if verdict in ("too-big", "near", "unknown"):
        remedy = _remedy(walk, [item["path"] for item in largest])
    return {"verdict": verdict, "message": message, "remedy": remedy, "problems": problems, "limit_bytes": limit_bytes,
            "warning_bytes": warning, "estimated_bytes": est, "low": low, "high": high,
            "limit_source": limit.get("source", ""), "estimate_method": estimate.get("method", "")}


# --- the runtime_env's shape --------------------------------------------------------------------------------------

def _band(version: Optional[str]) -> Tuple[Tuple[str, str, frozenset], Optional[str]]:
    """(the band of ``KNOWN_FIELDS`` for ``version``, a note when the version lies where nothing was read)."""
    release = _release(version)
    if release is None:
        return KNOWN_FIELDS[-1], f"Ray version {version!r} unknown: judged as Ray {KNOWN_FIELDS[-1][1]}"
    chosen = KNOWN_FIELDS[0]
    for band in KNOWN_FIELDS:
        if release >= (_release(band[0]) or ()):
            chosen = band
    note = None
    if release > (_release(chosen[1]) or ()) and chosen is not KNOWN_FIELDS[-1]:
        note = f"Ray {version} was not read; judged as Ray {chosen[1]}"
    elif release < (_release(KNOWN_FIELDS[0][0]) or ()):
        note = f"Ray {version} is older than any read; judged as Ray {KNOWN_FIELDS[0][0]}"
    return chosen, note


def _is_uri(value: str) -> bool:
    return "://" in value


def _suffix_ok(name: str, suffixes: Iterable[str]) -> bool:
    return any(name.lower().endswith(s) for s in suffixes)


def _type_name(value: Any) -> str:
    return type(value).__name__


def without_secrets(env: Any) -> Any:
    """``env`` with every text ``env_vars`` value masked (they hold API keys and passwords): what reports and records show.
    A value of another type (which Ray refuses) stays, so that it can still be judged."""
    from preflight.redaction import MASK

    if not isinstance(env, dict) or not isinstance(env.get("env_vars"), dict):
        return env
    return dict(env, env_vars={name: MASK if isinstance(value, str) else value for name, value in env["env_vars"].items()})


def validate_runtime_env(env: Any, server_ray_version: Optional[str], base_dir: Optional[str] = None) -> List[str]:
    """Problems Ray would raise (or silently act on) for ``env``, one line each; ``[]`` when none. Local paths are
    relative to ``base_dir`` (the script's folder; default: the current one). Remote URIs are checked for form only."""
    if env is None:
        return []
    if not isinstance(env, dict):
        return [f"runtime_env must be a dict (a mapping of field to value), not {_type_name(env)}"]
    base = os.path.abspath(base_dir or os.getcwd())
    band, note = _band(server_ray_version)
    first, _last, known = band
    version_text = f"Ray {server_ray_version}" if server_ray_version else f"Ray {band[1]}"
    problems: List[str] = []
    later_known: Set[str] = set().union(*(b[2] for b in KNOWN_FIELDS if b is not band))
    for key in env:
        if not isinstance(key, str):
            problems.append(f"runtime_env key {key!r} is not a string")
            continue
        if key in known:
            continue
        if key in later_known:
            where = "newer" if (_release(first) or ()) < max(_release(b[0]) or () for b in KNOWN_FIELDS if key in b[2]) else "older"
            problems.append(f"runtime_env key {key!r} is known only to {where} Ray releases than {version_text}: "
                            "its runtime_env agent ignores it with a warning")
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"runtime_env key {key!r} is not a field {version_text} knows{hint}: unless the cluster has a "
                        "plugin of that name, it is ignored with a warning")
    archives = ARCHIVE_SUFFIXES[first]
    working_dir = env.get("working_dir")
    if working_dir is not None:
        if isinstance(working_dir, os.PathLike):
            working_dir = os.fspath(working_dir)
        if not isinstance(working_dir, str):
            problems.append(f"working_dir must be a string (a local folder, a .zip, or a remote URI), not {_type_name(working_dir)}")
        elif _is_uri(working_dir):
            scheme = working_dir.split("://", 1)[0].lower()
            if scheme not in REMOTE_SCHEMES or (scheme == "local" and first == "2.2.0"):
                problems.append(f"working_dir {working_dir!r}: {version_text} does not know the scheme {scheme}://")
            elif scheme not in ("gcs", "local") and not _suffix_ok(working_dir.split("?", 1)[0], archives):
                problems.append(f"working_dir {working_dir!r}: {version_text} takes only {', '.join(archives)} archives from a remote URI")
        else:
            local = os.path.join(base, os.path.expanduser(working_dir))
            if not os.path.exists(local):
                problems.append(f"working_dir {working_dir!r} does not exist (looked at {local})")
            elif not os.path.isdir(local) and not _suffix_ok(local, archives):
                problems.append(f"working_dir {working_dir!r} must be an existing folder or a {'/'.join(archives)} file")
    py_modules = env.get("py_modules")
    if py_modules is not None:
        if not isinstance(py_modules, list):
            problems.append(f"py_modules must be a list of strings, not {_type_name(py_modules)}")
        else:
            for item in py_modules:
                if isinstance(item, os.PathLike):
                    item = os.fspath(item)
                if type(item).__name__ == "module":
                    continue  # ray.init takes module objects and uploads their folders
                if not isinstance(item, str):
                    problems.append(f"py_modules entry {item!r} must be a string (a local path or a URI), not {_type_name(item)}")
                elif not _is_uri(item) and not os.path.exists(os.path.join(base, os.path.expanduser(item))):
                    problems.append(f"py_modules entry {item!r} does not exist (looked at {os.path.join(base, item)})")
    pip = env.get("pip")
    if pip is not None:
        problems.extend(_pip_problems(pip, base, PIP_DICT_KEYS[first]))
    conda = env.get("conda")
    if conda is not None:
        if isinstance(conda, str):
            if conda.endswith((".yaml", ".yml")) and not os.path.isfile(os.path.join(base, conda)):
                problems.append(f"conda file {conda!r} does not exist (looked at {os.path.join(base, conda)})")
        elif not isinstance(conda, dict):
            problems.append(f"conda must be a string (an env name or a .yaml file) or a dict, not {_type_name(conda)}")
    env_vars = env.get("env_vars")
    if env_vars is not None:
        if not isinstance(env_vars, dict):
            problems.append(f"env_vars must be a dict of strings, not {_type_name(env_vars)}")
        else:
            for name, value in env_vars.items():
                if not isinstance(name, str) or not isinstance(value, str):
                    problems.append(f"env_vars[{name!r}] is {_type_name(value)}: Ray takes only strings (quote it; the value "
                                    "is not shown)")
    excludes = env.get("excludes")
    if excludes is not None and not (isinstance(excludes, list) and all(isinstance(x, str) for x in excludes)):
        problems.append(f"excludes must be a list of strings (gitignore patterns), not {_type_name(excludes)}"
                        + (" (a single string is not a list)" if isinstance(excludes, str) else ""))
    config = env.get("config")
    if config is not None and not isinstance(config, dict):
        problems.append(f"config must be a dict, not {_type_name(config)}")
    if first == "2.2.0":
        if env.get("pip") and env.get("conda"):
            problems.append(f"pip and conda together: {version_text} refuses them (put pip packages in the conda dict's dependencies)")
    else:
        given = [k for k in ("pip", "conda", "uv") if env.get(k) is not None]
        if len(given) > 1:
            problems.append(f"{' and '.join(given)} together: {version_text} refuses them (one of pip, uv or conda)")
        if env.get("container"):
            others = sorted(set(env) - {"container", "config", "env_vars"})
            if others:
                problems.append(f"container cannot be combined with {others} in {version_text}")
    if note and problems:
        problems.append(note)
    return problems


def _pip_problems(pip: Any, base: str, dict_keys: Set[str]) -> List[str]:
    problems: List[str] = []
    if isinstance(pip, str):
        if not os.path.isfile(os.path.join(base, pip)):
            problems.append(f"pip requirements file {pip!r} does not exist (looked at {os.path.join(base, pip)})")
    elif isinstance(pip, list):
        bad = [x for x in pip if not isinstance(x, str)]
        if bad:
            problems.append(f"pip entries must be strings: {bad[:3]!r}")
    elif isinstance(pip, dict):
        extra = sorted(set(map(str, pip)) - dict_keys)
        if extra:
            problems.append(f"pip dict holds {extra}: Ray takes only {sorted(dict_keys)}")
        if "packages" not in pip:
            problems.append("pip dict has no 'packages'")
        elif not isinstance(pip["packages"], (list, str)):
            problems.append(f"pip['packages'] must be a list of strings or a requirements file, not {_type_name(pip['packages'])}")
        elif isinstance(pip["packages"], str) and not os.path.isfile(os.path.join(base, pip["packages"])):
            problems.append(f"pip requirements file {pip['packages']!r} does not exist")
        if "pip_check" in pip and not isinstance(pip["pip_check"], bool):
            problems.append(f"pip['pip_check'] must be true or false, not {_type_name(pip['pip_check'])}")
        if "pip_version" in pip and not isinstance(pip["pip_version"], str):
            problems.append(f"pip['pip_version'] must be a string, not {_type_name(pip['pip_version'])}")
    else:
        problems.append(f"pip must be a list of requirements, a requirements file or a dict with 'packages', not {_type_name(pip)}")
    return problems


def pip_entries_of(env: Any, base_dir: Optional[str] = None) -> List[str]:
    """The pip requirement lines of a runtime_env (``pip`` as a list, a requirements file, or a dict's ``packages``)."""
    if not isinstance(env, dict):
        return []
    pip = env.get("pip")
    if isinstance(pip, dict):
        pip = pip.get("packages")
    if isinstance(pip, str):
        path = os.path.join(os.path.abspath(base_dir or os.getcwd()), pip)
        try:
            with open(path, "r", encoding="utf-8", errors="replace") as handle:
                return handle.read().strip().split("\n")
        except OSError:
            return []
    if isinstance(pip, list):
        return [x for x in pip if isinstance(x, str)]
    return []


# --- pip entries against the cluster's Ray ------------------------------------------------------------------------

#: Releases of pydantic 1 and protobuf 3 to try a specifier against ("admits only pydantic >= 2": none of these passes).
PYDANTIC_1 = ("1.0", "1.5.1", "1.8.2", "1.9.2", "1.10.0", "1.10.2", "1.10.8", "1.10.13", "1.10.17", "1.10.21", "1.10.26")
PROTOBUF_3 = ("3.15.3", "3.17.3", "3.19.6", "3.20.0", "3.20.3")


def _admits_any(specifier: SpecifierSet, versions: Iterable[str]) -> bool:
    return any(specifier.contains(v, prereleases=True) for v in versions)


def _neighbours(version: str) -> List[str]:
    """Versions at and just around ``version`` (1.2 -> 1.2, 1.2.1, 1.3, 1.1.99), to find one two specifiers share."""
    text = version.rstrip("*").rstrip(".")
    try:
        parsed = Version(text)
    except InvalidVersion:
        return []
    release = list(parsed.release)
    out = [str(parsed), ".".join(map(str, release + [1])), ".".join(map(str, release[:-1] + [release[-1] + 1])),
           ".".join(map(str, release + [0, 1]))]
    if len(release) >= 2:
        out.append(".".join(map(str, release[:-2] + [release[-2] + 1, 0])))
        out.append(".".join(map(str, [release[0] + 1] + [0] * (len(release) - 1))))
    for i in range(len(release) - 1, -1, -1):
        if release[i] > 0:
            out.append(".".join(map(str, release[:i] + [release[i] - 1] + [99] * (len(release) - 1 - i))))
            break
    if version.endswith("*"):
        out.append(".".join(map(str, release + [99])))
    return out


def _compatible(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Whether some version satisfies both (tried on the versions either names and their neighbours)."""
    candidates: List[str] = ["0.1", "1.0", "100.0"]
    for spec in list(a) + list(b):
        candidates.extend(_neighbours(spec.version))
    return any(a.contains(c, prereleases=True) and b.contains(c, prereleases=True) for c in dict.fromkeys(candidates))


def _marker_env(server_python: Optional[str]) -> Dict[str, str]:
    env: Dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    if server_python:
        parts = server_python.split(".")
        env["python_version"] = ".".join(parts[:2])
        env["python_full_version"] = server_python if len(parts) >= 3 else server_python + ".0"
    return env


def _ray_requirements(server_python: Optional[str]) -> List[Requirement]:
    """The installed Ray's declared requirements that apply on the server's Python (base and the ``default`` extra)."""
    try:
        from importlib.metadata import PackageNotFoundError, requires
    except ImportError:  # pragma: no cover
        return []
    try:
        declared = requires("ray") or []
    except PackageNotFoundError:
        return []
    env = _marker_env(server_python)
    found: List[Requirement] = []
    for line in declared:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None:
            applies = False
            for extra in ("", "default"):
                try:
                    if req.marker.evaluate({**env, "extra": extra}):
                        applies = True
                        break
                except Exception:  # noqa: BLE001 - an unknown marker variable: leave the requirement out
                    break
            if not applies:
                continue
        found.append(req)
    return found


def _skippable(entry: str) -> bool:
    """pip lines that are options, comments, paths or URLs: not requirements to judge."""
    text = entry.strip()
    return (not text or text.startswith(("-", "#", ".", "/", "~")) or "://" in text.split("@", 1)[0]
            or text.startswith(("git+", "hg+", "svn+", "bzr+")))


def pip_conflicts(pip_entries: List[str], server_ray_version: Optional[str], server_python: Optional[str]) -> List[Dict[str, str]]:
    """The pip entries of a runtime_env that would break or replace the cluster's Ray: [{"entry", "why", "fix"}].

    Checked: a ``ray`` requirement that excludes the server's Ray; ``pydantic`` admitting only 2.x on Ray < 2.5;
    ``protobuf`` admitting only >= 4 on Ray 2.2.x; and, when the Ray installed here is the server's release, any entry
    that no version of one of that Ray's declared requirements (markers evaluated for ``server_python``) can satisfy.
    Entries pip would take but that are not requirements (options, paths, URLs) are passed over; anything else that
    does not parse is reported."""
    results: List[Dict[str, str]] = []
    server = _release(server_ray_version)
    env = _marker_env(server_python)
    declared: Optional[List[Requirement]] = None
    for entry in pip_entries:
        if not isinstance(entry, str):
            results.append({"entry": repr(entry), "why": "not a string: pip cannot read it", "fix": "write the requirement as a string"})
            continue
        if _skippable(entry):
            continue
        line = entry.split(" #", 1)[0].strip()
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            results.append({"entry": entry, "why": f"not a requirement pip understands ({str(exc).splitlines()[0]})",
                            "fix": "write it as name[extras] followed by version specifiers, e.g. 'numpy>=1.21,<2'"})
            continue
        if req.marker is not None:
            try:
                if not req.marker.evaluate(env):
                    continue
            except Exception:  # noqa: BLE001 - a marker pip would choke on
                results.append({"entry": entry, "why": "its environment marker cannot be evaluated", "fix": "drop or correct the marker"})
                continue
        name = canonicalize_name(req.name)
        spec = req.specifier
        if name == "ray" and server_ray_version and str(spec) and not spec.contains(server_ray_version, prereleases=True):
            results.append({"entry": entry,
                            "why": f"asks for a Ray the cluster does not run ({server_ray_version}): the job's environment "
                                   "would get another Ray than the cluster's, and its workers fail to start or connect",
                            "fix": f"ray=={server_ray_version} (or drop the entry: the cluster's Ray is already there)"})
            continue
        if name == "pydantic" and server is not None and server < (2, 5, 0) and str(spec) and not _admits_any(spec, PYDANTIC_1):
            results.append({"entry": entry,
                            "why": f"admits only pydantic 2, and Ray {server_ray_version} (before 2.5) breaks with it: every "
                                   "Ray Client connection fails with \"module 'pydantic.fields' has no attribute 'ModelField'\"",
                            "fix": "pydantic<2"})
            continue
        if name == "protobuf" and server is not None and server[:2] == (2, 2) and str(spec) and not _admits_any(spec, PROTOBUF_3):
            results.append({"entry": entry,
                            "why": f"admits only protobuf 4 or later, which breaks Ray {server_ray_version}'s dashboard (its node view)",
                            "fix": "protobuf<4"})
            continue
        if not str(spec) or not server_ray_version or installed_ray_version() != server_ray_version:
            continue
        if declared is None:
            declared = _ray_requirements(server_python)
        for need in declared:
            if canonicalize_name(need.name) != name or not str(need.specifier):
                continue
            try:
                ok = _compatible(spec, need.specifier)
            except (InvalidSpecifier, InvalidVersion):
                continue
            if not ok:
                results.append({"entry": entry,
                                "why": f"Ray {server_ray_version} requires {need.name}{need.specifier}, which no version "
                                       f"allowed by {req.name}{spec} satisfies: pip would replace it under the cluster's Ray",
                                "fix": f"{need.name}{need.specifier} (or drop the entry)"})
                break
    return results
