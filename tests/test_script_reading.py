"""Reading a user's script or notebook statically: what it imports (standard library, third-party, files beside it),
what its ``@ray.remote`` / ``.options`` calls ask for, its ``ray.init`` calls and the Ray libraries it uses. Real files
in a temporary folder; every answer is plain JSON and no input makes ``read_script`` raise (nor run the script)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List

import nbformat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preflight.script_reading import STDLIB, distribution_for, read_script


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def read(path: str, **kwargs: Any) -> Dict[str, Any]:
    """read_script, checked to be plain JSON (a round trip gives the same value, no NaN or infinity)."""
    facts = read_script(path, **kwargs)
    assert json.loads(json.dumps(facts, allow_nan=False)) == facts
    return facts


def notebook(folder: Path, name: str, cells: List[Any]) -> str:
    """A notebook of ("code"|"markdown", source) cells, written with nbformat."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, source in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source))
    path = folder / name
    nbformat.write(nb, str(path))
    return str(path)


def by_target(facts: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {r["target"]: r for r in facts["remote_requests"]}


# --- imports ------------------------------------------------------------------------------------------


def test_imports_are_sorted_into_standard_library_third_party_and_files_beside_the_script(tmp_path: Path) -> None:
    write(tmp_path, "helpers.py", "VALUE = 1\n")
    write(tmp_path, "mypkg/__init__.py", "")
    write(tmp_path, "mypkg/models.py", "")
    write(tmp_path, "shards_ns_xyz/part.py", "")  # a folder without __init__.py: a namespace package
    (tmp_path / "fastops.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    path = write(tmp_path, "train.py", """\
        import os
        import sys, json as js
        from collections import OrderedDict
        from __future__ import annotations
        import numpy as np
        import sklearn.linear_model
        from sklearn import metrics
        import helpers
        from mypkg.models import Net
        import shards_ns_xyz.part
        import fastops
        import ray
        """)
    facts = read(path)
    assert facts["error"] is None
    assert facts["kind"] == "python" and facts["path"] == os.path.abspath(path) and facts["lines"] == 12 and facts["cells"] is None
    assert facts["third_party"] == ["numpy", "ray", "sklearn"]
    assert facts["local"] == ["fastops", "helpers", "mypkg", "shards_ns_xyz"]
    assert facts["local_files"] == {"fastops": ["fastops.cpython-311-x86_64-linux-gnu.so"], "helpers": ["helpers.py"],
                                    "mypkg": ["mypkg"], "shards_ns_xyz": ["shards_ns_xyz"]}
    first = facts["imports"][0]
    assert first == {"module": "os", "full": "os", "line": 1, "cell": None, "optional": False}
    assert {(i["module"], i["full"], i["line"]) for i in facts["imports"]} >= {
        ("json", "json", 2), ("numpy", "numpy", 5), ("sklearn", "sklearn.linear_model", 6), ("sklearn", "sklearn", 7),
        ("mypkg", "mypkg.models", 9)}


def test_a_file_beside_the_script_shadows_the_standard_library_but_not_a_built_in_module(tmp_path: Path) -> None:
    write(tmp_path, "random.py", "")  # the classic mistake: this random.py is what `import random` loads
    write(tmp_path, "sys.py", "")  # built-in modules are found before any file
    facts = read(write(tmp_path, "job.py", "import random\nimport sys\nimport os\n"))
    assert facts["local"] == ["random"] and facts["third_party"] == []


def test_a_namespace_folder_named_like_an_installed_package_is_not_local(tmp_path: Path) -> None:
    (tmp_path / "yaml").mkdir()  # e.g. a folder of YAML files: PyYAML's regular package wins over this namespace
    (tmp_path / "json").mkdir()
    facts = read(write(tmp_path, "job.py", "import yaml\nimport json\n"))
    assert facts["third_party"] == ["yaml"] and facts["local"] == []


def test_imports_anywhere_count_with_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "job.py", """\
        import ray

        @ray.remote(num_gpus=1)
        def train():
            import torch
            from transformers import AutoModel
            return torch.cuda.is_available()

        class Loader:
            def load(self):
                import pyarrow.parquet as pq
                return pq

        def later():
            if True:
                with open("x") as f:
                    import polars
        """)
    facts = read(path)
    lines = {i["module"]: i["line"] for i in facts["imports"]}
    assert lines == {"ray": 1, "torch": 5, "transformers": 6, "pyarrow": 11, "polars": 17}
    assert facts["third_party"] == ["polars", "pyarrow", "ray", "torch", "transformers"]


def test_optional_imports_are_not_third_party_requirements(tmp_path: Path) -> None:
    path = write(tmp_path, "job.py", """\
        from typing import TYPE_CHECKING
        import contextlib
        try:
            import ujson as json
        except ImportError:
            import json
        try:
            import orjson
        except (ValueError, ModuleNotFoundError):
            orjson = None
        try:
            import rich
        except Exception:
            rich = None
        try:
            import tqdm
        except:  # noqa: E722
            tqdm = None
        try:
            import wandb
        except ValueError:
            pass
        try:
            import mlflow
        except ImportError:
            mlflow = None
        import mlflow
        if TYPE_CHECKING:
            import pandas
        with contextlib.suppress(ImportError):
            import uvloop
        try:
            def later():
                import boto3  # runs when called, outside this try
        except ImportError:
            pass
        """)
    facts = read(path)
    optional = {(i["module"], i["line"]): i["optional"] for i in facts["imports"]}
    assert optional[("ujson", 4)] and optional[("orjson", 8)] and optional[("rich", 12)] and optional[("tqdm", 16)]
    assert optional[("pandas", 29)] and optional[("uvloop", 31)] and optional[("mlflow", 24)]
    assert not optional[("json", 6)]  # the fallback in the handler is not caught
    assert not optional[("wandb", 20)] and not optional[("mlflow", 27)] and not optional[("boto3", 34)]
    assert facts["third_party"] == ["boto3", "mlflow", "wandb"]


def test_dynamic_imports_with_a_literal_name_count(tmp_path: Path) -> None:
    path = write(tmp_path, "job.py", """\
        import importlib
        from importlib import import_module as im
        a = importlib.import_module("xgboost.sklearn")
        b = im("lightgbm")
        c = __import__("catboost")
        name = "hidden"
        d = importlib.import_module(name)
        try:
            e = importlib.import_module("optuna")
        except ImportError:
            e = None
        """)
    facts = read(path)
    dynamic = {i["module"]: (i["full"], i["line"], i["optional"]) for i in facts["imports"] if i["line"] > 2}
    assert dynamic == {"xgboost": ("xgboost.sklearn", 3, False), "lightgbm": ("lightgbm", 4, False),
                       "catboost": ("catboost", 5, False), "optuna": ("optuna", 9, True)}
    assert facts["third_party"] == ["catboost", "lightgbm", "xgboost"]


def test_relative_imports_are_local_and_point_at_their_files(tmp_path: Path) -> None:
    write(tmp_path, "app/__init__.py", "CONFIG = {}\n")
    write(tmp_path, "app/utils.py", "")
    write(tmp_path, "common.py", "")
    path = write(tmp_path, "app/job.py", """\
        from . import utils
        from .utils import helper
        from . import CONFIG
        from .. import common
        from .missing import thing
        """)
    facts = read(path)
    assert facts["local"] == ["CONFIG", "common", "missing", "utils"]
    assert facts["local_files"] == {"CONFIG": ["__init__.py"], "common": ["../common.py"], "missing": [], "utils": ["utils.py"]}
    assert [i["full"] for i in facts["imports"]] == [".utils", ".utils", ".CONFIG", "..common", ".missing"]
    assert facts["third_party"] == []


# --- @ray.remote and .options -----------------------------------------------------------------------


def test_remote_requests_with_literal_and_unjudged_values(tmp_path: Path) -> None:
    path = write(tmp_path, "job.py", """\
        import ray
        n = 4
        GiB = 1024 ** 3

        @ray.remote(num_gpus=1)
        def on_gpu():
            pass

        @ray.remote(num_cpus=n, memory=2 * 1024**3, resources={"TPU": 1, "custom": 0.5})
        def sized():
            pass

        @ray.remote(memory=4 * GiB, num_cpus=-1, num_gpus=1 / 2, accelerator_type="A100")
        class Actor:
            pass

        @ray.remote
        def plain():
            pass

        opts = {"num_cpus": 2}
        handle = Actor.options(num_cpus=4, resources={"TPU": 1}).remote()
        ref = sized.options(**opts).remote()
        wrapped = ray.remote(num_gpus=2)(plain)
        bare = ray.remote(plain)
        """)
    facts = read(path)
    requests = facts["remote_requests"]
    assert [(r["line"], r["where"], r["target"]) for r in requests] == [
        (5, "@ray.remote", "on_gpu"), (9, "@ray.remote", "sized"), (13, "@ray.remote", "Actor"), (17, "@ray.remote", "plain"),
        (22, ".options", "Actor"), (23, ".options", "sized"), (24, "@ray.remote", "plain"), (25, "@ray.remote", "plain")]
    on_gpu, sized, actor, plain, actor_options, sized_options, wrapped, bare = requests
    assert on_gpu == {"line": 5, "cell": None, "where": "@ray.remote", "target": "on_gpu", "target_kind": "function",
                      "num_cpus": None, "num_gpus": 1, "memory": None, "resources": None, "accelerator_type": None, "not_judged": []}
    assert sized["num_cpus"] is None and sized["not_judged"] == ["num_cpus"]
    assert sized["memory"] == 2 * 1024**3 and sized["resources"] == {"TPU": 1, "custom": 0.5}
    assert actor["target_kind"] == "class" and actor["memory"] is None and actor["not_judged"] == ["memory"]
    assert actor["num_cpus"] == -1 and actor["num_gpus"] == 0.5 and actor["accelerator_type"] == "A100"
    assert (plain["num_cpus"], plain["num_gpus"], plain["memory"], plain["resources"], plain["not_judged"]) == (None, None, None, None, [])
    assert actor_options["num_cpus"] == 4 and actor_options["resources"] == {"TPU": 1} and actor_options["target_kind"] is None
    assert sized_options["not_judged"] == ["**opts"]
    assert wrapped["num_gpus"] == 2 and bare["num_gpus"] is None


def test_remote_under_other_names(tmp_path: Path) -> None:
    path = write(tmp_path, "job.py", """\
        import ray as r
        from ray import remote
        from ray import remote as rr

        @r.remote(num_cpus=2)
        def a(): pass

        @remote(num_gpus=1)
        def b(): pass

        @rr
        class C: pass

        class NotRay:
            def remote(self, **kw): return kw

        x = NotRay().remote(num_cpus=100)
        y = a.remote()
        z = C.options(resources={"node:10.0.0.1": n}).remote()
        """)
    requests = by_target(read(path))
    assert set(requests) == {"a", "b", "C"}
    assert requests["a"]["num_cpus"] == 2 and requests["b"]["num_gpus"] == 1
    assert requests["C"]["where"] == ".options" and requests["C"]["not_judged"] == ["resources"] and requests["C"]["resources"] is None


def test_launches_count_the_loops_around_them_when_the_source_says_how_long(tmp_path: Path) -> None:
    path = write(tmp_path, "launch.py", """\
        import ray

        @ray.remote(num_cpus=1)
        class Worker:
            def ping(self): return 1

        @ray.remote
        def task(x): return x

        workers = [Worker.remote() for _ in range(3)]
        refs = [task.remote(i) for i in range(4) for j in (1, 2)]
        for i in range(2, 12, 2):
            for b in batches:
                task.options(num_cpus=2).remote(b)
        [task.options(num_cpus=n).remote(i) for i in range(n)]
        [task.remote(i) for i in range(8) if i % 2]
        task.remote(0)
        while True:
            Worker.remote()
        pings = [w.ping.remote() for w in workers]
        other.remote()
        """)
    launches = read(path)["launches"]
    seen = [(item["target"], item["line"], item["count"], item["num_cpus"]) for item in launches]
    assert seen == [("Worker", 10, 3, 1), ("task", 11, 8, None), ("task", 14, None, 2), ("task", 15, None, None),
                    ("task", 16, None, None), ("task", 17, 1, None), ("Worker", 19, None, 1)], seen
    assert launches[0]["target_kind"] == "class" and launches[0]["loops"] == ["for _ in range(3)"]
    assert launches[2]["loops"] == ["for i in range(2, 12, 2)", "for b in batches"]  # 5 times, then as many as batches
    assert launches[3]["not_judged"] == ["num_cpus"]  # .options(num_cpus=n) replaces the decorator's value with one not known
    assert launches[6]["loops"] == ["while True"]


def test_placement_groups_with_their_literal_bundles_and_strategy(tmp_path: Path) -> None:
    path = write(tmp_path, "pg.py", """
        import ray
        from ray.util.placement_group import placement_group
        from ray.util import placement_group as make_group

        ray.init()
        a = placement_group([{"CPU": 1}] * 3)
        b = ray.util.placement_group(bundles=[{"CPU": 1, "GPU": 1} for _ in range(2)], strategy="STRICT_PACK")
        c = placement_group(2 * [{"CPU": 2}], "SPREAD")
        d = placement_group([{"CPU": n}] * 2, strategy=chosen)
        e = placement_group([{"CPU": 1} for _ in range(n)])
        f = placement_group([{"CPU": 1}] * 100_000)

        def placement_group_of_mine(bundles):
            return bundles
        placement_group_of_mine([{"CPU": 99}])
        """)
    groups = read(path)["placement_groups"]
    assert [(g["line"], g["bundles"], g["strategy"], g["not_judged"]) for g in groups] == [
        (7, [{"CPU": 1}] * 3, "PACK", []),
        (8, [{"CPU": 1, "GPU": 1}] * 2, "STRICT_PACK", []),
        (9, [{"CPU": 2}] * 2, "SPREAD", []),
        (10, None, None, ["bundles", "strategy"]),
        (11, None, "PACK", ["bundles"]),
        (12, None, "PACK", ["bundles"]),  # more than 1,000 bundles are not spelled out in the facts
    ]  # make_group (an alias) is not followed; a function of the script's own is not Ray's


def test_arithmetic_that_is_not_safe_to_evaluate_is_not_judged(tmp_path: Path) -> None:
    path = write(tmp_path, "job.py", """\
        import ray
        @ray.remote(memory=10 ** 10 ** 10, num_cpus=1 / 0, num_gpus=True)
        def f(): pass
        """)
    (request,) = read(path)["remote_requests"]
    assert request["not_judged"] == ["memory", "num_cpus", "num_gpus"]
    assert request["memory"] is None and request["num_cpus"] is None and request["num_gpus"] is None


# --- ray.init -----------------------------------------------------------------------------------------


def test_ray_init_address_and_runtime_env(tmp_path: Path) -> None:
    path = write(tmp_path, "job.py", """\
        import os
        import ray
        from ray import init as start

        ray.init("ray://h:10001", runtime_env={"working_dir": ".", "pip": ["pydantic>=2"], "py_modules": ("a", "b")})
        ray.init(address=os.environ["RAY_ADDRESS"], runtime_env=build_env())
        start(runtime_env=dict(env_vars={"OMP_NUM_THREADS": "1"}, conda=None))
        ray.init()
        ray.init(**settings)
        """)
    inits = read(path)["inits"]
    assert [i["line"] for i in inits] == [5, 6, 7, 8, 9]
    literal, dynamic, started, default, spread = inits
    assert literal == {"line": 5, "cell": None, "address": "ray://h:10001", "address_literal": True, "address_text": None,
                       "runtime_env": {"working_dir": ".", "pip": ["pydantic>=2"], "py_modules": ["a", "b"]},
                       "runtime_env_literal": True, "runtime_env_text": None}
    assert dynamic["address"] is None and dynamic["address_literal"] is False and dynamic["address_text"] == 'os.environ["RAY_ADDRESS"]'
    assert dynamic["runtime_env"] is None and dynamic["runtime_env_literal"] is False and dynamic["runtime_env_text"] == "build_env()"
    assert started["runtime_env"] == {"env_vars": {"OMP_NUM_THREADS": "1"}, "conda": None} and started["address_literal"] is True
    assert default["address"] is None and default["address_literal"] is True and default["runtime_env_literal"] is None
    assert spread["address_literal"] is False and spread["runtime_env_literal"] is False and spread["runtime_env_text"] == "**settings"


def test_a_runtime_env_with_one_computed_value_is_not_literal(tmp_path: Path) -> None:
    path = write(tmp_path, "job.py", """\
        import os, ray
        ray.init(runtime_env={"working_dir": ".",
                              "env_vars": {"TOKEN": os.environ["TOKEN"]}})
        """)
    (init,) = read(path)["inits"]
    assert init["runtime_env_literal"] is False and init["runtime_env"] is None
    assert init["runtime_env_text"] == '{"working_dir": ".", "env_vars": {"TOKEN": os.environ["TOKEN"]}}'


# --- Ray libraries ------------------------------------------------------------------------------------


def test_ray_libraries_are_found_from_imports_and_attributes(tmp_path: Path) -> None:
    path = write(tmp_path, "job.py", """\
        import ray
        import ray.data
        from ray.train import ScalingConfig
        from ray import tune, serve as s
        from ray.util.dask import ray_dask_get
        from ray.util import ActorPool
        ds = ray.data.range(10)
        ray.data.read_csv("x.csv")
        ray.util.multiprocessing.Pool()
        ray.get_runtime_context()
        """)
    libraries = read(path)["libraries"]
    assert libraries == [
        {"library": "ray.data", "line": 2, "cell": None, "count": 3},
        {"library": "ray.train", "line": 3, "cell": None, "count": 1},
        {"library": "ray.serve", "line": 4, "cell": None, "count": 1},
        {"library": "ray.tune", "line": 4, "cell": None, "count": 1},
        {"library": "ray.util.dask", "line": 5, "cell": None, "count": 1},
        {"library": "ray.util.multiprocessing", "line": 9, "cell": None, "count": 1},
    ]


# --- notebooks ----------------------------------------------------------------------------------------


def test_notebooks_are_read_cell_by_cell_past_magics_and_broken_cells(tmp_path: Path) -> None:
    write(tmp_path, "helpers.py", "")
    path = notebook(tmp_path, "explore.ipynb", [
        ("markdown", "# Exploring"),
        ("code", "!pip install xgboost\n%matplotlib inline\nimport numpy as np\nimport ray"),
        ("code", "import pandas as pd\ndef broken(:\n    pass"),
        ("markdown", "Training"),
        ("code", "%%time\nimport helpers\n@ray.remote(num_gpus=1)\ndef train():\n    import torch\n"
                 "files = !ls\nnp.array?\nget_ipython().run_line_magic('load_ext', 'autoreload')"),
        ("code", "%%bash\nimport this is not python\nls -l"),
        ("code", "for i in range(3):\n    !echo $i\n%time ds = ray.data.range(10)\nray.init('ray://head:10001')"),
        ("code", ""),
    ])
    facts = read(path)
    assert facts["kind"] == "notebook" and facts["error"] is None
    assert facts["cells"] == 6 and facts["lines"] == 4 + 3 + 8 + 3 + 4
    assert facts["skipped_cells"] == [{"cell": 3, "error": "cell 3 line 2: invalid syntax"}]
    assert [(i["module"], i["cell"], i["line"]) for i in facts["imports"]] == [
        ("numpy", 2, 3), ("ray", 2, 4), ("helpers", 5, 2), ("torch", 5, 5)]
    assert facts["third_party"] == ["numpy", "ray", "torch"] and facts["local"] == ["helpers"]
    (request,) = facts["remote_requests"]
    assert (request["cell"], request["line"], request["target"], request["num_gpus"]) == (5, 3, "train", 1)
    (init,) = facts["inits"]
    assert (init["cell"], init["line"], init["address"]) == (7, 4, "ray://head:10001")
    assert facts["libraries"] == [{"library": "ray.data", "line": 3, "cell": 7, "count": 1}]


def test_a_modulo_at_the_start_of_a_line_is_python_not_a_magic(tmp_path: Path) -> None:
    path = notebook(tmp_path, "fmt.ipynb", [("code", "import ray\nname = 'x'\nmsg = ('hello %s'\n       % name)\nimport requests")])
    facts = read(path)
    assert facts["skipped_cells"] == [] and facts["third_party"] == ["ray", "requests"]


def test_notebook_sources_may_be_strings_or_lists_and_nbformat_3_is_read(tmp_path: Path) -> None:
    v4 = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "source": ["import ray\n", "import scipy\n"], "metadata": {}, "outputs": []},
                    {"cell_type": "raw", "source": "import nothing"},
                    {"cell_type": "code", "source": "import pandas", "metadata": {}, "outputs": []}]}
    (tmp_path / "v4.ipynb").write_text(json.dumps(v4), encoding="utf-8")
    facts = read(str(tmp_path / "v4.ipynb"))
    assert facts["third_party"] == ["pandas", "ray", "scipy"] and [i["cell"] for i in facts["imports"]] == [1, 1, 3]
    v3 = {"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code", "input": ["import torch"]}]}]}
    (tmp_path / "v3.ipynb").write_text(json.dumps(v3), encoding="utf-8")
    assert read(str(tmp_path / "v3.ipynb"))["third_party"] == ["torch"]


def test_a_notebook_of_another_language_is_an_error(tmp_path: Path) -> None:
    nb = {"nbformat": 4, "metadata": {"kernelspec": {"language": "R"}}, "cells": [{"cell_type": "code", "source": "library(x)"}]}
    (tmp_path / "r.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    assert read(str(tmp_path / "r.ipynb"))["error"] == "r.ipynb is a r notebook, not a Python one"


# --- bad input ----------------------------------------------------------------------------------------


def test_bad_input_is_an_error_not_an_exception(tmp_path: Path) -> None:
    (tmp_path / "binary.py").write_bytes(b"import os\n\xff\xfe\x00\x81garbage")
    (tmp_path / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    (tmp_path / "list.ipynb").write_text("[1, 2]", encoding="utf-8")
    (tmp_path / "nul.py").write_bytes(b"import os\x00\n")
    (tmp_path / "big.py").write_text("x = 1\n" * 100, encoding="utf-8")
    (tmp_path / "deep.py").write_text("x = " + "(" * 10_000 + ")" * 10_000 + "\n", encoding="utf-8")
    write(tmp_path, "train.py", "import os\n" + "\n" * 10 + "x = = 1\n")
    os.mkfifo(tmp_path / "pipe.py")
    errors = {name: read(str(tmp_path / name))["error"] for name in
              ("missing.py", "binary.py", "broken.ipynb", "list.ipynb", "nul.py", "train.py", "pipe.py", "deep.py")}
    errors["folder"] = read(str(tmp_path))["error"]
    errors["big.py"] = read(str(tmp_path / "big.py"), max_bytes=100)["error"]
    assert errors["missing.py"] == "missing.py: no such file"
    assert errors["folder"] == f"{tmp_path.name} is a folder, not a script"
    assert errors["binary.py"] == "binary.py is not UTF-8 text (undecodable byte at offset 10)"
    assert errors["broken.ipynb"].startswith("broken.ipynb is not a valid notebook: invalid JSON at line 1:")
    assert errors["list.ipynb"] == "list.ipynb is not a Jupyter notebook (no cells)"
    assert errors["nul.py"] == "nul.py contains NUL bytes: it is not Python source"
    assert errors["train.py"] == "train.py line 12: invalid syntax"
    assert errors["pipe.py"] == "pipe.py is not a regular file"
    assert errors["deep.py"].startswith("deep.py")  # the parser's limit: its wording and line differ between Pythons
    assert errors["big.py"] == "big.py is too big to read (600 bytes; the limit is 100)"
    assert all(isinstance(e, str) and "\n" not in e for e in errors.values())


def test_a_syntax_error_names_its_line(tmp_path: Path) -> None:
    facts = read(write(tmp_path, "train.py", "import ray\n\n\ndef f(:\n    pass\n"))
    assert facts["error"] == "train.py line 4: invalid syntax"
    assert facts["lines"] == 5 and facts["imports"] == [] and facts["third_party"] == []


def test_a_declared_encoding_is_honoured(tmp_path: Path) -> None:
    (tmp_path / "latin.py").write_bytes("# -*- coding: latin-1 -*-\nimport scipy\nNAME = 'caf\xe9'\n".encode("latin-1"))
    facts = read(str(tmp_path / "latin.py"))
    assert facts["error"] is None and facts["third_party"] == ["scipy"]


def test_the_script_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = write(tmp_path, "job.py", f"""\
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("ran")
        import ray
        raise SystemExit(3)
        """)
    facts = read(path)
    assert facts["third_party"] == ["ray"] and not marker.exists()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=400), notebook_json=st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["cells", "cell_type", "source", "code"]), inner, max_size=4),
    max_leaves=20))
def test_any_text_is_read_without_raising(text: str, notebook_json: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        script = os.path.join(folder, "any.py")
        with open(script, "w", encoding="utf-8", errors="surrogatepass") as handle:
            handle.write(text)
        nb = os.path.join(folder, "any.ipynb")
        with open(nb, "w", encoding="utf-8") as handle:
            handle.write(json.dumps({"cells": [{"cell_type": "code", "source": text}, notebook_json]}))
        for path in (script, nb):
            facts = read(path)
            assert facts["error"] is None or isinstance(facts["error"], str)


# --- installed distributions and the standard library ------------------------------------------------


def test_distribution_for_names_the_installed_distribution_and_version() -> None:
    assert distribution_for("yaml") == ("PyYAML", metadata.version("PyYAML"))
    assert distribution_for("pytest") == ("pytest", metadata.version("pytest"))
    assert distribution_for("_pytest.python") == ("pytest", metadata.version("pytest"))
    assert distribution_for("no_such_mod_xyz") is None
    assert distribution_for("") is None


def test_the_standard_library_list() -> None:
    assert {"os", "sys", "json", "__future__", "asyncio", "distutils", "asyncore", "imp", "tomllib"} <= STDLIB
    assert set(sys.builtin_module_names) <= STDLIB
    assert not {"numpy", "ray", "yaml", "sklearn"} & STDLIB
