"""What a user's script needs, read from its source without running it.

``read_script`` parses a Python file, or the code cells of a Jupyter notebook, with ``ast``: the script is never
executed nor imported. It returns plain-JSON facts: the modules the script imports (standard library, third-party,
or files beside it), the resources its ``@ray.remote(...)`` and ``.options(...)`` calls ask for, its ``ray.init(...)``
calls (address, runtime_env) and the Ray libraries it uses. ``distribution_for`` maps an import name to the
distribution that provides it in this Python.

Every entry that has a ``line`` also has a ``cell``: None for a Python file; for a notebook, the 1-based index of the
cell among all the notebook's cells (markdown included, as Jupyter shows them), and ``line`` then counts within that cell.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import stat
import sys
import threading
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Set, Tuple, Union

Number = Union[int, float]

#: ``sys.stdlib_module_names`` of Python 3.10, for the Pythons that lack it (3.8 and 3.9).
_STDLIB_310 = frozenset("""
__future__ _abc _aix_support _ast _asyncio _bisect _blake2 _bootsubprocess _bz2 _codecs _codecs_cn _codecs_hk _codecs_iso2022 _codecs_jp
_codecs_kr _codecs_tw _collections _collections_abc _compat_pickle _compression _contextvars _crypt _csv _ctypes _curses _curses_panel
_datetime _dbm _decimal _elementtree _frozen_importlib _frozen_importlib_external _functools _gdbm _hashlib _heapq _imp _io _json _locale
_lsprof _lzma _markupbase _md5 _msi _multibytecodec _multiprocessing _opcode _operator _osx_support _overlapped _pickle _posixshmem
_posixsubprocess _py_abc _pydecimal _pyio _queue _random _scproxy _sha1 _sha256 _sha3 _sha512 _signal _sitebuiltins _socket _sqlite3 _sre
_ssl _stat _statistics _string _strptime _struct _symtable _thread _threading_local _tkinter _tracemalloc _uuid _warnings _weakref
_weakrefset _winapi _zoneinfo abc aifc antigravity argparse array ast asynchat asyncio asyncore atexit audioop base64 bdb binascii binhex
bisect builtins bz2 cProfile calendar cgi cgitb chunk cmath cmd code codecs codeop collections colorsys compileall concurrent configparser
contextlib contextvars copy copyreg crypt csv ctypes curses dataclasses datetime dbm decimal difflib dis distutils doctest email encodings
ensurepip enum errno faulthandler fcntl filecmp fileinput fnmatch fractions ftplib functools gc genericpath getopt getpass gettext glob
graphlib grp gzip hashlib heapq hmac html http idlelib imaplib imghdr imp importlib inspect io ipaddress itertools json keyword lib2to3
linecache locale logging lzma mailbox mailcap marshal math mimetypes mmap modulefinder msilib msvcrt multiprocessing netrc nis nntplib nt
ntpath nturl2path numbers opcode operator optparse os ossaudiodev pathlib pdb pickle pickletools pipes pkgutil platform plistlib poplib
posix posixpath pprint profile pstats pty pwd py_compile pyclbr pydoc pydoc_data pyexpat queue quopri random re readline reprlib resource
rlcompleter runpy sched secrets select selectors shelve shlex shutil signal site smtpd smtplib sndhdr socket socketserver spwd sqlite3
sre_compile sre_constants sre_parse ssl stat statistics string stringprep struct subprocess sunau symtable sys sysconfig syslog tabnanny
tarfile telnetlib tempfile termios textwrap this threading time timeit tkinter token tokenize trace traceback tracemalloc tty turtle
turtledemo types typing unicodedata unittest urllib uu uuid venv warnings wave weakref webbrowser winreg winsound wsgiref xdrlib xml xmlrpc
zipapp zipfile zipimport zlib zoneinfo
""".split())

#: Standard-library modules some Python had and a newer one dropped (3.10 to 3.13), and ones a newer Python added: a script
#: written for the cluster's Python may import them, and none of them is something to pip install.
_OTHER_PYTHONS_STDLIB = frozenset("""
_bootlocale _dummy_thread _peg_parser aifc asynchat asyncore audioop binhex cgi cgitb chunk crypt distutils dummy_threading formatter
imghdr imp lib2to3 macpath mailcap msilib nis nntplib ossaudiodev parser pipes smtpd sndhdr spwd sunau symbol telnetlib uu xdrlib tomllib
""".split())


def _stdlib() -> FrozenSet[str]:
    names = getattr(sys, "stdlib_module_names", None) or _STDLIB_310
    return frozenset(names) | _OTHER_PYTHONS_STDLIB | frozenset(sys.builtin_module_names) | frozenset(("__future__",))


#: Standard-library top-level module names: this Python's (``sys.stdlib_module_names`` from 3.10, the 3.10 list before),
#: its built-in modules, and those other Pythons 3.8 to 3.13 have.
STDLIB: FrozenSet[str] = _stdlib()

#: ``ray.<name>`` and ``ray.util.<name>`` that are libraries (each brings its own dependencies), as reported in ``libraries``.
RAY_LIBRARIES = frozenset(("air", "dag", "data", "llm", "rllib", "serve", "train", "tune", "workflow"))
RAY_UTIL_LIBRARIES = frozenset(("collective", "dask", "horovod", "joblib", "lightgbm", "multiprocessing", "spark", "xgboost"))

#: Cell magics whose body is Python (IPython runs it): their first line is dropped and the rest read.
_PYTHON_CELL_MAGICS = frozenset(("time", "timeit", "capture", "prun"))
#: Line magics followed by Python code (``%time x = f()``): the code is kept.
_PYTHON_LINE_MAGICS = frozenset(("time", "timeit", "prun"))
_SHELL_ASSIGNMENT = re.compile(r"^\s*[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[!%]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

_IMPORT_ERRORS = frozenset(("ImportError", "ModuleNotFoundError", "Exception", "BaseException"))
_JUDGED_NUMBERS = ("num_cpus", "num_gpus", "memory")
_CALL_ATTRIBUTES = frozenset(("remote", "init", "options", "import_module", "placement_group"))
_NEVER_THIRD_PARTY = frozenset(("__future__", "__main__"))
_TRY_TYPES: Tuple[type, ...] = tuple(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)
_TEXT_LIMIT = 160
#: Fields that never hold a node worth visiting (contexts, operators, names), and nodes with nothing inside worth visiting.
_NO_CHILDREN = frozenset(("ctx", "op", "ops", "id", "attr", "arg", "name", "type_comment", "kind", "lineno", "col_offset"))
_LEAVES = frozenset((ast.Name, ast.Constant, ast.Pass, ast.Break, ast.Continue, type(None)))
_FIELDS: Dict[type, Tuple[str, ...]] = {}


class _NotLiteral(Exception):
    """A value that is not a literal (or too big to evaluate safely)."""


# --- reading ----------------------------------------------------------------------------------------


def read_script(path: str, max_bytes: int = 20_000_000) -> Dict[str, Any]:
    """Read ``path`` (a Python script, or a ``.ipynb`` notebook's code cells) without running it; never raises.

    Returns a plain-JSON dict (all keys always present)::

        path          absolute path
        kind          "python" | "notebook"
        lines         source lines read (for a notebook: of all its code cells)
        cells         None for a script; for a notebook the number of code cells (skipped ones included)
        error         None, or one line saying why the file could not be read ("train.py line 12: invalid syntax")
        skipped_cells [{"cell", "error"}]: notebook cells that do not parse even with IPython magics blanked out
        imports       [{"module", "full", "line", "cell", "optional"}]: every import, dynamic ones with a literal name
                      included; ``full`` starts with dots for a relative import; ``optional`` is True when a failure
                      is caught (try/except ImportError, Exception or bare, ``contextlib.suppress(ImportError)``) or
                      never happens (``if TYPE_CHECKING:``)
        third_party   sorted top-level names neither standard library, nor local, nor only ever imported optionally
        local         sorted top-level names that resolve to files beside the script, and relative imports
        local_files   {name: [paths relative to the script's folder]} for each local name ([] when nothing is there)
        remote_requests  [{"line", "cell", "where": "@ray.remote" | ".options", "target", "target_kind": "function" |
                      "class" | None, "num_cpus", "num_gpus", "memory" (bytes), "resources" ({name: number}),
                      "accelerator_type", "not_judged" ([keyword names whose values are not literals, "**name" for
                      a spread])}]: None means not given (Ray's default)
        inits         [{"line", "cell", "address", "address_literal", "address_text", "runtime_env",
                      "runtime_env_literal", "runtime_env_text"}] for each ``ray.init(...)``
        libraries     [{"library": "ray.data" | ..., "line", "cell", "count"}]: first use of each Ray library, and how
                      many uses (imports and ``ray.<library>`` attributes)
        launches      [{"target", "target_kind", "line", "cell", "count", "loops", "num_cpus", "num_gpus", "not_judged"}]:
                      each ``name.remote(...)`` / ``name.options(...).remote(...)`` of a function or class the script
                      decorates with ``@ray.remote``; ``count`` is how many times it runs as written (the product of
                      the loops around it: ``for _ in range(8)``, ``[... for x in (1, 2, 3)]``), None when a loop's
                      length is known only at run time (``loops`` then names that loop); ``num_cpus``/``num_gpus``
                      are the literal ``.options`` values over the decorator's, None for Ray's default
        placement_groups  [{"line", "cell", "bundles", "strategy", "not_judged"}]: each ``placement_group(...)`` from
                      ``ray.util``; ``bundles`` is the literal list of ``{resource: amount}`` (``[{"CPU": 1}] * 4`` and
                      ``[{...} for _ in range(4)]`` included; up to 1,000), None when known only at run time; ``strategy`` is the
                      literal one ("PACK" when not given), None when not a literal; ``not_judged`` names what is not
    """
    absolute = os.path.abspath(path) if path else ""
    kind = "notebook" if absolute.lower().endswith(".ipynb") else "python"
    result = _empty(absolute, kind)
    try:
        _read(absolute, kind, max_bytes, result)
    except Exception as exc:  # noqa: BLE001 - reading a user's file must never break the run
        fresh = _empty(absolute, kind)
        fresh["error"] = f"{_display(absolute)} could not be read: {type(exc).__name__}: {_one_line(str(exc))}"
        return fresh
    return result


def _empty(absolute: str, kind: str) -> Dict[str, Any]:
    return {"path": absolute, "kind": kind, "lines": 0, "cells": 0 if kind == "notebook" else None, "error": None,
            "skipped_cells": [], "imports": [], "third_party": [], "local": [], "local_files": {}, "remote_requests": [],
            "inits": [], "libraries": [], "launches": [], "placement_groups": []}


def _display(absolute: str) -> str:
    return os.path.basename(absolute) or absolute or "(no path)"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _read(absolute: str, kind: str, max_bytes: int, result: Dict[str, Any]) -> None:
    name = _display(absolute)
    data, problem = _load(absolute, name, max_bytes)
    if problem is not None or data is None:
        result["error"] = problem
        return
    text, problem = _decode(data, name, kind)
    if problem is not None or text is None:
        result["error"] = problem
        return
    reader = _Reader()
    if kind == "python":
        result["lines"] = _count_lines(text)
        if "\x00" in text:
            result["error"] = f"{name} contains NUL bytes: it is not Python source"
            return
        tree, problem = _parse(text, f"{name} line")
        if tree is None:
            result["error"] = problem
            return
        reader.walk(tree, _Unit(text, None))
    else:
        cells, problem = _notebook_cells(text, name)
        if problem is not None:
            result["error"] = problem
            return
        result["cells"] = len(cells)
        for index, source in cells:
            result["lines"] += _count_lines(source)
            tree, unit, problem = _parse_cell(source, index)
            if tree is None or unit is None:
                result["skipped_cells"].append({"cell": index, "error": problem})
                continue
            reader.walk(tree, unit)
    reader.finish(os.path.dirname(absolute), result)


def _load(absolute: str, name: str, max_bytes: int) -> Tuple[Optional[bytes], Optional[str]]:
    try:
        info = os.stat(absolute)
    except FileNotFoundError:
        return None, f"{name}: no such file"
    except OSError as exc:
        return None, f"{name} cannot be read: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return None, f"{name} is a folder, not a script"
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block, or never end
        return None, f"{name} is not a regular file"
    if info.st_size > max_bytes:
        return None, f"{name} is too big to read ({info.st_size:,} bytes; the limit is {max_bytes:,})"
    try:
        with open(absolute, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        return None, f"{name} cannot be read: {exc.strerror or exc}"
    if len(data) > max_bytes:
        return None, f"{name} is too big to read (more than {max_bytes:,} bytes)"
    return data, None


def _decode(data: bytes, name: str, kind: str) -> Tuple[Optional[str], Optional[str]]:
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        error = exc
    if kind == "python":  # PEP 263: a coding declaration in the first two lines
        encoding = _declared_encoding(data)
        if encoding:
            try:
                return data.decode(encoding), None
            except (UnicodeDecodeError, LookupError):
                pass
    return None, f"{name} is not UTF-8 text (undecodable byte at offset {error.start})"


def _declared_encoding(data: bytes) -> Optional[str]:
    import io
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except (SyntaxError, LookupError, ValueError):
        return None
    return None if encoding.startswith("utf-8") else encoding


def _count_lines(text: str) -> int:
    if not text:
        return 0
    count = len(_LINE_BREAK.findall(text))
    return count if text.endswith(("\n", "\r")) else count + 1


def _parse(source: str, where: str) -> Tuple[Optional[ast.AST], Optional[str]]:
    """``where`` is "train.py line" or "cell 3 line"; a problem without a line drops the " line"."""
    try:
        return ast.parse(source), None
    except SyntaxError as exc:
        place = f"{where} {exc.lineno}" if exc.lineno else where[: -len(" line")]
        return None, f"{place}: {_one_line(exc.msg or 'invalid syntax')}"
    except (ValueError, TypeError) as exc:  # NUL bytes (before 3.12)
        return None, f"{where[: -len(' line')]}: {_one_line(str(exc))}"
    except (RecursionError, MemoryError):  # the parser's own limits (3.8 raises MemoryError)
        return None, f"{where[: -len(' line')]}: nested too deeply to read"


# --- notebooks --------------------------------------------------------------------------------------


def _notebook_cells(text: str, name: str) -> Tuple[List[Tuple[int, str]], Optional[str]]:
    """The code cells of a notebook: [(1-based index among all cells, source)], or a problem."""
    try:
        notebook = json.loads(text)
    except ValueError as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return [], f"{name} is not a valid notebook: invalid JSON{where}: {_one_line(message)}"
    except RecursionError:
        return [], f"{name} is not a valid notebook: JSON nested too deeply"
    if not isinstance(notebook, dict):
        return [], f"{name} is not a Jupyter notebook (no cells)"
    cells = notebook.get("cells")
    if cells is None and isinstance(notebook.get("worksheets"), list):  # nbformat 3
        cells = [c for sheet in notebook["worksheets"] if isinstance(sheet, dict) for c in sheet.get("cells") or []]
    if not isinstance(cells, list):
        return [], f"{name} is not a Jupyter notebook (no cells)"
    language = _notebook_language(notebook)
    if language and language != "python":
        return [], f"{name} is a {language} notebook, not a Python one"
    found: List[Tuple[int, str]] = []
    for index, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", cell.get("input", ""))
        if isinstance(source, list):
            source = "".join(part for part in source if isinstance(part, str))
        found.append((index, source if isinstance(source, str) else ""))
    return found, None


def _notebook_language(notebook: Dict[str, Any]) -> Optional[str]:
    metadata = notebook.get("metadata")
    if not isinstance(metadata, dict):
        return None
    for key, field in (("language_info", "name"), ("kernelspec", "language")):
        section = metadata.get(key)
        if isinstance(section, dict) and isinstance(section.get(field), str) and section[field].strip():
            return str(section[field]).strip().lower()
    return None


def _parse_cell(source: str, index: int) -> Tuple[Optional[ast.AST], Optional[_Unit], Optional[str]]:
    """Parse one cell as it is; failing that, with IPython's magics and shell lines turned into ``pass`` (line numbers
    kept), first keeping the code after ``%time``-like magics, then without it."""
    where = f"cell {index} line"
    tree, problem = _parse(source, where)
    if tree is not None:
        return tree, _Unit(source, index), None
    for keep_code in (True, False):
        blanked = _blank_magics(source, keep_code)
        if blanked == source:
            continue
        tree, problem = _parse(blanked, where)
        if tree is not None:
            return tree, _Unit(blanked, index), None
    return None, None, problem


def _blank_magics(source: str, keep_code: bool) -> str:
    lines = _LINE_BREAK.split(source)
    first = lines[0].strip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split(None, 1)[0] if first[2:].strip() else ""
        if magic not in _PYTHON_CELL_MAGICS:  # %%bash, %%writefile, ...: not Python at all
            return "\n".join("" for _ in lines)
        lines[0] = ""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = line[: len(line) - len(line.lstrip())]
        if stripped.startswith("%") and keep_code:
            code = _code_after_line_magic(stripped)
            if code is not None:
                lines[i] = indent + code
                continue
        if (stripped.startswith(("%", "!", "?")) or _SHELL_ASSIGNMENT.match(line)
                or (stripped.endswith("?") and "'" not in stripped and '"' not in stripped)):
            lines[i] = indent + "pass"
    return "\n".join(lines)


def _code_after_line_magic(stripped: str) -> Optional[str]:
    """``%time x = f()`` -> ``x = f()`` (options of ``%timeit -n 10 -r 3`` dropped); None for other magics."""
    words = stripped[1:].split(None, 1)
    if not words or words[0] not in _PYTHON_LINE_MAGICS or len(words) < 2:
        return None
    rest = words[1]
    while rest.startswith("-"):
        option, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        if option in ("-n", "-r", "-p", "-s", "-T", "-D", "-l") and rest:  # options that take a separate value
            _, _, rest = rest.partition(" ")
            rest = rest.lstrip()
    return rest or None


# --- the walk ---------------------------------------------------------------------------------------


class _Unit:
    """One parsed source: the script, or one notebook cell."""

    __slots__ = ("source", "cell", "_lines")

    def __init__(self, source: str, cell: Optional[int]) -> None:
        self.source = source
        self.cell = cell
        self._lines: Optional[List[str]] = None

    def text(self, node: ast.AST, limit: int = _TEXT_LIMIT) -> str:
        """Short source text of ``node``: a dotted name as it is, anything else as written (whitespace collapsed)."""
        dotted = _dotted(node)
        if dotted is not None:
            return dotted
        if self._lines is None:
            self._lines = _LINE_BREAK.split(self.source)
        try:
            first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1  # type: ignore[attr-defined]
            start, end = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
            if first == last:
                pieces = [self._lines[first].encode("utf-8")[start:end]]
            else:
                pieces = [self._lines[first].encode("utf-8")[start:]]
                pieces += [line.encode("utf-8") for line in self._lines[first + 1:last]]
                pieces.append(self._lines[last].encode("utf-8")[:end])
            text = _one_line(" ".join(p.decode("utf-8", "replace") for p in pieces))
        except (AttributeError, IndexError, TypeError):
            text = f"<{type(node).__name__}>"
        return text if len(text) <= limit else text[: limit - 3] + "..."


def _dotted(node: ast.AST) -> Optional[str]:
    parts: List[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _library(full: str) -> Optional[str]:
    parts = full.split(".")
    if len(parts) < 2 or parts[0] != "ray":
        return None
    if parts[1] in RAY_LIBRARIES:
        return f"ray.{parts[1]}"
    if parts[1] == "util" and len(parts) > 2 and parts[2] in RAY_UTIL_LIBRARIES:
        return f"ray.util.{parts[2]}"
    return None


def _exception_names(node: Optional[ast.expr]) -> List[str]:
    if node is None:
        return ["BaseException"]
    items = node.elts if isinstance(node, ast.Tuple) else [node]
    return [item.id if isinstance(item, ast.Name) else item.attr for item in items if isinstance(item, (ast.Name, ast.Attribute))]


def _catches_import_errors(handlers: List[ast.ExceptHandler]) -> bool:
    return any(name in _IMPORT_ERRORS for handler in handlers for name in _exception_names(handler.type))


def _suppresses_import_errors(items: List[ast.withitem]) -> bool:
    for item in items:
        call = item.context_expr
        if isinstance(call, ast.Call) and (_dotted(call.func) or "").split(".")[-1] == "suppress":
            if any(name in _IMPORT_ERRORS for arg in call.args for name in _exception_names(arg)):
                return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    return (_dotted(test) or "").split(".")[-1] == "TYPE_CHECKING"


Key = Tuple[int, int, int]


class _Reader:
    """Collects what one walk of each parsed unit finds; ``finish`` resolves names (``import ray as r``) across units."""

    def __init__(self) -> None:
        self.imports: List[Tuple[Key, Dict[str, Any], int, bool]] = []  # (sort key, entry, relative level, `from . import name`)
        self.ray_names: Set[str] = {"ray"}
        self.remote_names: Set[str] = set()
        self.init_names: Set[str] = set()
        self.importlib_names: Set[str] = {"importlib"}
        self.import_module_names: Set[str] = set()
        self.calls: List[Tuple[_Unit, ast.Call, bool]] = []
        self.applied: List[Tuple[_Unit, ast.Call]] = []
        self.decorators: List[Tuple[_Unit, ast.expr, str, str]] = []
        self.library_uses: List[Tuple[Key, str, Optional[int]]] = []
        self.attributes: List[Tuple[_Unit, ast.Attribute, str, str]] = []  # (unit, node, base name, library)
        self.bound: Dict[str, Set[str]] = {}  # a name an import binds → the top-level modules it may stand for
        self.defined: Dict[str, List[ast.AST]] = {}  # functions and classes by name (what a task's code may call)
        self.remote_defs: List[ast.AST] = []  # the functions and classes decorated with @ray.remote
        self.decorated: Dict[int, ast.AST] = {}  # id(decorator) → what it decorates
        self.loops: List[Tuple[_Unit, ast.AST]] = []  # for/while loops and comprehensions: what multiplies a launch

    # one walk per unit: iterative (no recursion limit), tracking whether an import failure would be caught
    def walk(self, tree: ast.AST, unit: _Unit) -> None:
        stack: List[Tuple[ast.AST, bool]] = [(tree, False)]
        push = stack.append
        calls, applied = self.calls, self.applied
        while stack:
            node, guarded = stack.pop()
            kind = type(node)
            if kind is ast.Call:
                func = node.func  # type: ignore[attr-defined]
                if type(func) is ast.Attribute:
                    if func.attr in _CALL_ATTRIBUTES:
                        calls.append((unit, node, guarded))  # type: ignore[arg-type]
                elif type(func) is ast.Name:
                    calls.append((unit, node, guarded))  # type: ignore[arg-type]
                elif type(func) is ast.Call:
                    applied.append((unit, node))  # type: ignore[arg-type]
            elif kind is ast.Attribute:
                self._attribute(unit, node)  # type: ignore[arg-type]
            elif kind is ast.Import or kind is ast.ImportFrom:
                self._import(unit, node, guarded)  # type: ignore[arg-type]
                continue
            elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef or kind is ast.ClassDef:
                target_kind = "class" if kind is ast.ClassDef else "function"
                self.defined.setdefault(node.name, []).append(node)  # type: ignore[attr-defined]
                for decorator in node.decorator_list:  # type: ignore[attr-defined]
                    self.decorators.append((unit, decorator, node.name, target_kind))  # type: ignore[attr-defined]
                    self.decorated[id(decorator)] = node
                if kind is not ast.ClassDef:  # a function's body runs later, outside the try around its definition
                    _push_fields(push, node, guarded, "body", False)
                    continue
            elif kind is ast.Lambda:
                _push_fields(push, node, guarded, "body", False)
                continue
            elif kind in _LOOP_TYPES:
                self.loops.append((unit, node))
            elif kind in _TRY_TYPES:
                if _catches_import_errors(node.handlers):  # type: ignore[attr-defined]
                    _push_fields(push, node, guarded, "body", True)
                    continue
            elif kind is ast.If:
                if _is_type_checking(node.test):  # type: ignore[attr-defined]
                    _push_fields(push, node, guarded, "body", True)
                    continue
            elif kind is ast.With or kind is ast.AsyncWith:
                if _suppresses_import_errors(node.items):  # type: ignore[attr-defined]
                    _push_fields(push, node, guarded, "body", True)
                    continue
            fields = _FIELDS.get(kind)
            if fields is None:
                fields = _FIELDS[kind] = tuple(f for f in node._fields if f not in _NO_CHILDREN)
            for field in fields:
                value = getattr(node, field, None)
                if type(value) is list:
                    for item in value:
                        if type(item) not in _LEAVES and isinstance(item, ast.AST):
                            push((item, guarded))
                elif type(value) not in _LEAVES and isinstance(value, ast.AST):
                    push((value, guarded))

    def _attribute(self, unit: _Unit, node: ast.Attribute) -> None:
        value = node.value
        if type(value) is ast.Name:
            if node.attr in RAY_LIBRARIES:
                self.attributes.append((unit, node, value.id, f"ray.{node.attr}"))
        elif type(value) is ast.Attribute and node.attr in RAY_UTIL_LIBRARIES:
            if value.attr == "util" and type(value.value) is ast.Name:
                self.attributes.append((unit, node, value.value.id, f"ray.util.{node.attr}"))

    def _add_import(self, unit: _Unit, node: ast.AST, module: str, full: str, guarded: bool, level: int = 0,
                    from_package: bool = False) -> None:
        if not module or not all(part.isidentifier() for part in module.split(".")):
            return
        line, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
        entry = {"module": module, "full": full, "line": line, "cell": unit.cell, "optional": guarded}
        self.imports.append(((unit.cell or 0, line, col), entry, level, from_package))

    def _use_library(self, unit: _Unit, node: ast.AST, library: Optional[str]) -> None:
        if library:
            self.library_uses.append(((unit.cell or 0, getattr(node, "lineno", 0), getattr(node, "col_offset", 0)), library, unit.cell))

    def _import(self, unit: _Unit, node: Union[ast.Import, ast.ImportFrom], guarded: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                full = alias.name
                top = full.split(".")[0]
                self._add_import(unit, node, top, full, guarded)
                self.bound.setdefault(alias.asname or top, set()).add(top)
                self._use_library(unit, node, _library(full))
                if top == "ray" and (alias.asname is None or full == "ray"):
                    self.ray_names.add(alias.asname or "ray")
                elif full == "importlib":
                    self.importlib_names.add(alias.asname or "importlib")
            return
        module, level = node.module or "", node.level or 0
        dots = "." * level
        if level:
            if module:
                self._add_import(unit, node, module.split(".")[0], dots + module, guarded, level)
            else:
                for alias in node.names:
                    if alias.name != "*":
                        self._add_import(unit, node, alias.name, dots + alias.name, guarded, level, from_package=True)
            return
        self._add_import(unit, node, module.split(".")[0], module, guarded)
        libraries = {_library(module)} if _library(module) else {_library(f"{module}.{alias.name}") for alias in node.names}
        for library in sorted(lib for lib in libraries if lib):
            self._use_library(unit, node, library)
        for alias in node.names:
            bound = alias.asname or alias.name
            self.bound.setdefault(bound, set()).add(module.split(".")[0])
            if module == "ray" and alias.name == "remote":
                self.remote_names.add(bound)
            elif module == "ray" and alias.name == "init":
                self.init_names.add(bound)
            elif module == "importlib" and alias.name == "import_module":
                self.import_module_names.add(bound)

    # --- resolution, once every unit is walked ---

    def _is_remote(self, func: ast.AST) -> bool:
        if isinstance(func, ast.Attribute):
            return func.attr == "remote" and isinstance(func.value, ast.Name) and func.value.id in self.ray_names
        return isinstance(func, ast.Name) and func.id in self.remote_names

    def _is_init(self, func: ast.AST) -> bool:
        if isinstance(func, ast.Attribute):
            return func.attr == "init" and isinstance(func.value, ast.Name) and func.value.id in self.ray_names
        return isinstance(func, ast.Name) and func.id in self.init_names

    def _is_placement_group(self, func: ast.AST) -> bool:
        """``placement_group`` imported from Ray (``from ray.util import placement_group``), or ``ray.util.placement_group``."""
        if isinstance(func, ast.Name):
            return func.id == "placement_group" and "ray" in self.bound.get(func.id, ())
        dotted = _dotted(func)
        return bool(dotted) and dotted.endswith(".placement_group") and dotted.split(".")[0] in self.ray_names  # type: ignore[union-attr]

    def _is_dynamic_import(self, func: ast.AST) -> bool:
        if isinstance(func, ast.Attribute):
            return func.attr == "import_module" and isinstance(func.value, ast.Name) and func.value.id in self.importlib_names
        return isinstance(func, ast.Name) and (func.id == "__import__" or func.id in self.import_module_names)

    def finish(self, folder: str, result: Dict[str, Any]) -> None:
        requests: List[Tuple[Key, Dict[str, Any]]] = []
        inits: List[Tuple[Key, Dict[str, Any]]] = []
        groups: List[Tuple[Key, Dict[str, Any]]] = []
        consumed: Set[int] = set()
        for unit, decorator, name, target_kind in self.decorators:
            if isinstance(decorator, ast.Call) and self._is_remote(decorator.func):
                requests.append(_request(unit, decorator, "@ray.remote", name, target_kind, decorator.keywords))
                consumed.add(id(decorator))
                self.remote_defs.append(self.decorated[id(decorator)])
            elif self._is_remote(decorator):
                requests.append(_request(unit, decorator, "@ray.remote", name, target_kind, []))
                self.remote_defs.append(self.decorated[id(decorator)])
        for unit, outer in self.applied:  # ray.remote(num_gpus=1)(f)
            inner = outer.func
            if isinstance(inner, ast.Call) and id(inner) not in consumed and self._is_remote(inner.func):
                target = unit.text(outer.args[0]) if outer.args else None
                requests.append(_request(unit, inner, "@ray.remote", target, None, inner.keywords))
                consumed.add(id(inner))
        for unit, call, guarded in self.calls:
            func = call.func
            if id(call) in consumed:
                continue
            if self._is_remote(func):  # ray.remote(f), or ray.remote(num_cpus=2) kept for later
                target = unit.text(call.args[0]) if call.args else None
                requests.append(_request(unit, call, "@ray.remote", target, None, call.keywords))
            elif isinstance(func, ast.Attribute) and func.attr == "options":
                requests.append(_request(unit, call, ".options", unit.text(func.value), None, call.keywords))
            elif self._is_init(func):
                inits.append(_init(unit, call))
            elif self._is_placement_group(func):
                groups.append(_placement_group(unit, call))
            elif self._is_dynamic_import(func) and call.args:
                literal = _literal_string(call.args[0])
                if literal:
                    level = len(literal) - len(literal.lstrip("."))
                    self._add_import(unit, call, literal[level:].split(".")[0], literal, guarded, level)
        for unit, node, base, library in self.attributes:
            if base in self.ray_names:
                self._use_library(unit, node, library)

        self.imports.sort(key=lambda item: item[0])
        result["imports"] = [entry for _, entry, _, _ in self.imports]
        result["remote_requests"] = [entry for _, entry in sorted(requests, key=lambda item: item[0])]
        result["inits"] = [entry for _, entry in sorted(inits, key=lambda item: item[0])]
        result["libraries"] = _libraries(self.library_uses)
        result["remote_imports"] = self._remote_imports(requests)
        result["launches"] = self._launches(requests)
        result["placement_groups"] = [entry for _, entry in sorted(groups, key=lambda item: item[0])]
        _classify(folder, self.imports, result)

    def _launches(self, requests: List[Tuple[Key, Dict[str, Any]]]) -> List[Dict[str, Any]]:
        """Each launch of a task or actor the script decorates, with how many times the loops around it run it."""
        decorated = {str(entry["target"]): entry for _, entry in requests
                     if entry.get("where") == "@ray.remote" and entry.get("target_kind") is not None}
        if not decorated:
            return []
        found: List[Tuple[Key, Dict[str, Any]]] = []
        spans: Optional[Dict[int, List[Tuple[Tuple[int, int], Tuple[int, int], Optional[int], str]]]] = None
        for unit, call, _ in self.calls:
            func = call.func
            if not (isinstance(func, ast.Attribute) and func.attr == "remote"):
                continue
            base: ast.expr = func.value
            options: Optional[ast.Call] = None
            if isinstance(base, ast.Call) and isinstance(base.func, ast.Attribute) and base.func.attr == "options":
                options = base
                base = base.func.value
            if not isinstance(base, ast.Name) or base.id not in decorated:
                continue
            if spans is None:
                spans = _loop_spans(self.loops)
            request = decorated[base.id]
            entry: Dict[str, Any] = {"target": base.id, "target_kind": request["target_kind"], "line": call.lineno, "cell": unit.cell,
                                     "num_cpus": request["num_cpus"], "num_gpus": request["num_gpus"],
                                     "not_judged": list(request["not_judged"])}
            if options is not None:
                _, overrides = _request(unit, options, ".options", base.id, None, options.keywords)
                entry["not_judged"] += overrides["not_judged"]
                for key in ("num_cpus", "num_gpus"):
                    if overrides[key] is not None or key in overrides["not_judged"]:
                        entry[key] = overrides[key]
            entry["count"], entry["loops"] = _times_run(spans.get(id(unit), []), (call.lineno, call.col_offset))
            found.append(((unit.cell or 0, call.lineno, call.col_offset), entry))
        return [entry for _, entry in sorted(found, key=lambda item: item[0])]

    def _remote_imports(self, requests: List[Tuple[Key, Dict[str, Any]]]) -> List[str]:
        """The top-level modules a worker imports to run the script's tasks and actors: what the remote functions and
        classes (and the script's functions they call, which cloudpickle ships with them) use or import."""
        todo = list(self.remote_defs)
        for _, entry in requests:  # ray.remote(f): the function named
            target = entry.get("target")
            if entry.get("where") == "@ray.remote" and isinstance(target, str) and target in self.defined:
                todo.extend(self.defined[target])
        seen: Set[int] = set()
        modules: Set[str] = set()
        while todo:
            node = todo.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            for inner in ast.walk(node):
                if isinstance(inner, ast.Name):
                    modules.update(self.bound.get(inner.id, ()))
                    todo.extend(n for n in self.defined.get(inner.id, ()) if id(n) not in seen)
                elif isinstance(inner, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in inner.names)
                elif isinstance(inner, ast.ImportFrom) and not inner.level and inner.module:
                    modules.add(inner.module.split(".")[0])
        return sorted(modules)


_COMPREHENSIONS: Tuple[type, ...] = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_LOOP_TYPES = frozenset((ast.For, ast.AsyncFor, ast.While) + _COMPREHENSIONS)
_MAX_COUNT = 10**9
Span = Tuple[Tuple[int, int], Tuple[int, int], Optional[int], str]


def _loop_spans(loops: List[Tuple[_Unit, ast.AST]]) -> Dict[int, List[Span]]:
    """Per unit: (start, end, times, text) of the code each loop repeats (a loop's body; a comprehension's element)."""
    spans: Dict[int, List[Span]] = {}
    for unit, node in loops:
        if isinstance(node, _COMPREHENSIONS):
            parts: List[ast.AST] = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]  # type: ignore[attr-defined]
            times: Optional[int] = 1
            for generator in node.generators:  # type: ignore[attr-defined]
                each = None if generator.ifs or generator.is_async else _length(generator.iter)
                times = None if times is None or each is None else times * each
            text = "for " + " for ".join(f"{unit.text(g.target, 30)} in {unit.text(g.iter, 40)}" for g in node.generators)  # type: ignore[attr-defined]
        else:
            parts = list(node.body)  # type: ignore[attr-defined]
            if isinstance(node, ast.While):
                times, text = None, f"while {unit.text(node.test, 40)}"
            else:
                times = _length(node.iter)  # type: ignore[attr-defined]
                text = f"for {unit.text(node.target, 30)} in {unit.text(node.iter, 40)}"  # type: ignore[attr-defined]
        start = (parts[0].lineno, parts[0].col_offset)  # type: ignore[attr-defined]
        end = (parts[-1].end_lineno or parts[-1].lineno, parts[-1].end_col_offset or 0)  # type: ignore[attr-defined]
        spans.setdefault(id(unit), []).append((start, end, times, text))
    return spans


def _times_run(spans: List[Span], at: Tuple[int, int]) -> Tuple[Optional[int], List[str]]:
    """How many times the code at ``at`` runs as written, and the loops around it (outermost first)."""
    around = sorted((span for span in spans if span[0] <= at < span[1]), key=lambda span: span[0])
    count: Optional[int] = 1
    for _, _, times, _ in around:
        count = None if count is None or times is None else min(count * times, _MAX_COUNT)
    return count, [text for _, _, _, text in around]


def _length(node: ast.AST) -> Optional[int]:
    """How many items a loop over ``node`` takes, when the source says so: ``range(...)`` of literals, a literal
    list, tuple or set (no ``*spread``), a string literal."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return None if any(isinstance(e, ast.Starred) for e in node.elts) else len(node.elts)
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        return len(node.value)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and 1 <= len(node.args) <= 3
            and not node.keywords):
        try:
            bounds = [_number(arg) for arg in node.args]
        except (_NotLiteral, RecursionError):
            return None
        if all(isinstance(b, int) for b in bounds) and (len(bounds) < 3 or bounds[2] != 0):
            try:
                return len(range(*bounds))  # type: ignore[arg-type]
            except OverflowError:  # more than a machine word can count: as good as endless
                return _MAX_COUNT
    return None


def _push_fields(push: Any, node: ast.AST, guarded: bool, special: str, special_guarded: bool) -> None:
    for field in node._fields:
        value = getattr(node, field, None)
        flag = special_guarded if field == special else guarded
        if isinstance(value, list):
            for item in value:
                if isinstance(item, ast.AST):
                    push((item, flag))
        elif isinstance(value, ast.AST):
            push((value, flag))


def _libraries(uses: List[Tuple[Key, str, Optional[int]]]) -> List[Dict[str, Any]]:
    first: Dict[str, Tuple[Key, Dict[str, Any]]] = {}
    for key, library, cell in sorted(uses, key=lambda item: item[0]):
        if library in first:
            first[library][1]["count"] += 1
        else:
            first[library] = (key, {"library": library, "line": key[1], "cell": cell, "count": 1})
    return [entry for _, entry in sorted(first.values(), key=lambda item: (item[0], item[1]["library"]))]


# --- literals ---------------------------------------------------------------------------------------

_BINARY_OPERATORS: Dict[type, Callable[[Any, Any], Any]] = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
                     ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b}
_MAX_BITS = 256


def _number(node: ast.AST) -> Number:
    """A number written as a literal or simple arithmetic of literals (``2 * 1024**3``), evaluated without ``eval``."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _NotLiteral()
        return _checked(value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _number(node.operand)
        return _checked(-operand if isinstance(node.op, ast.USub) else operand)
    if isinstance(node, ast.BinOp):
        left, right = _number(node.left), _number(node.right)
        try:
            if isinstance(node.op, ast.Pow):
                if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                    if right * abs(left).bit_length() > _MAX_BITS:
                        raise _NotLiteral()
                return _checked(left ** right)
            operator = _BINARY_OPERATORS.get(type(node.op))
            if operator is None:
                raise _NotLiteral()
            return _checked(operator(left, right))
        except (ArithmeticError, ValueError, TypeError) as exc:  # 1/0, overflow, a complex power
            raise _NotLiteral() from exc
    raise _NotLiteral()


def _checked(value: Any) -> Number:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _NotLiteral()
    if isinstance(value, float) and not math.isfinite(value):
        raise _NotLiteral()
    if isinstance(value, int) and value.bit_length() > _MAX_BITS:
        raise _NotLiteral()
    return value


def _json_literal(node: ast.AST, depth: int = 0) -> Any:
    """A literal as plain JSON (tuples and sets as lists, ``dict(a=1)`` as a dict); raises _NotLiteral otherwise."""
    if depth > 50:
        raise _NotLiteral()
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, (str, bool)):
            return value
        return _checked(value)
    if isinstance(node, (ast.UnaryOp, ast.BinOp)):
        return _number(node)
    if isinstance(node, ast.Dict):
        found: Dict[str, Any] = {}
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:  # {**other}
                raise _NotLiteral()
            key = _json_literal(key_node, depth + 1)
            if not isinstance(key, str):
                raise _NotLiteral()
            found[key] = _json_literal(value_node, depth + 1)
        return found
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [_json_literal(item, depth + 1) for item in node.elts]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        if any(keyword.arg is None for keyword in node.keywords):
            raise _NotLiteral()
        return {str(keyword.arg): _json_literal(keyword.value, depth + 1) for keyword in node.keywords}
    if isinstance(node, ast.JoinedStr) and all(isinstance(part, ast.Constant) for part in node.values):
        return "".join(str(part.value) for part in node.values)  # type: ignore[attr-defined]
    raise _NotLiteral()


def _placement_group(unit: _Unit, call: ast.Call) -> Tuple[Key, Dict[str, Any]]:
    """One ``placement_group(bundles, strategy=...)``: its literal bundles and strategy, or what is not literal."""
    keywords = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
    bundles_node = call.args[0] if call.args else keywords.get("bundles")
    strategy_node = call.args[1] if len(call.args) > 1 else keywords.get("strategy")
    entry: Dict[str, Any] = {"line": call.lineno, "cell": unit.cell, "bundles": None, "strategy": "PACK", "not_judged": []}
    try:
        entry["bundles"] = _bundles(bundles_node) if bundles_node is not None else None
    except (_NotLiteral, RecursionError):
        pass
    if entry["bundles"] is None:
        entry["not_judged"].append("bundles")
    if strategy_node is not None:
        entry["strategy"] = _literal_string(strategy_node)
        if entry["strategy"] is None:
            entry["not_judged"].append("strategy")
    return (unit.cell or 0, call.lineno, call.col_offset), entry


#: More bundles than this are not spelled out in the facts (they would swell the report): such a group is not judged.
_MAX_BUNDLES = 1000


def _bundles(node: ast.AST) -> List[Dict[str, Any]]:
    """A placement group's bundles as the source gives them: a literal list, ``[{...}] * n``, ``[{...} for _ in range(n)]``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for items, times in ((node.left, node.right), (node.right, node.left)):
            if isinstance(items, ast.List):
                count = _number(times)
                if isinstance(count, int) and 0 <= count <= _MAX_BUNDLES:
                    return _bundles(items) * count
        raise _NotLiteral()
    if (isinstance(node, ast.ListComp) and len(node.generators) == 1 and not node.generators[0].ifs
            and not node.generators[0].is_async):
        length = _length(node.generators[0].iter)
        if length is None or length > _MAX_BUNDLES:
            raise _NotLiteral()
        return _bundles(ast.List(elts=[node.elt], ctx=ast.Load())) * length
    found = _json_literal(node)
    if not isinstance(found, list) or len(found) > _MAX_BUNDLES or not all(
            isinstance(bundle, dict) and all(_is_number(v) for v in bundle.values()) for bundle in found):
        raise _NotLiteral()
    return found


def _literal_string(node: ast.AST) -> Optional[str]:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _request(unit: _Unit, node: ast.AST, where: str, target: Optional[str], target_kind: Optional[str],
             keywords: List[ast.keyword]) -> Tuple[Key, Dict[str, Any]]:
    line = getattr(node, "lineno", 0)
    entry: Dict[str, Any] = {"line": line, "cell": unit.cell, "where": where, "target": target, "target_kind": target_kind,
                             "num_cpus": None, "num_gpus": None, "memory": None, "resources": None, "accelerator_type": None,
                             "not_judged": []}
    for keyword in keywords:
        name, value = keyword.arg, keyword.value
        if name is None:
            entry["not_judged"].append("**" + unit.text(value, 60))
            continue
        if name not in _JUDGED_NUMBERS and name not in ("resources", "accelerator_type"):
            continue
        if isinstance(value, ast.Constant) and value.value is None:
            continue
        try:
            if name == "resources":
                resources = _json_literal(value)
                if not isinstance(resources, dict) or not all(_is_number(v) for v in resources.values()):
                    raise _NotLiteral()
                entry["resources"] = resources
            elif name == "accelerator_type":
                text = _literal_string(value)
                if text is None:
                    raise _NotLiteral()
                entry["accelerator_type"] = text
            else:
                entry[name] = _number(value)
        except (_NotLiteral, RecursionError):
            entry["not_judged"].append(name)
    return (unit.cell or 0, line, getattr(node, "col_offset", 0)), entry


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _init(unit: _Unit, call: ast.Call) -> Tuple[Key, Dict[str, Any]]:
    spread = next((keyword.value for keyword in call.keywords if keyword.arg is None), None)
    address_node: Optional[ast.AST] = call.args[0] if call.args else None
    runtime_env_node: Optional[ast.AST] = None
    for keyword in call.keywords:
        if keyword.arg == "address":
            address_node = keyword.value
        elif keyword.arg == "runtime_env":
            runtime_env_node = keyword.value
    entry: Dict[str, Any] = {"line": call.lineno, "cell": unit.cell, "address": None, "address_literal": True, "address_text": None,
                             "runtime_env": None, "runtime_env_literal": None, "runtime_env_text": None}
    if address_node is not None:
        is_none = isinstance(address_node, ast.Constant) and address_node.value is None
        address = _literal_string(address_node)
        if address is not None or is_none:
            entry["address"] = address
        else:
            entry["address_literal"] = False
            entry["address_text"] = unit.text(address_node)
    elif spread is not None:  # ray.init(**kwargs) may carry an address
        entry["address_literal"] = False
        entry["address_text"] = "**" + unit.text(spread, 60)
    if runtime_env_node is not None:
        try:
            entry["runtime_env"] = _json_literal(runtime_env_node)
            entry["runtime_env_literal"] = True
        except (_NotLiteral, RecursionError):
            entry["runtime_env_literal"] = False
            entry["runtime_env_text"] = unit.text(runtime_env_node)
    elif spread is not None:
        entry["runtime_env_literal"] = False
        entry["runtime_env_text"] = "**" + unit.text(spread, 60)
    return (unit.cell or 0, call.lineno, call.col_offset), entry


# --- classification ---------------------------------------------------------------------------------


class _Folder:
    """One listing per folder: {name: is a folder}, and the extension modules ({module name: [file names]})."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries: Dict[str, bool] = {}
        self.extensions: Dict[str, List[str]] = {}
        try:
            with os.scandir(path) as listing:
                for item in listing:
                    try:
                        is_dir = item.is_dir()
                    except OSError:
                        is_dir = False
                    self.entries[item.name] = is_dir
                    if not is_dir and item.name.endswith(".so"):
                        self.extensions.setdefault(item.name.split(".")[0], []).append(item.name)
        except OSError:
            pass

    def modules(self, name: str, relative: bool) -> List[str]:
        """File names in this folder that ``import name`` would load (before anything installed)."""
        found: List[str] = []
        if self.entries.get(name):
            # A folder without __init__.py is a namespace package, which a regular module anywhere on sys.path beats.
            if relative or os.path.isfile(os.path.join(self.path, name, "__init__.py")) or (
                    name not in STDLIB and distribution_for(name) is None):
                found.append(name)
        if self.entries.get(name + ".py") is False:
            found.append(name + ".py")
        found.extend(sorted(self.extensions.get(name, [])))
        return found


def _classify(folder: str, imports: List[Tuple[Key, Dict[str, Any], int, bool]], result: Dict[str, Any]) -> None:
    folders: Dict[str, _Folder] = {}

    def listing(path: str) -> _Folder:
        if path not in folders:
            folders[path] = _Folder(path)
        return folders[path]

    local_files: Dict[str, List[str]] = {}
    absolute_names: Dict[str, bool] = {}  # name -> imported at least once without a guard
    for _, entry, level, from_package in imports:
        name = entry["module"]
        if level:
            base = folder
            for _ in range(level - 1):
                base = os.path.dirname(base)
            here = listing(base)
            files = here.modules(name, relative=True)
            if not files and from_package and here.entries.get("__init__.py") is False:
                files = ["__init__.py"]  # from . import name: a name the package's __init__.py defines
            paths = local_files.setdefault(name, [])
            for file in files:
                relative_path = os.path.relpath(os.path.join(base, file), folder).replace(os.sep, "/")
                if relative_path not in paths:
                    paths.append(relative_path)
            continue
        absolute_names[name] = absolute_names.get(name, False) or not entry["optional"]
    third_party: List[str] = []
    for name, required in absolute_names.items():
        if name in _NEVER_THIRD_PARTY:
            continue
        files = [] if name in sys.builtin_module_names else listing(folder).modules(name, relative=False)
        if files:
            paths = local_files.setdefault(name, [])
            paths.extend(f for f in files if f not in paths)
        elif required and name not in STDLIB:
            third_party.append(name)
    result["third_party"] = sorted(third_party)
    result["local"] = sorted(local_files)
    result["local_files"] = {name: local_files[name] for name in sorted(local_files)}


# --- installed distributions ------------------------------------------------------------------------

_DISTRIBUTIONS: Optional[Dict[str, Tuple[str, str]]] = None
_DISTRIBUTIONS_LOCK = threading.Lock()


def distribution_for(module: str) -> Optional[Tuple[str, str]]:
    """The distribution installed in this Python that provides the top-level import name ``module``, as
    ``(name as in its metadata, version)``, or None. The map is built once per process (first call), from each
    distribution's ``top_level.txt`` or else its ``RECORD``; where several provide a name, the first on ``sys.path`` wins."""
    global _DISTRIBUTIONS
    if not module or not isinstance(module, str):
        return None
    if _DISTRIBUTIONS is None:
        with _DISTRIBUTIONS_LOCK:
            if _DISTRIBUTIONS is None:
                _DISTRIBUTIONS = _distribution_map()
    return _DISTRIBUTIONS.get(module.split(".")[0])


def _distribution_map() -> Dict[str, Tuple[str, str]]:
    found: Dict[str, Tuple[str, str]] = {}
    try:
        from importlib import metadata

        distributions = list(metadata.distributions())
    except Exception:  # noqa: BLE001 - a broken environment means no answers, not a crash
        return found
    seen: Set[str] = set()
    for dist in distributions:
        try:
            name, version = _name_and_version(dist)
            key = re.sub(r"[-_.]+", "-", name).lower()
            if not name or key in seen:  # the same distribution twice on sys.path: the first is the one imported
                continue
            seen.add(key)
            for top in _top_levels(dist):
                found.setdefault(top, (name, version))
        except Exception:  # noqa: BLE001 - one broken dist-info must not hide the others
            continue
    return found


def _name_and_version(dist: Any) -> Tuple[str, str]:
    """Name and Version from the metadata's headers, read without parsing the whole file (descriptions can be long)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = ""
    for line in text.split("\n\n", 1)[0].splitlines():
        if line.startswith("Name:") and not name:
            name = line[5:].strip()
        elif line.startswith("Version:") and not version:
            version = line[8:].strip()
        if name and version:
            break
    if not name:
        name = str(dist.metadata["Name"] or "")
        version = str(dist.version or "")
    return name, version


def _top_levels(dist: Any) -> List[str]:
    declared = dist.read_text("top_level.txt")
    if declared:
        listed = [line.strip().replace("\\", "/").split("/")[0] for line in declared.splitlines()]
        return [name for name in listed if name.isidentifier()]
    record = dist.read_text("RECORD")
    if record:
        paths = [line.split(",")[0].strip('"') for line in record.splitlines() if line]
    else:
        paths = [str(path) for path in (dist.files or [])]
    names: Set[str] = set()
    for path in paths:
        first, slash, _ = path.replace("\\", "/").partition("/")
        if slash:
            candidate = first
        elif first.endswith(".py"):
            candidate = first[:-3]
        elif first.endswith((".so", ".pyd")):
            candidate = first.split(".")[0]
        else:
            continue
        if candidate.isidentifier() and candidate != "__pycache__":
            names.add(candidate)
    return sorted(names)
