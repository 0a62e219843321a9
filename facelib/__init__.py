"""facelib: does age-order (VCOP) pretraining help single-image facial age regression?

Notebooks import everything from here; see README.md for the pipeline.
"""
__version__ = "0.1.0"

from .config import CONDITIONS, PRESETS, Config, TrainConfig, SynthConfig, get_config  # noqa: E402
from .paths import Paths, get_paths  # noqa: E402
from .notebook import each_seed, setup  # noqa: E402

__all__ = ["__version__", "CONDITIONS", "PRESETS", "Config", "TrainConfig", "SynthConfig", "get_config",
           "Paths", "get_paths", "setup", "each_seed"]
