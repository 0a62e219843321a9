"""facelib: does age-order (VCOP) pretraining help single-image facial age regression?

Notebooks import everything from here; see README.md for the pipeline and docs/design.md for the map
of the package.
"""
from .config import (
           CONDITIONS,
           PRESETS,
           VERSION,
           Config,
           SynthConfig,
           TrainConfig,
           get_config,
)
from .paths import Paths, get_paths
from .study.notebook import each_seed, setup

__version__ = VERSION
__all__ = ["__version__", "CONDITIONS", "PRESETS", "Config", "TrainConfig", "SynthConfig", "get_config",
           "Paths", "get_paths", "setup", "each_seed"]
