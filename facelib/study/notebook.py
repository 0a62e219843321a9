"""What every notebook does first: the config and paths from its parameters, a description of the
run it is in, and one pass per model seed."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..config import IDENTITY_NAMES, TEST_NAMES, get_config
from ..paths import get_paths


def setup(preset: str = "demo", data_root: str = "", out_dir: str = "outputs", weights_dir: str = "weights",
          identities: str = "auto", test_set: str = "auto", quiet: bool = False, **overrides):
    """(cfg, paths) for a notebook's parameters; prints which data the run reads and where it writes.

    identities, test_set: "auto" takes AIHub and MegaAge-Asian where the data folder has them, else
        FG-NET, and AAF's val faces, else the Asian faces of UTKFace held out of training (`roles`).
    overrides: config fields, e.g. `encoder="r21d_original"` or `**{"vcop.epochs": 3}`."""
    paths = get_paths(preset, data_root, out_dir, weights_dir)
    auto = roles(paths.data_root) if data_root else ("aihub", "megaage_asian")
    identities = auto[0] if identities == "auto" else identities
    test_set = auto[1] if test_set == "auto" else test_set
    cfg = get_config(preset, identities=identities, test_set=test_set, **overrides)
    if not quiet:
        print(describe(cfg, paths))
    return cfg, paths


def describe(cfg, paths) -> str:
    """The run a notebook is in: which data (synthetic or real), which dataset plays which role, where
    results and weights go."""
    if paths.synthetic:
        data = ("DATA: SYNTHETIC faces drawn by facelib.synth, in the real datasets' layouts. Numbers describe this "
                "toolkit on drawn faces, not age estimation on real photographs.")
    else:
        data = f"DATA: real photographs from {paths.data_root}."
    who = IDENTITY_NAMES[cfg.identities] + (" (in AIHub's role)" if cfg.identities != "aihub" else "")
    test = TEST_NAMES[cfg.test_set] + (" (MegaAge-Asian is absent)" if cfg.test_set != "megaage_asian" else "")
    return "\n".join([data,
                      f"identities (the order task, conditions 2-4 and the controls): {who}",
                      f"baseline trained on UTKFace; test split: {test}",
                      f"preset {cfg.preset}; results in {paths.out_dir}; weights in {paths.weights_dir}"])


def roles(data_root) -> tuple[str, str]:
    """(identities, test_set) for a data folder: AIHub where present, else FG-NET; MegaAge-Asian's test
    split where present, else AAF's val faces, else the Asian faces of UTKFace."""
    has = lambda name: (Path(data_root) / name).is_dir()  # noqa: E731
    return ("fgnet" if not has("aihub") and has("fgnet") else "aihub",
            "megaage_asian" if has("megaage_asian") else "aaf" if has("aaf") else "utkface_asian")


def each_seed(cfg, paths, seeds):
    """(cfg, paths) of each model seed in turn: the same data, the seed's own split of the identities'
    people, weights and results (weights/seed<k>/, outputs/seed<k>/)."""
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise ValueError("seeds is empty; give at least one model seed, e.g. seeds = [0]")
    for seed in seeds:
        yield replace(cfg, seed=int(seed)), paths.for_seed(int(seed))
