"""`facelib doctor`: what this machine is, what the study will find on it, and how long it will take.

torch and CUDA, the GPU (memory, compute capability) and the precision `fit` will use there; whether
the ImageNet weights of the preset's backbone are in the torch cache; the datasets under the data
folder and their photos; free disk; and the whole study's time on this machine, per notebook,
estimated from a timed probe of the preset's real models (a few training steps at its batch sizes
and image size) and the number of images each notebook puts through them.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..config import DATASETS, TEST_SPLIT, Config
from ..data.augment import BatchAugment
from ..data.cache import FaceCache
from ..data.datasets import permutations
from ..data.readers import IMAGE_SUFFIXES, aaf_root
from ..data.splits import IDENTITY_SPLITS, SPLIT_FRACTIONS
from ..models.backbones import TORCHVISION
from ..models.build import build_order_model, build_regressor
from ..runtime import amp_dtype, resolve_device
from ..study.run import Loaders, RunSpec, RunState
from ..study.tasks import OrderTask, RegressionTask
from ..study.train import train_step

PROBE_STEPS = 3


def device_report(device=None) -> dict:
    device = resolve_device(device or "auto")
    out = {"torch": torch.__version__, "cuda": torch.version.cuda or "none", "device": device.type}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        major, minor = torch.cuda.get_device_capability(device)
        out.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1), capability=f"{major}.{minor}")
    dtype = amp_dtype(device)
    out["precision"] = {None: "float32 (no mixed precision on the CPU)", torch.float16: "float16 autocast with a "
                        "GradScaler (no bf16 in hardware below compute capability 8.0)",
                        torch.bfloat16: "bfloat16 autocast"}[dtype]
    return out


def imagenet_report(cfg: Config) -> str:
    if not cfg.imagenet_init:
        return f"not used (imagenet_init=False, backbone {cfg.backbone})"
    _, weights = TORCHVISION[cfg.backbone]
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if path.is_file():
        return f"in the torch cache: {path}"
    return (f"not in the torch cache: they are downloaded on first use where there is a network, else copy "
            f"{Path(weights.url).name} to {path.parent}")


def count_photos(data_root) -> dict:
    """{dataset: photos} of each dataset folder under data_root."""
    out = {}
    for name in DATASETS:
        d = Path(data_root) / name
        if name == "aaf" and d.is_dir():
            d = aaf_root(d) / "original images"  # its aligned copies are not more faces
        if d.is_dir():
            out[name] = sum(1 for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return out


@dataclass
class Sizes:
    """Faces per split, from the prepared cache where it exists, else from the photo counts."""
    utk_train: int
    utk_val: int
    test: int
    ids: dict        # identities split → faces

    @classmethod
    def of(cls, cfg: Config, paths, photos: dict) -> "Sizes":
        try:
            utk = FaceCache(paths.cache_dir, "utkface").manifest["split"].value_counts()
            idm = FaceCache(paths.cache_dir, cfg.identities).manifest["split"].value_counts()
            test_ds, test_split = TEST_SPLIT[cfg.test_set]
            test = int(FaceCache(paths.cache_dir, test_ds).manifest["split"].eq(test_split).sum())
            return cls(int(utk.get("train", 0)), int(utk.get("val", 0)), test, {s: int(idm.get(s, 0)) for s in IDENTITY_SPLITS})
        except FileNotFoundError:
            pass
        if paths.synthetic and not photos:
            s = cfg.synth
            photos = {"utkface": s.utk_faces, "megaage_asian": s.megaage_train + s.megaage_test,
                      "aihub": s.aihub_people * s.aihub_photos_per_person}
        n_utk, n_ids = photos.get("utkface", 0), photos.get(cfg.identities, 0)
        asian = cfg.test_set == "utkface_asian"
        test = (int(0.08 * n_utk) if asian else photos.get("aaf", 0) // 2 if cfg.test_set == "aaf"
                else photos.get("megaage_asian", 0) // 2)
        kept = n_utk - (test if asian else 0)
        f = SPLIT_FRACTIONS["utkface"]
        return cls(int(kept * f["train"]), int(kept * f["val"]), test, {s: int(n_ids * v) for s, v in IDENTITY_SPLITS.items()})


def probe_rates(cfg: Config, device=None, steps: int = PROBE_STEPS) -> dict:
    """Training images/s of the preset's regressor and order model at its batch sizes, and their peak
    GPU memory, from a few timed steps (the first is a warm-up)."""
    device = resolve_device(device or cfg.device)
    size = cfg.image_size
    probes = {"regressor": (lambda: build_regressor(_no_download(cfg), encoder=cfg.encoder),
                            RegressionTask("l1", BatchAugment()), cfg.baseline),
              "order model": (lambda: build_order_model(_no_download(cfg), cfg.encoder),
                              OrderTask(permutations(cfg.tuple_len), cfg.order_loss), cfg.vcop)}
    out = {}
    for name, (make, task, tc) in probes.items():
        model = make().to(device)
        opt = torch.optim.AdamW(model.parameters(), 1e-4)
        scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and amp_dtype(device) == torch.float16)
        n = tc.batch_size
        if name == "regressor":
            batch = (torch.randint(0, 255, (n, 3, size, size), dtype=torch.uint8), torch.rand(n) * 80)
            per_item = 1
        else:
            perm = torch.randint(0, len(task.perms), (n,))
            batch = (torch.randint(0, 255, (n, cfg.tuple_len, 3, size, size), dtype=torch.uint8), perm,
                     torch.rand(n, cfg.tuple_len) * 80)
            per_item = cfg.tuple_len
        batch = tuple(b.to(device) for b in batch)
        spec = RunSpec(name, model, task, Loaders(None, None), [], tc, cfg, {}, Path(tempfile.gettempdir()))
        state = RunState()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        model.train()
        t0 = None
        for k in range(steps + 1):
            if k == 1:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            train_step(spec, scaler, batch, state, device)
            scaler.step(opt)
            scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rate = steps * n * per_item / (time.perf_counter() - t0)
        out[name] = {"images_per_s": rate, "batch": n, "micro_batch": state.micro_batch or n,
                     "peak_gb": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None}
        del model, opt
    return out


def _no_download(cfg: Config) -> Config:
    return replace(cfg, imagenet_init=False)  # the probe times the architecture; its weights do not matter


def estimate(cfg: Config, sizes: Sizes, rates: dict, seeds: int = 1, label_fractions=(),
             fixed_epoch_arm: bool = True) -> dict:
    """Seconds per notebook for the whole study (all seeds): images through each model / its probed rate,
    validation and test passes counted at three times the training rate; with `fixed_epoch_arm`, both
    pretexts again and two more fine-tuning arms."""
    reg, order = rates["regressor"]["images_per_s"], rates["order model"]["images_per_s"]
    infer = 3 * reg
    ids, share = sizes.ids, cfg.finetune_utkface_share()
    grid = len(cfg.backbone_lr_grid)
    people = max(1, round(ids["pretext_train"] / _photos_per_person(cfg)))
    tuples = people * cfg.tuples_per_identity * cfg.tuple_len
    fine = ids["finetune_train"] / (1 - share)
    fine_val = ids["finetune_val"] / (1 - share)
    fracs = 1 + sum(label_fractions)
    vcop = cfg.vcop.epochs * tuples / order + cfg.vcop.epochs * tuples * ids["pretext_val"] / max(1, ids["pretext_train"]) / (3 * order)
    sup = cfg.vcop.epochs * tuples / reg + cfg.vcop.epochs * ids["pretext_val"] / infer
    arm = grid * cfg.vcop_downstream.epochs * (fine / reg + fine_val / infer) + sizes.test / infer
    base = cfg.baseline.epochs * (sizes.utk_train / reg + sizes.utk_val / infer)
    kor = cfg.korean_finetuned.epochs * (fine / reg + fine_val / infer)
    multi = grid * cfg.multitrain.epochs * (fine / reg + fine / order + fine_val / infer) + sizes.test / infer
    fixed = 1 if fixed_epoch_arm else 0
    per_seed = {"01_ssl-preTextTask": (1 + fixed) * vcop, "02_ssl-regression": (1 + fixed) * sup + (3 * fracs + 2 * fixed) * arm,
                "03_finetune_base_to_kor": base + kor, "04_basemodel-eval": 2 * sizes.test / infer,
                "05_multitrain": multi}
    return {k: v * seeds for k, v in per_seed.items()}


def _photos_per_person(cfg: Config) -> float:
    return 12.2 if cfg.identities == "fgnet" else 50.0  # FG-NET: 1,002 scans of 82 people; AIHub: about 50


def report(cfg: Config, paths, seeds=(0,), probe: bool = True, label_fractions=(), fixed_epoch_arm: bool = True) -> str:
    """The doctor's report as text (what `facelib doctor` prints and notebook 00 shows)."""
    dev = device_report(cfg.device)
    lines = [f"torch {dev['torch']} (CUDA {dev['cuda']}); device: {dev['device']}"]
    if "gpu" in dev:
        lines.append(f"GPU: {dev['gpu']}, {dev['gpu_memory_gb']} GB, compute capability {dev['capability']}")
    lines.append(f"precision of training and inference here: {dev['precision']}")
    lines.append(f"ImageNet weights ({cfg.backbone}): {imagenet_report(cfg)}")
    photos = count_photos(paths.data_root) if Path(paths.data_root).is_dir() else {}
    if photos:
        lines.append(f"data folder {paths.data_root}: " + ", ".join(f"{k} {v:,} photos" for k, v in photos.items()))
    elif paths.synthetic:
        lines.append(f"data folder {paths.data_root}: synthetic data, generated by notebook 00 ({cfg.preset} sizes)")
    else:
        lines.append(f"data folder {paths.data_root}: not found")
    free = shutil.disk_usage(_existing(paths.home)).free / 2**30
    lines.append(f"free disk under {paths.home}: {free:,.1f} GB")
    if probe:
        rates = probe_rates(cfg)
        for name, r in rates.items():
            mem = f", peak GPU memory {r['peak_gb']:.1f} GB" if r["peak_gb"] is not None else ""
            micro = f" (accumulated over chunks of {r['micro_batch']})" if r["micro_batch"] < r["batch"] else ""
            lines.append(f"probe, {name} at {cfg.image_size} px, batch {r['batch']}{micro}: "
                         f"{r['images_per_s']:,.0f} training images/s{mem}")
        est = estimate(cfg, Sizes.of(cfg, paths, photos), rates, len(list(seeds)), label_fractions, fixed_epoch_arm)
        total = sum(est.values())
        lines.append(f"estimated time of the study, preset {cfg.preset}, {len(list(seeds))} seed(s), on this machine "
                     f"(training and evaluation; add notebook 00's prepare): {_hms(total)}")
        lines += [f"  {k}: {_hms(v)}" for k, v in est.items()]
    return "\n".join(lines)


def _existing(p: Path) -> Path:
    p = Path(p)
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"
