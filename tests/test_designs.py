"""The original's design beside facelib's: same data and budget, one row each, each against both
controls, with intervals."""
import json

import pytest

from facelib.config import get_config
from facelib.tools.designs import DESIGNS, EXTRA_DESIGNS, compare_designs, designs_table, select_designs


@pytest.mark.slow
def test_every_design_is_trained_on_the_same_data_against_both_controls(tiny_paths):
    cfg = get_config("smoke", tuples_per_identity=2, min_age_gap=2)
    out = compare_designs(cfg, tiny_paths, seeds=[0])
    assert json.loads((tiny_paths.results_dir / "designs.json").read_text()) == json.loads(json.dumps(out))
    rows = out["designs"]
    assert list(rows) == list(DESIGNS)
    assert out["data"] == "synthetic" and out["data_id"] == tiny_paths.data_id
    # the original's README: its order model trained with cross-entropy, its regressor with MSE
    original = rows["original (r21d_original, cross-entropy, MSE)"]
    assert original["settings"] == {"encoder": "r21d_original", "order_loss": "ce", "vcop_downstream.loss": "mse"}
    runs = [json.loads((tiny_paths.out_dir / "designs" / f"d{i}" / "seed0" / "results" / "vcop_downstream.json")
                       .read_text()) for i in range(len(DESIGNS))]
    assert [r["config"]["vcop_downstream"]["loss"] for r in runs] == ["l1", "l1", "mse"]
    assert [(r["config"]["order_head"], r["config"]["encoder"]) for r in runs] == [
        ("score", "shared2d"), ("vcop", "shared2d"), ("score", "r21d_original")]
    # the supervised control is pretrained with the design's downstream loss (MSE for the original's)
    sup = [json.loads((tiny_paths.out_dir / "designs" / f"d{i}" / "seed0" / "results" / "supervised_pretext.json")
                      .read_text()) for i in range(len(DESIGNS))]
    assert [r["config"]["vcop_downstream"]["loss"] for r in sup] == ["l1", "l1", "mse"]
    for r in rows.values():
        for versus, b in (("vs_control", "aihub_scratch"), ("vs_supervised", "supervised_downstream")):
            assert r[versus]["b"] == b and r[versus]["seeds"] == 1 and r[versus]["verdict"] == "no difference shown"
        assert 0 <= r["pretext_top1"] <= 1 and r["seconds_per_pretext_epoch"] > 0
        for arm in ("vcop_downstream", "aihub_scratch", "supervised_downstream"):
            assert r[f"{arm}_mae_ci95"][0] <= r[f"{arm}_mae"] <= r[f"{arm}_mae_ci95"][1]
    # the designs read the same faces: condition 3 was trained and tested on the same splits in each
    assert len({json.dumps(r["data_hashes"]) for r in runs}) == 1 and len({r["test_data_hash"] for r in runs}) == 1
    assert list(designs_table(out).index) == list(DESIGNS)
    # each row names the commits and library versions its runs were made with
    for r in rows.values():
        assert len(r["git"]) == 1 and len(r["versions"]) == 1 and r["versions"][0]["torch"]
    # one design again (`--only`), its row missing from the file: it is tested again from its saved
    # weights; the other rows are read from the file as they were (marked here to tell), and the rows
    # come back in the designs' order
    names = list(DESIGNS)
    written = json.loads((tiny_paths.results_dir / "designs.json").read_text())
    assert written["data_seed"] == cfg.data_seed
    written["designs"][names[0]]["marker"] = "read from the file"
    del written["designs"][names[1]]
    (tiny_paths.results_dir / "designs.json").write_text(json.dumps(written))
    again = compare_designs(cfg, tiny_paths, seeds=[0], only="T! head")
    assert list(again["designs"]) == names
    assert again["designs"][names[0]]["marker"] == "read from the file"
    assert again["designs"][names[1]] == json.loads(json.dumps(rows[names[1]]))
    assert again["designs"][names[2]] == json.loads(json.dumps(rows[names[2]]))
    # a row tested on other faces is not kept beside the rows trained now
    written = json.loads((tiny_paths.results_dir / "designs.json").read_text())
    written["designs"][names[2]]["test_data_hash"] = "other faces"
    (tiny_paths.results_dir / "designs.json").write_text(json.dumps(written))
    assert list(compare_designs(cfg, tiny_paths, seeds=[0], only="T! head")["designs"]) == names[:2]


@pytest.mark.slow
def test_only_keeps_a_chosen_designs_old_row_until_it_is_replaced(tiny_paths, monkeypatch):
    import facelib.tools.designs as D
    cfg = get_config("smoke", tuples_per_identity=2, min_age_gap=2)
    names = list(DESIGNS)
    first = compare_designs(cfg, tiny_paths, seeds=[0], only="facelib")  # facelib's two designs
    assert list(first["designs"]) == names[:2]
    written = json.loads((tiny_paths.results_dir / "designs.json").read_text())
    written["designs"][names[1]]["marker"] = "old row"
    (tiny_paths.results_dir / "designs.json").write_text(json.dumps(written))
    writes = []
    monkeypatch.setattr(D, "_write", lambda paths, filename, out: writes.append(json.loads(json.dumps(out))))
    compare_designs(cfg, tiny_paths, seeds=[0], only="facelib")
    # after the first design, the second one's old row is still there; then it is replaced
    assert [list(w["designs"]) for w in writes] == [names[:2], names[:2]]
    assert writes[0]["designs"][names[1]]["marker"] == "old row" and "marker" not in writes[1]["designs"][names[1]]


def test_only_keeps_rows_of_the_same_data_settings_and_faces(tiny_paths, smoke_cfg, capsys):
    from facelib.study.provenance import data_kind
    from facelib.tools.designs import _kept_rows, _same_faces, config_hash
    names = list(DESIGNS)

    def row(name, **kw):
        settings = {**DESIGNS, **EXTRA_DESIGNS}[name]
        return {"settings": settings, "seeds": [0], "config_hash": config_hash(smoke_cfg, settings),
                "data_hash": "d", "test_data_hash": "t", "data_hashes": {"0": {"train": "a"}}, **kw}
    head = {"preset": smoke_cfg.preset, "data": data_kind(tiny_paths), "data_id": tiny_paths.data_id,
            "data_seed": smoke_cfg.data_seed, "test_set": smoke_cfg.test_set, "identities": smoke_cfg.identities}
    longer = get_config("smoke", tuples_per_identity=2, min_age_gap=2, vcop__epochs=9)
    assert config_hash(longer, DESIGNS[names[1]]) != config_hash(smoke_cfg, DESIGNS[names[1]])
    rows = {names[0]: row(names[0]), names[1]: row(names[1], config_hash=config_hash(longer, DESIGNS[names[1]])),
            "a design since renamed": row(names[2]), names[2]: row(names[2], test_data_hash="other"),
            **{n: row(n) for n in EXTRA_DESIGNS}}
    tiny_paths.results_dir.mkdir(parents=True, exist_ok=True)
    file = tiny_paths.results_dir / "designs.json"
    file.write_text(json.dumps({**head, "designs": rows}))
    kept = _kept_rows(smoke_cfg, tiny_paths)
    # a row of another config (here more pretext epochs) or of a design this code does not know is
    # dropped, and said so
    extra = list(EXTRA_DESIGNS)[0]
    assert list(kept) == [names[0], names[2], extra]
    assert "not a design of this code" in capsys.readouterr().out
    # a row tested on other faces, or whose common seed read other faces, is dropped once a row trained
    # now shows which faces those are; a row with no seed in common is compared on the rest
    kept[extra]["data_hashes"] = {"0": {"train": "b"}}
    now = {"data_hash": "d", "test_data_hash": "t", "data_hashes": {"0": {"train": "a"}}}
    assert list(_same_faces(kept, now)) == [names[0]]
    assert "other faces" in capsys.readouterr().out
    assert list(_same_faces(kept, {**now, "data_hashes": {"1": {"train": "c"}}})) == [names[0], extra]
    # another data seed, preset, test set or identities, or another data folder: nothing is kept
    for key, value in (("data_seed", 7), ("preset", "demo"), ("test_set", "aaf"), ("identities", "fgnet"),
                       ("data_id", "elsewhere-0000")):
        file.write_text(json.dumps({**head, key: value, "designs": rows}))
        assert _kept_rows(smoke_cfg, tiny_paths) == {}
        assert "not kept" in capsys.readouterr().out
    # a file from before designs.json recorded its data seed is not mixed in either
    file.write_text(json.dumps({k: v for k, v in {**head, "designs": rows}.items() if k != "data_seed"}))
    assert _kept_rows(smoke_cfg, tiny_paths) == {}


def test_only_is_refused_with_order_recipes_and_for_an_unknown_design():
    from facelib.tools.cli import main
    with pytest.raises(SystemExit, match="--order-recipes runs every recipe"):
        main(["designs", "--only", "r21d", "--order-recipes"])
    with pytest.raises(SystemExit, match="no design's name contains 'resnet'"):
        main(["designs", "--only", "resnet"])


def test_only_selects_designs_by_name_and_keeps_their_folders():
    names = list(DESIGNS)
    assert select_designs() == {n: i for i, n in enumerate(names)}
    # the index names the folder (designs/d<index>/), so a selected design keeps its own weights
    assert select_designs("r21d") == {names[2]: 2}
    assert select_designs("T! HEAD") == {names[1]: 1} == select_designs(" t! head ")
    assert select_designs("soft-permutation", extras=True) == {list(EXTRA_DESIGNS)[0]: len(DESIGNS)}
    for text in ("resnet", " "):
        with pytest.raises(ValueError, match="no design's name contains"):
            select_designs(text)


def test_order_recipes_report_each_recipe_over_seeds(tiny_paths):
    from facelib.tools.designs import compare_order_recipes, order_recipes_table
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
    w = json.loads((tiny_paths.out_dir / "order_recipes" / "d1" / "seed1" / "results" / "vcop.json").read_text())
    assert w["config"]["order_head"] == "score" and w["config"]["order_grayscale"] == 0.5 and w["seed"] == 1
    # compared on the people that choose the epoch, never on the held-out people
    assert out["recipes"]["score head, greyscale 0.5"]["per_seed"][1]["top1"] == w["pretext_val"]["top1"]
    assert "pretext_val" in w["pretext_val"]["split"] and "heldout" in w["pretext"]["split"]
    assert list(order_recipes_table(out).index) == list(recipes)
