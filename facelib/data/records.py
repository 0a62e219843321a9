"""A face record, and the report of what a reader or `prepare` skipped."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def safe_name(path) -> str:
    """A path as printable UTF-8 text. Names that are not UTF-8 (Korean folder names from a Windows
    archive arrive as CP949 bytes) come back with their odd bytes as \\xNN escapes instead of
    failing when hashed, printed or written to JSON."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class DatasetLayoutError(Exception):
    """A dataset folder does not have its published layout (names the file and what was expected)."""


@dataclass
class FaceRecord:
    path: Path
    age: float
    identity: str
    gender: int = -1              # 0 male, 1 female, -1 unknown
    device: str = ""              # AIHub: film / digital
    year: int = -1                # capture year, where known
    box: tuple | None = None      # (x0, y0, x1, y1) in image pixels
    landmarks: np.ndarray | None = None  # (5, 2): left eye, right eye, nose, mouth left, mouth right
    aligned: bool = False         # the image is already an aligned face crop
    find_face: bool = False       # its framing is not the training faces' (a whole head, shoulders): find the
                                  # face and eyes and align them (`detect.frame_photo`)
    source_split: str = ""        # the dataset's own split (train/test, Training/Validation)
    label_size: tuple | None = None  # (width, height) the label's box and landmarks refer to
    race: int = -1                # UTKFace: 0 white, 1 black, 2 asian, 3 indian, 4 others


@dataclass
class SkipReport:
    """Counts of skipped inputs by reason, with a few example file names each.

    `notes` counts records that were kept but needed a fix or carry a warning
    (a box clipped to the image, a filename letter that disagrees with `gender`).
    kept + sum(skipped) == found always holds.
    """
    dataset: str
    found: int = 0
    skipped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    max_examples: int = 3

    @property
    def kept(self) -> int:
        return self.found - sum(self.skipped.values())

    def skip(self, reason: str, path) -> None:
        self.skipped[reason] += 1
        self._example(reason, path)

    def note(self, reason: str, path) -> None:
        self.notes[reason] += 1
        self._example(reason, path)

    def _example(self, reason, path):
        ex = self.examples.setdefault(reason, [])
        if len(ex) < self.max_examples:
            ex.append(safe_name(path))

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "found": self.found, "kept": self.kept,
                "skipped": dict(sorted(self.skipped.items())), "notes": dict(sorted(self.notes.items())),
                "examples": self.examples}

    @classmethod
    def from_dict(cls, d: dict) -> "SkipReport":
        return cls(dataset=d["dataset"], found=d["found"], skipped=Counter(d["skipped"]),
                   notes=Counter(d.get("notes", {})), examples=d.get("examples", {}))
