"""Configuration: one dataclass, three presets (`smoke`, `demo`, `full`).

A notebook's `parameters` cell holds plain literals; the next cell calls
`get_config(preset, **overrides)`. Nothing here is read at import time by
other modules: functions receive the config (or the part they need).
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import asdict, dataclass, field, replace

VERSION = "0.1.0"
PRESETS = ("smoke", "demo", "mobilenet", "full")
# The datasets a data folder may hold, each in a folder of this name (`data.readers.READERS`).
DATASETS = ("utkface", "megaage_asian", "aaf", "aihub", "fgnet")
CONDITIONS = ("baseline", "korean_finetuned", "vcop_downstream", "multitrain")
ENCODERS = ("shared2d", "r21d_original")
ORDER_HEADS = ("vcop", "score", "both")
# Which dataset plays each role: the identities (photos of one person over the years: the order task
# and conditions 2-4) and the test split. "auto": AIHub / MegaAge-Asian where present, else FG-NET /
# the Asian faces of UTKFace (see `facelib.setup`).
IDENTITIES = ("aihub", "fgnet")
# In order of preference: MegaAge-Asian's test split, else AAF's val faces, else the Asian faces of UTKFace
# held out of its training.
TEST_SETS = ("megaage_asian", "aaf", "utkface_asian")
TEST_SPLIT = {"megaage_asian": ("megaage_asian", "test"), "aaf": ("aaf", "val"),
              "utkface_asian": ("utkface", "asian_test")}
TEST_NAMES = {"megaage_asian": "the MegaAge-Asian test split",
              "aaf": "AAF's val faces (All-Age-Faces, mostly East Asian)",
              "utkface_asian": "the Asian faces of UTKFace held out of training"}
IDENTITY_NAMES = {"aihub": "AIHub", "fgnet": "FG-NET"}
ORDER_LOSSES = ("ce", "soft")
# The two controls of condition 3, fine-tuned exactly as it is: from the weights its pretext model
# started from (no pretraining), and from an encoder pretrained by plain age regression on the same
# pretext people and photos (supervised pretraining instead of ordering).
CONTROL = "aihub_scratch"
SUPERVISED_CONTROL = "supervised_downstream"
CONTROLS = (CONTROL, SUPERVISED_CONTROL)
# Condition 3 and its controls share one training block (`Config.vcop_downstream`).
FINETUNE_ARMS = ("vcop_downstream", *CONTROLS)
# The pretraining of the supervised control: per-photo age regression, `vcop`'s people, photos and budget.
SUPERVISED_PRETEXT = "supervised_pretext"
# The three comparisons among condition 3 and its controls are the study's primary ones: ordering against
# no pretraining, ordering against supervised pretraining, and supervised pretraining against none.
PRIMARY_PAIRS = (("vcop_downstream", CONTROL), ("vcop_downstream", SUPERVISED_CONTROL), (SUPERVISED_CONTROL, CONTROL))
# The fixed-epoch sensitivity arm (not primary): both pretexts trained for `vcop.epochs` epochs with
# no early stopping and their *last* epoch kept, so the two pretrained encoders rest on the same
# images; condition 3 and the supervised control fine-tuned from them as in the primary arms.
FIXED = "_fixed"
FIXED_PRETEXTS = ("vcop" + FIXED, SUPERVISED_PRETEXT + FIXED)
FIXED_ARMS = ("vcop_downstream" + FIXED, SUPERVISED_CONTROL + FIXED)
KEEP = ("best", "last")
# Runs trained by a `TrainConfig` block of their own.
RUNS = ("baseline", "korean_finetuned", "vcop", "vcop_downstream", "multitrain")
# Settings that say where or how fast a run goes, not what it learns: a run started with one value
# continues with another (a half-done CPU run resumes on a GPU).
RUNTIME_FIELDS = ("device", "num_workers", "amp")
# Settings that choose between runs or say which data a run reads: the data hashes and each run's own
# training block already cover their effect on a run, so they stay out of its key.
SELECTION_FIELDS = ("backbone_lr_grid", "resplit_identities")
AGE_LOSSES = ("l1", "mse", "weighted_l1")
# A T!-way classification head over more than 5! = 120 classes is not what VCOP
# does and would need far more data than any of these datasets hold.
MAX_TUPLE_LEN = 5


@dataclass
class SynthConfig:
    """How many synthetic faces `facelib synth` writes, per dataset."""
    utk_faces: int = 4000
    megaage_train: int = 400
    megaage_test: int = 600
    aaf_faces: int = 200
    aihub_people: int = 100
    aihub_photos_per_person: int = 50
    quirks: bool = True  # write a few malformed records of each documented kind


@dataclass
class TrainConfig:
    """One training run (one condition or the pretext task)."""
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3               # learning rate of the head (new layers)
    backbone_lr_mult: float = 1.0  # backbone LR = lr * backbone_lr_mult
    weight_decay: float = 1e-4
    warmup_epochs: int = 1         # linear warmup; early stopping waits these out
    patience: int = 5              # epochs without improvement before stopping
    loss: str = "l1"
    steps_per_epoch: int = 0       # 0: one pass over the training data
    micro_batch: int = 0           # > 0: gradients accumulated over chunks of this many items (same
                                   # effective batch); on CUDA halved by itself when a batch runs out of memory
    keep: str = "best"             # the weights a run ends with: its best validation epoch, or its last


@dataclass
class Config:
    preset: str = "demo"
    seed: int = 0                  # model seed: initial weights, batch order, augmentation
    data_seed: int = 0             # synthetic data, splits, label subsets, fixed validation tuples
    identities: str = "aihub"      # aihub | fgnet: the dataset of photos of one person over the years
    test_set: str = "megaage_asian"  # megaage_asian | aaf (its val faces) | utkface_asian (UTKFace's race 2)
    device: str = "auto"           # "auto" picks CUDA when available
    num_workers: int = 0
    # Each model seed draws its own split of the identities' people (pretext, fine-tuning,
    # validation, held-out), from (data_seed, seed); the test split stays fixed. False: the split
    # `prepare` made with data_seed, the same for every seed.
    resplit_identities: bool = True
    # data
    image_size: int = 64
    crop_margin: float = 0.25      # extra border around an AIHub box, per side
    # Share of UTKFace training faces mixed into every fine-tuning epoch of conditions 2-4 and the
    # controls (rehearsal, so that fine-tuning on the identities does not forget the faces the test
    # split looks like). None: a fixed rule, see `finetune_utkface_share`.
    utkface_share: float | None = None
    min_age_gap: int = 3           # years between neighbours in an order tuple
    min_age_gap_start: int = 0     # > min_age_gap: age-gap curriculum, from this gap down to min_age_gap
                                   # by the middle epoch (training tuples only; validation keeps the minimum)
    tuple_len: int = 4
    tuples_per_identity: int = 20  # order tuples drawn per identity per epoch
    # models
    backbone: str = "resnet_mini"
    imagenet_init: bool = False    # torchvision backbones: start from ImageNet (cache, or download)
    encoder: str = "shared2d"      # encoder of conditions 3 and 4
    # score: one score per photo, ranked by a pairwise loss (the order is the scores' order); vcop: the
    # T!-way VCOP pair head; both: the two heads, their losses added.
    order_head: str = "score"
    order_loss: str = "ce"         # the loss of the T! head (vcop, both) in `vcop` and `multitrain`
    soft_temperature: float = 0.5  # order_loss="soft": the original's temperature
    kendall_convention: str = "positions"  # order_loss="soft": "items" is the original's distance
    multitrain_lambda: float = 0.5  # total = lambda * age + (1 - lambda) * order
    # Backbone learning-rate multipliers (backbone LR = head LR x m) that condition 3, its controls
    # and condition 4 each train with; each arm keeps the one with the lowest validation MAE, so no
    # arm is handicapped by a multiplier chosen for another.
    backbone_lr_grid: tuple = (0.1, 1.0)
    # Chance that a photo of an order tuple is shown in greyscale, each photo on its own: where
    # older photos are more often greyscale (FG-NET's scans, AIHub's film years), colour tells the
    # order without looking at the face; 0.5 makes it uninformative for photos that have colour.
    order_grayscale: float = 0.2
    share_encoder: bool = True      # multitrain: one encoder, two heads
    head_dropout: float = 0.2
    amp: bool = True               # used on CUDA only
    synth: SynthConfig = field(default_factory=SynthConfig)
    baseline: TrainConfig = field(default_factory=TrainConfig)
    korean_finetuned: TrainConfig = field(default_factory=lambda: TrainConfig(
        backbone_lr_mult=0.1, loss="weighted_l1"))
    vcop: TrainConfig = field(default_factory=lambda: TrainConfig(loss="", batch_size=16))
    # Condition 3 and both controls (`FINETUNE_ARMS`); its backbone_lr_mult is chosen from backbone_lr_grid.
    vcop_downstream: TrainConfig = field(default_factory=lambda: TrainConfig(warmup_epochs=2))
    multitrain: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        self.backbone_lr_grid = tuple(float(m) for m in self.backbone_lr_grid)

    def validate(self) -> "Config":
        """Raise ValueError naming the parameter and its allowed values."""
        _check_choice("preset", self.preset, PRESETS)
        _check_choice("encoder", self.encoder, ENCODERS)
        _check_choice("identities", self.identities, IDENTITIES)
        _check_choice("test_set", self.test_set, TEST_SETS)
        _check_choice("order_head", self.order_head, ORDER_HEADS)
        _check_choice("order_loss", self.order_loss, ORDER_LOSSES)
        _check_choice("kendall_convention", self.kendall_convention, ("positions", "items"))
        if self.order_loss != "ce" and self.order_head == "score" and self.encoder == "shared2d":
            raise ValueError(f"order_loss={self.order_loss!r} is a loss of the T! head; order_head='score' "
                             "ranks photos with a pairwise loss: set order_head='vcop' (or 'both')")
        if not 2 <= self.tuple_len <= MAX_TUPLE_LEN:
            raise ValueError(
                f"tuple_len={self.tuple_len}: must be between 2 and {MAX_TUPLE_LEN} "
                f"(a VCOP head has tuple_len! classes; {MAX_TUPLE_LEN}! = {math.factorial(MAX_TUPLE_LEN)})")
        if self.min_age_gap < 0:
            raise ValueError(f"min_age_gap={self.min_age_gap}: must be >= 0 years")
        if not 0.0 <= self.finetune_utkface_share() < 1.0:
            raise ValueError(f"utkface_share={self.utkface_share}: must be in [0, 1) or None")
        if not 0.0 <= self.order_grayscale <= 1.0:
            raise ValueError(f"order_grayscale={self.order_grayscale}: must be in [0, 1]")
        if not 0.0 <= self.multitrain_lambda <= 1.0:
            raise ValueError(f"multitrain_lambda={self.multitrain_lambda}: must be in [0, 1]")
        if not self.backbone_lr_grid or min(self.backbone_lr_grid) < 0:
            raise ValueError(f"backbone_lr_grid={self.backbone_lr_grid}: give one or more multipliers >= 0")
        if self.image_size < 16:
            raise ValueError(f"image_size={self.image_size}: must be at least 16 pixels")
        for name in RUNS:
            tc = getattr(self, name)
            if tc.epochs < 1 or tc.batch_size < 1:
                raise ValueError(f"{name}.epochs and {name}.batch_size must be >= 1")
            _check_choice(f"{name}.keep", tc.keep, KEEP)
            if name == "vcop":
                if tc.loss:
                    raise ValueError(f"vcop.loss={tc.loss!r} is not used: the order loss of vcop and multitrain "
                                     f"is order_loss (one of {', '.join(map(repr, ORDER_LOSSES))})")
            else:
                _check_choice(f"{name}.loss", tc.loss, AGE_LOSSES)
        return self

    def finetune_utkface_share(self) -> float:
        """`utkface_share`, with None resolved by a rule: with AIHub 0 (condition 2 as the study
        defines it: fine-tuned on Korean faces alone); with FG-NET (1,002 scans, mostly children) 0.5,
        equal parts of its faces and UTKFace's. 0.5 was fixed when rehearsal was introduced, before any
        test result; a later 0.75, chosen on the public test faces, was withdrawn and 0.5 restored after
        those test MAEs had been seen (docs/design.md)."""
        if self.utkface_share is None:
            return 0.5 if self.identities == "fgnet" else 0.0
        return float(self.utkface_share)

    def to_dict(self) -> dict:
        return asdict(self)

    def run_config(self) -> dict:
        """What a run learns from in this config, less its training block (`fit` adds that): everything
        but the runtime settings, the synthetic data sizes (the data hash covers the data) and the
        training blocks of the runs."""
        d = self.to_dict()
        for k in (*RUNTIME_FIELDS, *SELECTION_FIELDS, "synth", *RUNS, "utkface_share"):
            d.pop(k)  # utkface_share: the fine-tuning runs add its resolved value (conditions.run_key)
        return d


# Runs on a share of the fine-tuning labels are named e.g. `vcop_downstream_labels25`.
_LABELS = re.compile(r"^(.*)_labels(\d+)$")


def without_labels(name: str) -> str:
    """`vcop_downstream_labels25` → `vcop_downstream`: the run a share of the labels was trained for."""
    m = _LABELS.match(name)
    return m.group(1) if m else name


def base_name(name: str) -> str:
    """The architecture a run name builds: `vcop_downstream_labels25` → `vcop_downstream`; `vcop_fixed` → `vcop`."""
    name = without_labels(name)
    return name[: -len(FIXED)] if name.endswith(FIXED) else name


def labelled_name(name: str, fraction: float) -> str:
    """The run name of `name` trained on `fraction` of the fine-tuning labels."""
    return name if fraction >= 1 else f"{name}_labels{round(fraction * 100)}"


def label_percent(name: str) -> int:
    """The share of fine-tuning labels a run name says (100 without a suffix)."""
    m = _LABELS.match(name)
    return int(m.group(2)) if m else 100


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")


def _aihub_arms(**tc) -> dict:
    """Condition 3 (and its controls, which share its block) and condition 4: the same epochs, batch
    size and schedule, and no early stop (patience = epochs), so each sees the same number of
    labelled images; each picks its backbone multiplier from `backbone_lr_grid`."""
    same = dict(**tc, patience=tc["epochs"])
    return {"vcop_downstream": TrainConfig(**same), "multitrain": TrainConfig(**same)}


def _preset(name: str) -> Config:
    if name == "smoke":
        # Seconds per notebook: CI executes every notebook on this.
        tc = dict(epochs=1, batch_size=16, warmup_epochs=0, patience=1)
        return Config(
            preset="smoke", image_size=32, tuples_per_identity=4, min_age_gap=2,
            synth=SynthConfig(utk_faces=160, megaage_train=40, megaage_test=60, aaf_faces=30,
                              aihub_people=16, aihub_photos_per_person=16),
            baseline=TrainConfig(**tc),
            korean_finetuned=TrainConfig(**tc, backbone_lr_mult=0.1, loss="weighted_l1"),
            vcop=TrainConfig(**{**tc, "batch_size": 8}, loss=""),
            vcop_downstream=TrainConfig(**tc),
            multitrain=TrainConfig(**tc),
        )
    if name == "demo":
        # Sized for a 2-core CPU: the whole pipeline in minutes, models visibly learn.
        return Config(
            preset="demo", image_size=48, tuples_per_identity=20, min_age_gap=3,
            synth=SynthConfig(utk_faces=4000, megaage_train=400, megaage_test=600, aaf_faces=200,
                              aihub_people=100),
            baseline=TrainConfig(epochs=12, batch_size=64, lr=2e-3, warmup_epochs=1, patience=4),
            korean_finetuned=TrainConfig(epochs=10, batch_size=64, lr=2e-3, backbone_lr_mult=0.1,
                                         warmup_epochs=1, patience=4, loss="weighted_l1"),
            vcop=TrainConfig(epochs=10, batch_size=16, lr=2e-3, warmup_epochs=1, patience=4, loss=""),
            **_aihub_arms(epochs=8, batch_size=64, lr=2e-3, warmup_epochs=2),
        )
    if name == "mobilenet":
        # An ImageNet-initialised encoder a 2-core CPU can fine-tune: torchvision's MobileNetV2 from its
        # ImageNet weights at 64 px (about 220 training images/s on 2 cores, a third of the demo's rate),
        # with fewer epochs than the demo's random start needs: five seeds of the public study in about
        # three hours (docs/performance.md).
        return Config(
            preset="mobilenet", image_size=64, backbone="mobilenet_v2", imagenet_init=True,
            tuples_per_identity=20, min_age_gap=3,
            synth=SynthConfig(utk_faces=4000, megaage_train=400, megaage_test=600, aaf_faces=200, aihub_people=100),
            baseline=TrainConfig(epochs=6, batch_size=64, lr=1e-3, warmup_epochs=1, patience=3),
            korean_finetuned=TrainConfig(epochs=6, batch_size=64, lr=1e-3, backbone_lr_mult=0.1,
                                         warmup_epochs=1, patience=3, loss="weighted_l1"),
            vcop=TrainConfig(epochs=8, batch_size=16, lr=1e-3, warmup_epochs=1, patience=3, loss=""),
            **_aihub_arms(epochs=6, batch_size=64, lr=1e-3, warmup_epochs=1),
        )
    if name == "full":
        # The original's sizes: real data, GPU, ResNet-50 at 224 px.
        return Config(
            preset="full", image_size=224, backbone="resnet50", imagenet_init=True, num_workers=4,
            tuples_per_identity=40, min_age_gap=3,
            synth=SynthConfig(utk_faces=20000, megaage_train=3000, megaage_test=3000, aaf_faces=2000,
                              aihub_people=900, aihub_photos_per_person=50),
            baseline=TrainConfig(epochs=30, batch_size=64, lr=1e-3, warmup_epochs=2, patience=5),
            korean_finetuned=TrainConfig(epochs=20, batch_size=64, lr=1e-3, backbone_lr_mult=0.1,
                                         warmup_epochs=2, patience=5, loss="weighted_l1"),
            vcop=TrainConfig(epochs=30, batch_size=16, lr=1e-3, warmup_epochs=2, patience=5, loss=""),
            **_aihub_arms(epochs=20, batch_size=64, lr=1e-3, warmup_epochs=3),
        )
    raise ValueError(f"preset={name!r} is not one of {', '.join(map(repr, PRESETS))}")


def get_config(preset: str = "demo", **overrides) -> Config:
    """The preset's config with overrides; nested fields as `"vcop.epochs": 3` or `vcop__epochs=3`."""
    cfg = _preset(preset)
    for key, value in overrides.items():
        cfg = override(cfg, key.replace("__", ".").split("."), value)
    return cfg.validate()


def override(obj, path, value):
    name = path[0]
    names = {f.name for f in dataclasses.fields(obj)}
    if name not in names:
        raise ValueError(f"unknown config parameter {name!r}; known: {', '.join(sorted(names))}")
    if len(path) == 1:
        return replace(obj, **{name: value})
    return replace(obj, **{name: override(getattr(obj, name), path[1:], value)})


def config_from_dict(d: dict) -> Config:
    """Inverse of `Config.to_dict` (used when reading a checkpoint or results file)."""
    d = {k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(Config)}}
    d["synth"] = SynthConfig(**d.get("synth", {}))
    for name in RUNS:
        if name in d:
            d[name] = TrainConfig(**d[name])
    return Config(**d)
