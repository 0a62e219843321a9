"""The notebook runner: the smoke run of every notebook, the summary contract, failure reports."""
import json
import math
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from facelib.tools.runner import NotebookFailed, StudyParams, list_notebooks, run_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["00_prepare-data", "01_ssl-preTextTask", "02_ssl-regression", "03_finetune_base_to_kor",
             "04_basemodel-eval", "05_multitrain", "06_eval-all"]


def test_notebooks_are_committed_clean():
    names = [p.stem for p in list_notebooks(ROOT)]
    assert names == NOTEBOOKS
    for p in list_notebooks(ROOT):
        nb = nbformat.read(p, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, p.name
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{p.name} has outputs"
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "def fit" not in code and "class " not in code, f"{p.name} defines logic that belongs in facelib"


@pytest.mark.slow
def test_smoke_run_with_three_seeds_executes_every_notebook_under_facelib_home(tmp_path):
    """`FACELIB_HOME=DIR facelib run`: the data, the cache, the weights and the outputs all under DIR; the
    summary holds the equivalence readings, the kept budget, the supervised − no-pretraining pair and the
    fixed-epoch sensitivity arm."""
    import os
    out, weights = tmp_path / "outputs", tmp_path / "weights"
    proc = subprocess.run([sys.executable, "-m", "facelib", "run", "--preset", "smoke", "--seeds", "0,1,2",
                           "--label-fractions", "0.5"], cwd=ROOT, capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "FACELIB_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in NOTEBOOKS:
        assert (out / "notebooks" / f"{name}.ipynb").exists()
    assert (tmp_path / "data" / "cache" / "smoke-synthetic" / "utkface.npy").exists()

    summary = json.loads((out / "results" / "summary.json").read_text())
    assert summary["preset"] == "smoke" and summary["data"] == "synthetic" and summary["seeds"] == [0, 1, 2]
    assert set(summary["conditions"]) == {"baseline", "korean_finetuned", "vcop_downstream", "multitrain"}
    selection = summary["protocol"]["selection"]
    assert summary["protocol"]["seeds"] == [0, 1, 2] and "pretext_val" in selection["vcop"]["epoch"]
    assert all("test" not in sel["epoch"] for sel in selection.values())
    # Every epoch chosen on a validation split, but the fixed-epoch arm's pretexts, which choose none.
    unchosen = {n for n, sel in selection.items() if "val" not in sel["epoch"]}
    assert unchosen == {"vcop_fixed", "supervised_pretext_fixed"}
    assert all("nothing chosen" in selection[n]["epoch"] for n in unchosen)
    for metrics in [*summary["conditions"].values(), summary["reference"]["aihub_scratch"],
                    summary["reference"]["supervised_downstream"]]:
        assert {"mae", "rmse", "r2", "ca3", "ca5", "n", "mae_seeds", "mae_ci95", "beats_mean_predictor"} <= set(metrics)
        assert len(metrics["mae_seeds"]) == 3 and metrics["mae"] == pytest.approx(sum(metrics["mae_seeds"]) / 3)
        assert metrics["mae_ci95"][0] <= metrics["mae"] <= metrics["mae_ci95"][1]
        assert all(math.isfinite(metrics[k]) for k in ("mae", "rmse", "ca3", "ca5")) and metrics["n"] > 0
    assert {(c["a"], c["b"]) for c in summary["comparisons"]} >= {
        ("korean_finetuned", "baseline"), ("vcop_downstream", "baseline"), ("multitrain", "baseline"),
        ("vcop_downstream", "aihub_scratch"), ("vcop_downstream", "supervised_downstream"),
        ("supervised_downstream", "aihub_scratch")}
    primary = [c for c in summary["comparisons"] if c["role"] == "primary"]
    assert len(primary) == 3 and all(c["seeds"] == 3 and c["margin"] == 0.5 for c in primary)
    assert all(c["equivalence"] in ("equivalent within ±0.5 y", "not shown equivalent", "withheld") for c in primary)
    assert all(c["verdict"] in ("a better", "b better", "no difference shown", "withheld") for c in primary)
    assert summary["protocol"]["equivalence_margin"]["fixed"] == "2026-12-06"
    for name in ("vcop", "supervised_pretext", "vcop_fixed", "supervised_pretext_fixed"):
        b = summary["budget"][name]
        assert {"kept_epoch", "images_kept", "steps_kept", "kept_epoch_seeds"} <= set(b) and len(b["kept_epoch_seeds"]) == 3
    fixed = summary["sensitivity"]
    assert set(fixed["arms"]) == {"vcop_downstream_fixed", "supervised_downstream_fixed"}
    assert [(c["a"], c["b"]) for c in fixed["comparisons"]][1] == ("vcop_downstream_fixed", "supervised_downstream_fixed")
    assert {"top1", "top3", "exact_match", "kendall_tau", "spearman_rho", "chance_top1"} <= set(summary["pretext"])
    assert summary["pretext"]["chance_top1"] == pytest.approx(1 / 24)
    probes = summary["probes"]
    assert probes["encoders"] == ["pretext_start", "vcop", "supervised_pretext"]
    assert set(probes["probes"]) == {"linear/identities", "knn/identities", "linear/utkface", "knn/utkface"}
    for entry in probes["probes"].values():
        for split in ("test", "heldout"):
            assert all(len(b["mae_seeds"]) == 3 for b in entry[split]["encoders"].values())
            assert [(c["a"], c["b"]) for c in entry[split]["comparisons"]] == [
                ("vcop", "supervised_pretext"), ("vcop", "pretext_start"), ("supervised_pretext", "pretext_start")]
    shown = json.loads((out / "notebooks" / "06_eval-all.ipynb").read_text())
    assert any("report.probes_frame" in "".join(c["source"]) and c.get("outputs") for c in shown["cells"])
    assert summary["label_efficiency"]["fractions"] == [0.5, 1.0]
    assert {(c["a"], c["b"]) for c in summary["label_efficiency"]["comparisons"]} == {
        ("vcop_downstream", "aihub_scratch"), ("vcop_downstream", "supervised_downstream"),
        ("supervised_downstream", "aihub_scratch")}
    assert (out / "figures" / "06_label_efficiency.png").stat().st_size > 1000
    assert set(summary["budget"]["multitrain"]) == {"images_seen", "epochs", "steps", "seconds", "kept_epoch",
                                                    "images_kept", "steps_kept", "kept_epoch_seeds"}
    csv = (out / "results" / "summary.csv").read_text().splitlines()
    assert csv[0] == "condition,mae,rmse,r2,ca3,ca5,n"
    assert [line.split(",")[0] for line in csv[1:]] == ["baseline", "korean_finetuned", "vcop_downstream",
                                                        "multitrain", "mean_predictor", "aihub_scratch",
                                                        "supervised_downstream"]
    conclusion = (out / "results" / "conclusion.md").read_text()
    assert "over 3 model seeds" in conclusion and "synthetic" in conclusion and "supervised_downstream" in conclusion
    assert "Condition 3 and its controls (the primary comparisons)" in conclusion
    assert (out / "figures" / "06_mae_ca5.png").stat().st_size > 1000
    for seed in (0, 1, 2):
        for name in ("baseline", "korean_finetuned", "vcop", "supervised_pretext", "vcop_downstream", "multitrain",
                     "aihub_scratch", "supervised_downstream", "vcop_fixed", "supervised_pretext_fixed",
                     "vcop_downstream_fixed", "supervised_downstream_fixed"):
            assert (weights / f"seed{seed}" / f"{name}.pt").exists()
            assert list((out / f"seed{seed}" / "runs" / name).rglob("events.out.tfevents.*")), f"no events: {name}"


def _project_with(tmp_path, cells):
    (tmp_path / "facelib").mkdir()
    (tmp_path / "notebooks").mkdir()
    params = nbformat.v4.new_code_cell('preset = "demo"')
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, *[nbformat.v4.new_code_cell(c) for c in cells]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "notebooks" / "00_fine.ipynb")
    bad = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell("x = 1"),
                                          nbformat.v4.new_code_cell("raise ValueError('broken on purpose')")])
    bad.metadata = nb.metadata
    nbformat.write(bad, tmp_path / "notebooks" / "01_broken.ipynb")
    nbformat.write(nb, tmp_path / "notebooks" / "02_never.ipynb")


@pytest.mark.slow
def test_a_failing_notebook_is_named_with_its_cell(tmp_path):
    _project_with(tmp_path, ["y = 2"])
    with pytest.raises(NotebookFailed) as e:
        run_notebooks(StudyParams("smoke", out_dir=str(tmp_path / "out"), weights_dir=str(tmp_path / "w")),
                      root=tmp_path)
    assert e.value.notebook == "01_broken.ipynb"
    # In [4]: the parameters cell, papermill's injected parameters, x = 1, then the raise
    assert e.value.cell == 4 and "broken on purpose" in e.value.error
    assert e.value.source == "raise ValueError('broken on purpose')"
    assert (tmp_path / "out" / "notebooks" / "01_broken.ipynb").exists()       # partial output kept
    assert not (tmp_path / "out" / "notebooks" / "02_never.ipynb").exists()    # stopped there
    # --from skips the notebooks before it
    times = run_notebooks(StudyParams("smoke", out_dir=str(tmp_path / "out"), weights_dir=str(tmp_path / "w")),
                          root=tmp_path, start="02")
    assert list(times) == ["02_never"]
