"""`facelib bench`: every step runs, with every order head, on tiny sizes, and writes bench.json."""
import json

import pytest
import torch

from facelib.tools.bench import BenchSizes, bench_steps, format_bench, run_bench


def test_training_steps_run_for_every_model_family_and_order_head():
    rows = bench_steps(torch.device("cpu"), sizes={"tiny": 16}, batches={
        n: 4 for n in ("regressor resnet_mini", "regressor resnet18", "regressor resnet50",
                       "order shared2d resnet_mini, score head", "order shared2d resnet_mini, T! head",
                       "order r21d_original")})
    names = {r["model"] for r in rows}
    assert {"order shared2d resnet_mini, score head", "order shared2d resnet_mini, T! head",
            "order r21d_original"} <= names
    assert all(r["images/s"] > 0 for r in rows)


@pytest.mark.slow
def test_every_bench_step_on_tiny_sizes_writes_bench_json(tiny_data, tiny_cache, tmp_path):
    out = run_bench(tiny_cache[0], tiny_data, tmp_path, size=32, device="cpu", workers=(0,),
                    sizes=BenchSizes(step_sizes={"tiny": 16}, step_batches={"regressor resnet50": 2,
                                                                             "order r21d_original": 4},
                                     items=64, prepare_photos=4, memory_faces=128))
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved == json.loads(json.dumps(out))
    assert {r["what"] for r in out["data_path"]} == {"single faces/s", "tuple photos/s (T=4)"}
    assert [r["T"] for r in out["order_loss"]] == [3, 4, 5] and all(r["ms per call"] > 0 for r in out["order_loss"])
    assert {r["dataset"] for r in out["prepare"]} == {"aihub", "utkface"} and all(r["faces/s"] > 0 for r in out["prepare"])
    assert len(out["memory"]) == 2 and all(m["peak_rss_mb"] > 0 for m in out["memory"])
    assert "Training step throughput" in format_bench(out)
