"""The original's design beside facelib's: same data and budget, one row each, with intervals."""
import json

import pytest

from facelib.config import get_config
from facelib.designs import DESIGNS, compare_designs, designs_table


@pytest.mark.slow
def test_both_designs_are_trained_on_the_same_data_and_reported(tiny_paths):
    cfg = get_config("smoke", tuples_per_identity=2, min_age_gap=2)
    out = compare_designs(cfg, tiny_paths, seeds=[0])
    assert json.loads((tiny_paths.results_dir / "designs.json").read_text()) == json.loads(json.dumps(out))
    rows = out["designs"]
    assert list(rows) == list(DESIGNS)
    original = next(r for n, r in rows.items() if n.startswith("original"))
    assert original["settings"] == {"encoder": "r21d_original", "order_loss": "soft", "kendall_convention": "items",
                                    "soft_temperature": 0.5}
    for r in rows.values():
        lo, hi = r["vs_control"]["ci95"]
        assert r["vs_control"]["verdict"] == ("a better" if hi < 0 else "b better" if lo > 0 else "no difference shown")
        assert 0 <= r["pretext_top1"] <= 1 and r["seconds_per_pretext_epoch"] > 0
        assert r["vcop_downstream_mae_ci95"][0] <= r["vcop_downstream_mae"] <= r["vcop_downstream_mae_ci95"][1]
    # the two designs read the same faces: their controls were tested on the same test split
    runs = [json.loads((tiny_paths.out_dir / "designs" / n.split(" ")[0] / "seed0" / "results" / "aihub_scratch.json")
                       .read_text()) for n in DESIGNS]
    assert runs[0]["data_hashes"] == runs[1]["data_hashes"] and runs[0]["test_data_hash"] == runs[1]["test_data_hash"]
    assert list(designs_table(out).index) == list(DESIGNS)


def test_order_recipes_report_each_recipe_over_seeds(tiny_paths):
    from facelib.designs import compare_order_recipes, order_recipes_table
    cfg = get_config("smoke", tuples_per_identity=2, min_age_gap=2)
    recipes = {"T! head": {"order_head": "vcop"}, "score head, greyscale 0.5": {"order_head": "score",
                                                                                 "order_grayscale": 0.5}}
    out = compare_order_recipes(cfg, tiny_paths, seeds=[0, 1], recipes=recipes)
    assert json.loads((tiny_paths.results_dir / "order_recipes.json").read_text()) == json.loads(json.dumps(out))
    assert list(out["recipes"]) == list(recipes) and out["chance_top1"] == pytest.approx(1 / 24)
    for name, r in out["recipes"].items():
        assert r["settings"] == recipes[name] and len(r["per_seed"]) == 2
        assert r["top1"] == pytest.approx(sum(m["top1"] for m in r["per_seed"]) / 2)
        assert -1 <= r["kendall_tau"] <= 1 and 0 <= r["pairwise_acc"] <= 1
    # each recipe and seed trained its own pretext model with its own settings
    w = json.loads((tiny_paths.out_dir / "order_recipes" / "r1" / "seed1" / "results" / "vcop.json").read_text())
    assert w["config"]["order_head"] == "score" and w["config"]["order_grayscale"] == 0.5 and w["seed"] == 1
    assert list(order_recipes_table(out).index) == list(recipes)
