"""`facelib doctor`: the machine, the precision, the ImageNet weights, the data, and a time estimate."""
import subprocess
import sys
from pathlib import Path

import pytest

from facelib.config import get_config
from facelib.tools.doctor import Sizes, estimate, imagenet_report

ROOT = Path(__file__).resolve().parents[1]


def test_doctor_runs_on_this_machine_and_reports_what_it_should(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "facelib", "doctor", "--preset", "smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "torch " in out and "device: " in out and "precision of training" in out
    assert "ImageNet weights (resnet_mini): not used" in out
    assert "training images/s" in out and "estimated time of the study" in out
    for nb in ("01_ssl-preTextTask", "02_ssl-regression", "03_finetune_base_to_kor", "05_multitrain"):
        assert nb in out


def test_the_imagenet_weights_are_looked_for_where_torchvision_keeps_them(tmp_path, monkeypatch):
    import torch
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    cfg = get_config("full")
    assert "not in the torch cache" in imagenet_report(cfg) and "resnet50-" in imagenet_report(cfg)
    (tmp_path / "checkpoints").mkdir()
    name = imagenet_report(cfg).split("copy ")[1].split(" to ")[0]
    (tmp_path / "checkpoints" / name).write_bytes(b"x")
    assert imagenet_report(cfg).startswith("in the torch cache")


def test_the_estimate_grows_with_the_work():
    cfg = get_config("demo")
    sizes = Sizes(utk_train=3000, utk_val=400, test=600, ids={"pretext_train": 1750, "pretext_val": 500,
                                                             "finetune_train": 1750, "finetune_val": 500,
                                                             "heldout": 500})
    rates = {"regressor": {"images_per_s": 500.0}, "order model": {"images_per_s": 500.0}}
    one, three = estimate(cfg, sizes, rates, 1), estimate(cfg, sizes, rates, 3)
    assert set(one) == {"01_ssl-preTextTask", "02_ssl-regression", "03_finetune_base_to_kor", "04_basemodel-eval",
                        "05_multitrain"}
    assert all(three[k] == pytest.approx(3 * one[k]) for k in one)
    # the baseline's share: 12 epochs of 3,000 faces at 500/s, plus its validation passes
    assert one["03_finetune_base_to_kor"] > 12 * 3000 / 500
    faster = {k: {"images_per_s": 1000.0} for k in rates}
    assert sum(estimate(cfg, sizes, faster, 1).values()) == pytest.approx(sum(one.values()) / 2)
    assert estimate(cfg, sizes, rates, 1, label_fractions=[0.5])["02_ssl-regression"] > one["02_ssl-regression"]
