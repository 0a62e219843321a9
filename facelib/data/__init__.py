"""Data: readers for the real layouts, the synthetic generator, the prepare cache, torch datasets."""
from __future__ import annotations

import json

from ..paths import SYNTH_VERSION, SYNTHETIC_MARKER, staged_dir, write_synthetic_marker
from ..staging import stage_archive
from .cache import FaceCache, report_table, ridge_signal_check
from .prepare import prepare
from .readers import READERS, read_aihub, read_fgnet, read_megaage, read_utkface
from .records import DatasetLayoutError, FaceRecord, SkipReport
from .synth import synthesize

__all__ = ["FaceCache", "prepare", "report_table", "ridge_signal_check", "READERS", "read_aihub",
           "read_megaage", "read_utkface", "read_fgnet", "DatasetLayoutError", "FaceRecord", "SkipReport", "ensure_data"]


def ensure_data(paths, cfg, progress: bool = True) -> None:
    """Generate the synthetic datasets when `paths` points at them and they are missing or
    were generated with another preset, seed or generator version; stage an archive to the local disk; check
    that a real data folder exists. Returns the data folder to read."""

    marker = paths.data_root / SYNTHETIC_MARKER
    if paths.archive is not None:
        dest = staged_dir(paths.root) / paths.data_root.relative_to(staged_dir(paths.root)).parts[0]
        paths.data_root = stage_archive(paths.archive, dest, progress=progress)
    elif paths.synthetic:
        wanted = {"preset": cfg.preset, "seed": cfg.data_seed, "version": SYNTH_VERSION}
        have = json.loads(marker.read_text()) if marker.exists() else {}
        if {k: have.get(k) for k in wanted} != wanted:
            print(f"generating synthetic {cfg.preset} data (data seed {cfg.data_seed}) in {paths.data_root}")
            synthesize(paths.data_root, cfg.synth, seed=cfg.data_seed, progress=progress)
            write_synthetic_marker(paths.data_root, cfg.preset, cfg.data_seed)
    elif not paths.data_root.is_dir():
        raise FileNotFoundError(f"data_root={str(paths.data_root)!r} does not exist; expected a folder "
                                "with utkface/, megaage_asian/ and aihub/ (see data/README.md)")
    return paths.data_root
