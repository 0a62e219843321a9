"""What every notebook does first: the config and paths from its parameters, and one pass per model seed."""
from __future__ import annotations

from dataclasses import replace

from .config import get_config
from .paths import get_paths


def setup(preset: str = "demo", data_root: str = "", out_dir: str = "outputs", weights_dir: str = "weights",
          **overrides):
    """(cfg, paths) for a notebook's parameters; prints which data the numbers will come from.

    overrides: config fields, e.g. `encoder="r21d_original"` or `**{"vcop.epochs": 3}`."""
    from .plots import data_banner
    cfg = get_config(preset, **overrides)
    paths = get_paths(preset, data_root, out_dir, weights_dir)
    print(data_banner(paths.synthetic))
    return cfg, paths


def each_seed(cfg, paths, seeds):
    """(cfg, paths) of each model seed in turn: the same data and splits, the seed's own weights and
    results (weights/seed<k>/, outputs/seed<k>/)."""
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seeds:
        raise ValueError("seeds is empty; give at least one model seed, e.g. seeds = [0]")
    for seed in seeds:
        yield replace(cfg, seed=int(seed)), paths.for_seed(int(seed))
