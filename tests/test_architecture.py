"""The house rules of the package's shape: no import cycle (imports inside functions counted), no
upward import from `data/` or `models/`, no function with more than 10 parameters, no two public
functions of one name, and a new condition added by its recipe and one row of `registry.RUNS`."""
import ast
import json
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "facelib"
# The ground floor: what `data/` and `models/` may import besides each other.
GROUND = {"facelib.config", "facelib.paths", "facelib.staging", "facelib.runtime", "facelib.checkpoints",
          "facelib.registry"}


def _modules() -> dict:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        name = ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = p
    return out


def import_graph() -> dict:
    """{module: {facelib modules it imports, anywhere in the file}}."""
    mods, graph = _modules(), {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
                for alias in node.names:
                    target = f"{module}.{alias.name}"
                    targets.add(target if target in mods else module)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def cycles(graph: dict) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_even_through_imports_inside_functions():
    graph = import_graph()
    assert len(graph) > 40
    assert cycles(graph) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]   # the check can fail


def test_data_and_models_import_only_each_other_and_the_ground_floor():
    upward = {m: sorted(t for t in ts if not t.startswith(("facelib.data", "facelib.models")) and t not in GROUND)
              for m, ts in import_graph().items() if m.startswith(("facelib.data", "facelib.models"))}
    assert {m: t for m, t in upward.items() if t} == {}
    for module in GROUND:        # the ground floor itself imports nothing above it
        assert all(t in GROUND for t in import_graph()[module]), module


def _parameters(fn: ast.FunctionDef) -> int:
    a = fn.args
    n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)
    return n - 1 if a.args and a.args[0].arg in ("self", "cls") else n


def test_no_function_takes_more_than_ten_parameters():
    many = [f"{p.relative_to(PACKAGE.parent)}:{fn.lineno} {fn.name} ({_parameters(fn)})"
            for p in _modules().values() for fn in ast.walk(ast.parse(p.read_text()))
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and _parameters(fn) > 10]
    assert many == []


def test_no_two_public_functions_or_classes_share_a_name():
    seen = {}
    for p in _modules().values():
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                seen.setdefault(node.name, []).append(str(p.relative_to(PACKAGE.parent)))
    assert {n: ps for n, ps in seen.items() if len(ps) > 1} == {}


def test_a_toy_condition_is_its_recipe_and_one_row_of_the_table(trained_paths, tmp_path, monkeypatch):
    """docs/design.md's paragraph, followed: a recipe that builds its model and data and hands them to
    `train_regressor`, then its row in `registry.RUNS`; the summary tests it, names it and compares it."""
    from facelib import registry
    from facelib.config import CONTROL, get_config
    from facelib.models.build import build_regressor
    from facelib.paths import Paths
    from facelib.reporting.results import summarize
    from facelib.reporting.tables import conditions_md
    from facelib.runtime import seed_everything
    from facelib.study import conditions as C
    from facelib.study.records import read_results

    def toy(cfg, paths, progress=False):
        """A toy condition: the no-pretraining control's fine-tuning at one fixed multiplier."""
        seed_everything(cfg.seed)
        data = C.FaceData(C.identities(cfg, paths), "finetune_train", "finetune_val", rehearsal=True)
        return C.train_regressor("toy", cfg, paths, build_regressor(cfg), data, cfg.vcop_downstream, progress=progress)

    monkeypatch.setitem(registry.RUNS, "toy", registry.Run("toy", "02_ssl-regression", "condition", "5 toy",
                                                           compared_with=((CONTROL, registry.SECONDARY),)))
    paths = Paths(root=tmp_path, data_root=trained_paths.data_root, cache_dir=trained_paths.cache_dir,
                  weights_dir=tmp_path / "weights", out_dir=tmp_path / "outputs", synthetic=True)
    shutil.copytree(trained_paths.weights_dir, paths.weights_dir)
    shutil.copytree(trained_paths.out_dir, paths.out_dir)
    cfg = get_config("smoke", tuples_per_identity=2, min_age_gap=2)
    run = toy(cfg, paths)
    C.evaluate_condition("toy", paths, run.model, cfg)
    assert json.loads((paths.results_dir / "toy.json").read_text())["test"]["n"] > 0
    summary = summarize({0: read_results(paths.results_dir)}, paths)
    assert "toy" in summary["conditions"]
    assert [(c["a"], c["b"], c["role"]) for c in summary["comparisons"] if c["a"] == "toy"] == \
        [("toy", CONTROL, "secondary")]
    assert "| 5 toy |" in conditions_md({"summary": summary})
    with pytest.raises(ValueError, match="is not one of"):
        registry.run("not_a_run")


def test_every_module_run_with_python_m_exists():
    """`python -m facelib.x` in the package (subprocesses, notebooks' shell cells, docs) names a module
    that exists: a move must carry its callers along."""
    import re
    mods = _modules()
    texts = [p.read_text() for p in PACKAGE.rglob("*.py")]
    texts += [p.read_text() for p in (PACKAGE.parent / "notebooks").glob("*.ipynb")]
    texts += [p.read_text() for p in [PACKAGE.parent / "README.md", *(PACKAGE.parent / "docs").glob("*.md")]]
    named = set()
    for t in texts:
        named |= set(re.findall(r'"-m",\s*"(facelib[\w.]*)"', t)) | set(re.findall(r"-m (facelib[\w.]*)", t))
    assert named, "no `-m facelib...` found: the pattern no longer matches the callers"
    assert {n for n in named if n not in mods} == set()
