"""The summary: per-seed results, stale files left out with a warning, intervals and verdicts."""
import json
import shutil

import pytest

from facelib import conditions as C
from facelib.config import get_config
from facelib.paths import Paths
from facelib.results import collect, summarize, write_summary

from .conftest import train_every_run


@pytest.fixture(scope="module")
def two_seeds(tiny_data, tiny_cache, tmp_path_factory):
    """Every condition and the control trained and tested with model seeds 0 and 1 (smoke preset)."""
    root = tmp_path_factory.mktemp("seeds")
    paths = Paths(root=root, data_root=tiny_data, cache_dir=tiny_cache[0], weights_dir=root / "weights",
                  out_dir=root / "outputs", synthetic=True)
    import facelib
    for c, p in facelib.each_seed(get_config("smoke", tuples_per_identity=2, min_age_gap=2), paths, [0, 1]):
        train_every_run(c, p)
    return paths


def test_summary_fields_with_two_seeds(two_seeds):
    s = write_summary(two_seeds, [0, 1])
    assert s["seeds"] == [0, 1] and s["warnings"] == []
    assert set(s["conditions"]) == {"baseline", "korean_finetuned", "vcop_downstream", "multitrain"}
    for name, m in [*s["conditions"].items(), ("aihub_scratch", s["reference"]["aihub_scratch"])]:
        per_seed = [json.loads((two_seeds.for_seed(k).results_dir / f"{name}.json").read_text())["test"]["mae"]
                    for k in (0, 1)]
        assert m["mae_seeds"] == pytest.approx(per_seed)
        assert m["mae"] == pytest.approx(sum(per_seed) / 2)
        assert m["mae_ci95"][0] <= m["mae"] <= m["mae_ci95"][1]
        assert isinstance(m["beats_mean_predictor"], bool)
        assert m["val_dataset"] == ("utkface" if name == "baseline" else "aihub") and m["val_mae"] > 0
        assert {"rmse", "r2", "ca3", "ca5", "n"} <= set(m)
    pairs = [(c["a"], c["b"]) for c in s["comparisons"]]
    assert pairs == [("korean_finetuned", "baseline"), ("vcop_downstream", "baseline"), ("multitrain", "baseline"),
                     ("vcop_downstream", "aihub_scratch"), ("multitrain", "aihub_scratch")]
    for c in s["comparisons"]:
        lo, hi = c["ci95"]
        assert c["verdict"] == ("a better" if hi < 0 else "b better" if lo > 0 else "no difference shown")
        a, b = (s["conditions"].get(k) or s["reference"][k] for k in (c["a"], c["b"]))
        assert c["mae_diff"] == pytest.approx(a["mae"] - b["mae"], abs=1e-5)  # CSV vs float32
    assert set(s["budget"]) == {"vcop", "baseline", "korean_finetuned", "vcop_downstream", "aihub_scratch",
                                "multitrain"}
    assert (two_seeds.results_dir / "summary.csv").read_text().splitlines()[0] == "condition,mae,rmse,r2,ca3,ca5,n"


def test_stale_and_foreign_results_are_left_out_with_a_warning(two_seeds, tmp_path):
    paths = Paths(root=tmp_path, data_root=two_seeds.data_root, cache_dir=two_seeds.cache_dir,
                  weights_dir=tmp_path / "weights", out_dir=tmp_path / "outputs", synthetic=True)
    shutil.copytree(two_seeds.weights_dir, paths.weights_dir)
    shutil.copytree(two_seeds.out_dir, paths.out_dir)
    for d in ("weights", "outputs"):   # results files name their weights relative to the project root
        for f in (tmp_path / d).rglob("*.json"):
            f.write_text(f.read_text().replace(str(two_seeds.root), str(tmp_path)))
    s0 = paths.for_seed(0)
    old = (s0.results_dir / "baseline.json").read_text()
    C.baseline(get_config("smoke", **{"baseline.lr": 0.01}), s0, progress=False)   # trained again ...
    (s0.results_dir / "baseline.json").write_text(old)                             # ... its old record left behind
    per_seed, warnings = collect(paths, [0])
    assert "baseline" not in per_seed[0] and "korean_finetuned" in per_seed[0]
    assert any("seed0/results/baseline.json left out" in w and "trained again since" in w for w in warnings)
    assert any("results of seeds [1]" in w for w in warnings)
    with pytest.raises(ValueError, match="no condition has test metrics"):
        summarize({0: {}}, paths.root)
