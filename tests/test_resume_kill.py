"""A training run killed with SIGKILL resumes from its last checkpoint, and the resumed result
equals an uninterrupted run with the same seed."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from facelib.config import get_config
from facelib.paths import Paths
from facelib.study import conditions
root, data, cache = map(__import__("pathlib").Path, sys.argv[1:4])
paths = Paths(root=root, data_root=data, cache_dir=cache, weights_dir=root / "weights", out_dir=root / "outputs",
              synthetic=True)
name, workers = sys.argv[4], int(sys.argv[5])
over = {f"{name}.epochs": 6, f"{name}.patience": 10, f"{name}.batch_size": 8, "num_workers": workers}
cfg = get_config("smoke", tuples_per_identity=4, min_age_gap=2, **over)
run = getattr(conditions, name)(cfg, paths, progress=False)
print("resumed_from", run.fit.resumed_from)
"""


def _start(root, tiny_data, cache, name, workers):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(root), str(tiny_data), str(cache), name, str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


@pytest.mark.slow
@pytest.mark.parametrize("name,workers", [("baseline", 0), ("vcop", 2)])
def test_sigkill_then_resume_equals_uninterrupted(tiny_data, tiny_cache, tmp_path, name, workers):
    """vcop with 2 DataLoader workers: its tuples are drawn there, so the per-epoch seeds must reach them."""
    cache = tiny_cache[0]
    # uninterrupted
    full = _start(tmp_path / "full", tiny_data, cache, name, workers)
    assert full.wait(timeout=600) == 0, full.stdout.read()
    # interrupted: kill as soon as two epochs are checkpointed, mid-way through the third
    part = _start(tmp_path / "part", tiny_data, cache, name, workers)
    last = tmp_path / "part" / "weights" / "runs" / name / "last.pt"
    deadline = time.time() + 600
    while time.time() < deadline:
        if last.exists() and torch.load(last, weights_only=False)["epoch"] >= 1:
            break
        time.sleep(0.05)
    part.send_signal(signal.SIGKILL)
    part.wait()
    epoch_at_kill = torch.load(last, weights_only=False)["epoch"]
    assert epoch_at_kill < 5, "the run finished before it could be killed"
    resumed = _start(tmp_path / "part", tiny_data, cache, name, workers)
    out = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, out
    assert f"resumed_from {epoch_at_kill + 1}" in out
    a = json.loads((tmp_path / "full" / "outputs" / "results" / f"{name}.json").read_text())
    b = json.loads((tmp_path / "part" / "outputs" / "results" / f"{name}.json").read_text())
    metrics = ("mae", "rmse", "r2", "ca3", "ca5") if name == "baseline" else ("top1", "kendall_tau", "pairwise_acc")
    block = "val" if name == "baseline" else "pretext"
    print(f"\n{name}, {workers} workers, killed after epoch {epoch_at_kill + 1} of 6; uninterrupted vs resumed:")
    for k in metrics:
        print(f"  {k}: {a[block][k]:.6f}  {b[block][k]:.6f}")
        assert b[block][k] == pytest.approx(a[block][k], abs=1e-6), k
    ha = (tmp_path / "full" / "outputs" / "runs" / name / "history.csv").read_text()
    hb = (tmp_path / "part" / "outputs" / "runs" / name / "history.csv").read_text()
    def without_seconds(text):  # every column but the wall-clock one
        rows = [line.split(",") for line in text.splitlines()]
        i = rows[0].index("seconds")
        return [r[:i] + r[i + 1:] for r in rows]
    assert len(ha.splitlines()) > 2 and without_seconds(ha) == without_seconds(hb)
