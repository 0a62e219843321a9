"""`facelib bench`: speed and memory figures, each measured in the same run as what it is
compared with. Prints a table and writes `outputs/bench.json`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..config import Config, TrainConfig, get_config
from ..data.align import crop_face
from ..data.augment import BatchAugment
from ..data.cache import FaceCache
from ..data.datasets import (
    FaceDataset,
    OrderTupleDataset,
    permutations,
    seed_worker,
    to_tensor,
)
from ..data.prepare import default_workers, prepare
from ..data.readers import READERS
from ..data.records import safe_name
from ..data.synth import AIHUB_IMAGE_DIR, AIHUB_LABEL_DIR, compose_photo
from ..models.build import build_order_model, build_regressor
from ..runtime import channels_last as to_channels_last
from ..runtime import resolve_device
from ..study import losses as L
from ..study.run import Loaders, RunSpec, RunState
from ..study.tasks import OrderTask, RegressionTask
from ..study.train import fit, train_step

# ---------------------------------------------------------------- data path

class DecodeFaceDataset(Dataset):
    """The slow path the cache replaces: decode and crop the original file on every access."""

    def __init__(self, cache: FaceCache, data_root, split: str, size: int, margin: float = 0.25):
        rows = cache.split(split)
        records, _ = READERS[cache.name](Path(data_root) / cache.name)
        by_source = {safe_name(r.path.relative_to(Path(data_root) / cache.name)): r for r in records}
        self.records = [by_source[s] for s in rows["source"]]
        self.ages = rows["age"].to_numpy(np.float32)
        self.size, self.margin = size, margin

    def __len__(self):
        return len(self.records)

    def load(self, i):
        rec = self.records[i]
        with Image.open(rec.path) as im:
            return to_tensor(crop_face(im.convert("RGB"), rec, self.size, self.margin))

    def __getitem__(self, i):
        return self.load(i), torch.tensor(self.ages[i])


class DecodeTupleDataset(Dataset):
    """Order tuples whose photos are decoded from the original files each time."""

    def __init__(self, tuples: OrderTupleDataset, decode: DecodeFaceDataset, cache: FaceCache):
        self.tuples, self.decode = tuples, decode
        pos = {int(ix): k for k, ix in enumerate(cache.manifest.loc[cache.manifest["split"] == "pretext_train", "index"])}
        self.pos = pos

    def __len__(self):
        return len(self.tuples)

    def __getitem__(self, i):
        rows, ages, label = self.tuples.sample(i)
        perm = self.tuples.perms[label]
        photos = torch.stack([self.decode.load(self.pos[int(rows[r])]) for r in perm])
        return photos, torch.tensor(label), torch.tensor(ages[perm.numpy()], dtype=torch.float32)


def _rate(loader, augment, max_items: int, device) -> float:
    """Items per second through a loader, the copy to `device` and the batch augmentation there."""
    n, t0 = 0, time.perf_counter()
    for k, batch in enumerate(loader):
        if k == 1:
            t0, n = time.perf_counter(), 0  # the first batch pays for worker start-up (where there are more)
        augment(batch[0].to(device, non_blocking=True))
        n += len(batch[0])
        if n >= max_items:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def bench_data_path(cache_dir, data_root, size: int, device, workers=(0, 2), items: int = 1500,
                    batch: int = 64) -> list[dict]:
    rows = []
    aug = BatchAugment()
    pin = device.type == "cuda"
    utk = FaceCache(cache_dir, "utkface")
    aihub = FaceCache(cache_dir, "aihub")
    cached = FaceDataset(utk, "train")
    decoded = DecodeFaceDataset(utk, data_root, "train", size)
    tuples = OrderTupleDataset(aihub, "pretext_train", 4, 3, 20)
    dec_tuples = DecodeTupleDataset(tuples, DecodeFaceDataset(aihub, data_root, "pretext_train", size), aihub)
    for w in workers:
        mk = lambda ds, bs: DataLoader(ds, batch_size=bs, shuffle=True, num_workers=w,  # noqa: E731
                                       worker_init_fn=seed_worker, pin_memory=pin)
        fast = _rate(mk(cached, batch), aug, items, device)
        slow = _rate(mk(decoded, batch), aug, max(200, items // 5), device)
        rows.append({"what": "single faces/s", "workers": w, "memmap cache": fast, "decode files": slow,
                     "speed-up": fast / slow})
        fast_t = _rate(mk(tuples, batch // 4), aug, items // 4, device) * 4
        slow_t = _rate(mk(dec_tuples, batch // 4), aug, max(50, items // 20), device) * 4
        rows.append({"what": "tuple photos/s (T=4)", "workers": w, "memmap cache": fast_t, "decode files": slow_t,
                     "speed-up": fast_t / slow_t})
    return rows


# ---------------------------------------------------------------- training steps

def _families(size):
    cfg = get_config("demo", image_size=size)
    return {
        "regressor resnet_mini": (lambda: build_regressor(cfg), "single"),
        "regressor resnet18": (lambda: build_regressor(get_config("demo", backbone="resnet18", image_size=size)),
                               "single"),
        "regressor resnet50": (lambda: build_regressor(get_config("demo", backbone="resnet50", image_size=size)),
                               "single"),
        "order shared2d resnet_mini, score head": (lambda: build_order_model(cfg), "tuple"),
        "order shared2d resnet_mini, T! head": (lambda: build_order_model(get_config("demo", image_size=size,
                                                                                   order_head="vcop")), "tuple"),
        "order r21d_original": (lambda: build_order_model(cfg, "r21d_original"), "tuple"),
    }


def step_rate(make_model, kind, size, device, batch=32, steps=3, amp=False, channels_last=False,
              tuple_len: int = 4) -> float:
    """Images per second of `fit`'s training step (forward, loss, backward, AdamW step) on random
    uint8 batches: a regression task, or an order task whatever the order head (an order tuple
    counts T images)."""
    model = make_model().to(device)
    if channels_last:
        to_channels_last(model)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    if kind == "single":
        task, n = RegressionTask("l1", BatchAugment()), batch
        data = (torch.randint(0, 255, (n, 3, size, size), dtype=torch.uint8), torch.rand(n) * 80)
    else:
        perms = permutations(tuple_len)
        task, n = OrderTask(perms, augment=BatchAugment()), max(1, batch // tuple_len)
        data = (torch.randint(0, 255, (n, tuple_len, 3, size, size), dtype=torch.uint8),
                torch.randint(0, len(perms), (n,)), torch.rand(n, tuple_len) * 80)
    data = tuple(d.to(device) for d in data)
    model.train()
    spec = RunSpec("bench", model, task, Loaders(None, None), [], TrainConfig(), Config(amp=amp), {},
                   Path(tempfile.gettempdir()))
    state = RunState()

    def step():
        opt.zero_grad(set_to_none=True)
        train_step(spec, scaler, data, state, device)
        opt.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * n * (1 if kind == "single" else tuple_len) / (time.perf_counter() - t0)


def bench_steps(device, quick: bool = False, sizes=None, batches=None) -> list[dict]:
    rows = []
    sizes = sizes or {"smoke": 32, "demo": 48, "full": 224}
    cuda = device.type == "cuda"
    for preset, size in sizes.items():
        for name, (make, kind) in _families(size).items():
            big = size >= 224 or "resnet50" in name or "r21d" in name
            if not cuda and big and (quick or size >= 224 and "resnet50" not in name and "resnet18" not in name):
                continue
            batch = (batches or {}).get(name) or ((128 if big else 256) if cuda else (8 if big else 32))
            steps = 10 if cuda else (2 if big else 4)
            rate = step_rate(make, kind, size, device, batch, steps)
            row = {"model": name, "preset": preset, "size": size, "batch": batch, "images/s": rate}
            if cuda:
                row["images/s AMP+channels_last"] = step_rate(make, kind, size, device, batch, steps, True, True)
            rows.append(row)
    return rows


# ---------------------------------------------------------------- order loss

def bench_order_loss(batch: int = 64, reps: int = 200) -> list[dict]:
    """Milliseconds per call of the soft-permutation loss (one gather from the T! × T! table) at T = 3..5."""
    rows = []
    for t in (3, 4, 5):
        perms = permutations(t)
        logits, labels = torch.randn(batch, len(perms)), torch.randint(0, len(perms), (batch,))
        loss_fn = L.SoftPermutationLoss(perms, temperature=1.0)
        for _ in range(10):  # warm-up: the first calls pay one-off costs
            loss_fn(logits, labels)
        t0 = time.perf_counter()
        for _ in range(reps):
            loss_fn(logits, labels)
        rows.append({"T": t, "batch": batch, "ms per call": (time.perf_counter() - t0) / reps * 1e3})
    return rows


# ---------------------------------------------------------------- memory

def _memory_child(n: int, size: int) -> None:
    """Run one training epoch over a cache of n random faces; print peak memory as JSON."""
    peak = {"anon": 0}

    def anon_kb():
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
        return 0

    def sample():
        while not done.is_set():
            peak["anon"] = max(peak["anon"], anon_kb())
            time.sleep(0.01)

    with tempfile.TemporaryDirectory() as tmp:
        arr = np.lib.format.open_memmap(Path(tmp) / "utkface.npy", mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
        rng = np.random.default_rng(0)
        for i in range(0, n, 500):
            arr[i:i + 500] = rng.integers(0, 255, arr[i:i + 500].shape, dtype=np.uint8)
        arr.flush()
        del arr
        pd.DataFrame({"index": range(n), "age": rng.uniform(0, 80, n).round(), "split": "train", "identity": "x",
                      "source": "", "gender": 0, "device": "", "year": 0, "source_split": ""}).to_csv(
            Path(tmp) / "utkface.csv", index=False)
        cache = FaceCache(tmp, "utkface")
        ds = FaceDataset(cache, "train")
        loader = DataLoader(ds, batch_size=64, shuffle=True)
        val = DataLoader(torch.utils.data.Subset(ds, range(64)), batch_size=64)
        model = build_regressor(get_config("demo", image_size=size))
        before = anon_kb()
        done = threading.Event()
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        fit(RunSpec("memory", model, RegressionTask("l1", BatchAugment()), Loaders(loader, val),
                    [{"params": model.parameters(), "lr": 1e-3}], TrainConfig(epochs=1, warmup_epochs=0),
                    Config(device="cpu"), {}, Path(tmp) / "run"), progress=False)
        done.set()
        th.join()
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"n": n, "cache_mb": n * size * size * 3 / 2**20, "anon_before_mb": before / 1024,
                      "peak_anon_mb": peak["anon"] / 1024, "peak_rss_mb": hwm / 1024}))


def bench_memory(n: int = 1000, size: int = 64) -> list[dict]:
    rows = []
    for k in (n, 4 * n):
        out = subprocess.run([sys.executable, "-m", "facelib.tools.bench", "memory", str(k), str(size)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


# ---------------------------------------------------------------- prepare

AIHUB_PHOTOS, UTKFACE_PHOTOS = 45_200, 23_708  # the real sets' sizes (AIHub 71415, UTKFace aligned)
AIHUB_PHOTO_SIZE = (918, 1629)                  # width, height of an AIHub photo (its label's width, height)


def _aihub_sized_photos(root: Path, n: int) -> None:
    """n AIHub-layout records whose PNGs have the real set's size and a face where the label says."""
    w, h = AIHUB_PHOTO_SIZE
    img_dir, lbl_dir = root / "Training" / AIHUB_IMAGE_DIR / "TS_0001", root / "Training" / AIHUB_LABEL_DIR / "TL_0001"
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        stem = f"{k + 1:04d}_1980_{20 + k % 40:02d}_{k:08d}_F"
        info = compose_photo(img_dir / f"{stem}.png", seed=k, age=20 + k % 40, canvas=(w, h), face_size=420,
                             centre=(w / 2, h * 0.45))
        x0, y0, x1, y1 = info["box"]
        (lbl_dir / f"{stem}.json").write_text(json.dumps({
            "filename": stem, "id": k + 1, "birth": 1980, "age_past": 20 + k % 40, "width": w, "height": h,
            "device": "digital", "gender": "female",
            "annotation": [{"box": {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}}]}))


def bench_prepare(data_root, n: int = 48, size: int = 224, workers=(1, None)) -> list[dict]:
    """faces/s of `prepare` at 1 and N workers: AIHub-sized PNGs (n of them) and the demo UTKFace
    chips, each at `size` px; and the projected time for the real AIHub + UTKFace sets."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        _aihub_sized_photos(Path(tmp) / "data" / "aihub", n)
        sources = {"aihub": (Path(tmp) / "data", AIHUB_PHOTOS), "utkface": (Path(data_root), UTKFACE_PHOTOS)}
        for name, (root, real) in sources.items():
            for w in workers:
                w = w or default_workers()
                t0 = time.perf_counter()
                rep = prepare(root, Path(tmp) / f"cache-{name}-{w}", size, datasets=(name,), progress=False,
                              workers=w, force=True)["datasets"][name]
                rate = rep["found"] / (time.perf_counter() - t0)
                rows.append({"dataset": name, "photos": rep["found"], "workers": w, "size": size,
                             "faces/s": rate, f"projected minutes for {real:,}": real / rate / 60})
    return rows


# ---------------------------------------------------------------- all of it

@dataclass
class BenchSizes:
    """How much work each figure of `facelib bench` does (None: the defaults; the tests shrink each)."""
    step_sizes: dict | None = None      # preset → image size of the training-step figures
    step_batches: dict | None = None    # model → batch size
    items: int | None = None            # faces through the data path
    prepare_photos: int | None = None   # photos prepared (at 32 px when given, else 224)
    memory_faces: int | None = None     # faces of the memory run


def run_bench(cache_dir, data_root, out_dir, size: int = 48, device="auto", quick: bool = False,
              workers=None, memory: bool = True, sizes: BenchSizes | None = None) -> dict:
    """Every figure of `facelib bench`, written to out_dir/bench.json."""
    sz = sizes or BenchSizes()
    step_sizes, step_batches, items = sz.step_sizes, sz.step_batches, sz.items
    prepare_photos, memory_faces = sz.prepare_photos, sz.memory_faces
    device = resolve_device(device) if isinstance(device, str) else device
    torch.manual_seed(0)
    result = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
              "torch": torch.__version__, "threads": torch.get_num_threads(), "image_size": size}
    t0 = time.time()
    print("data path …", flush=True)
    cuda = device.type == "cuda"
    workers = workers or ((0, 4, 8) if cuda else (0, 2))
    result["data_path"] = bench_data_path(cache_dir, data_root, size, device, workers,
                                          items=items or (600 if quick else (6000 if cuda else 1500)),
                                          batch=128 if cuda else 64)
    print("training steps …", flush=True)
    result["train_steps"] = bench_steps(device, quick, step_sizes, step_batches)
    print("order loss …", flush=True)
    result["order_loss"] = bench_order_loss()
    print("prepare …", flush=True)
    result["prepare"] = bench_prepare(data_root, n=prepare_photos or (16 if quick else 48),
                                      size=224 if prepare_photos is None else 32)
    if memory:
        print("memory …", flush=True)
        result["memory"] = bench_memory(memory_faces or (600 if quick else 2500))
    times = Path(out_dir) / "run_times.json"
    if times.exists():
        result["pipeline_seconds"] = json.loads(times.read_text())
    result["bench_seconds"] = time.time() - t0
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "bench.json").write_text(json.dumps(result, indent=2))
    return result


def format_bench(result: dict) -> str:
    fmt = lambda rows: pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:,.1f}")  # noqa: E731
    parts = [f"device: {result['device']}, torch {result['torch']}, {result['threads']} threads",
             "\nData path (items/s incl. batch augmentation)", fmt(result["data_path"]),
             "\nTraining step throughput", fmt(result["train_steps"]),
             "\nSoft-permutation order loss", fmt(result["order_loss"]),
             "\nprepare (faces/s at 224 px, and the projected time for the real sets)", fmt(result["prepare"])]
    if "memory" in result:
        parts += ["\nPeak memory of one training epoch (cache memory-mapped)", fmt(result["memory"])]
    step = {r["model"]: r["images/s"] for r in result["train_steps"] if r["preset"] == "demo"}
    single = max(r["memmap cache"] for r in result["data_path"] if r["what"] == "single faces/s")
    if "regressor resnet_mini" in step and result.get("image_size", 48) == 48:
        parts.append(f"\ndata path / demo model step rate: {single / step['regressor resnet_mini']:.1f}x")
    if "pipeline_seconds" in result:
        parts += ["\nLast `facelib run` (seconds per notebook)", json.dumps(result["pipeline_seconds"], indent=1)]
    parts.append(f"\nbench ran in {result['bench_seconds']:.0f}s")
    return "\n".join(parts)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "memory":
    _memory_child(int(sys.argv[2]), int(sys.argv[3]))
