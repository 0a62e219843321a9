"""The runs of the study in one table: what each is, the notebook that trains it, the run whose
weights it starts from, how tables name it, and what the summary compares it with.

Adding a condition is its recipe (`study/conditions.py`: a function that builds its `RunSpec` and
hands it to `train_regressor`) and one row here; the summary, its comparisons, the tables and the
error messages read everything else from this table.

Ground floor: it imports only `config` and `paths`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import (
    CONTROL,
    FIXED,
    SUPERVISED_CONTROL,
    SUPERVISED_PRETEXT,
    without_labels,
)
from .paths import Paths

PRIMARY, SECONDARY, SENSITIVITY = "primary", "secondary", "sensitivity"


@dataclass(frozen=True)
class Run:
    name: str
    notebook: str                # the notebook that trains it
    kind: str                    # "condition", "control", "sensitivity" (compared, tested); "pretext", "start"
    label: str = ""              # how the tables name it
    starts_from: str | None = None   # the run whose encoder it loads (None: the weights the pretext started from)
    compared_with: tuple = ()    # ((run b, role), ...): the summary compares this run (a) with each b, a − b

    @property
    def tested(self) -> bool:
        return self.kind in ("condition", "control", "sensitivity")


_V3 = "vcop_downstream"
RUNS = {r.name: r for r in (
    Run("baseline", "03_finetune_base_to_kor", "condition", "1 baseline"),
    Run("korean_finetuned", "03_finetune_base_to_kor", "condition", "2 korean_finetuned", "baseline",
        (("baseline", SECONDARY),)),
    Run("pretext_start", "01_ssl-preTextTask", "start"),
    Run("vcop", "01_ssl-preTextTask", "pretext"),
    Run(SUPERVISED_PRETEXT, "02_ssl-regression", "pretext"),
    Run(_V3, "02_ssl-regression", "condition", "3 vcop_downstream", "vcop",
        (("baseline", SECONDARY), (CONTROL, PRIMARY), (SUPERVISED_CONTROL, PRIMARY))),
    Run(CONTROL, "02_ssl-regression", "control", "control: aihub_scratch (no pretraining)"),
    Run(SUPERVISED_CONTROL, "02_ssl-regression", "control", "control: supervised_downstream (age-pretrained)",
        SUPERVISED_PRETEXT, ((CONTROL, PRIMARY),)),
    Run("multitrain", "05_multitrain", "condition", "4 multitrain", None,
        (("baseline", SECONDARY), (CONTROL, SECONDARY), (SUPERVISED_CONTROL, SECONDARY))),
    Run("vcop" + FIXED, "01_ssl-preTextTask", "pretext"),
    Run(SUPERVISED_PRETEXT + FIXED, "02_ssl-regression", "pretext"),
    Run(_V3 + FIXED, "02_ssl-regression", "sensitivity", "sensitivity: 3 from a fixed-epoch order pretext",
        "vcop" + FIXED, ((CONTROL, SENSITIVITY), (SUPERVISED_CONTROL + FIXED, SENSITIVITY))),
    Run(SUPERVISED_CONTROL + FIXED, "02_ssl-regression", "sensitivity",
        "sensitivity: supervised control from a fixed-epoch pretext", SUPERVISED_PRETEXT + FIXED,
        ((CONTROL, SENSITIVITY),)),
)}


def run(name: str) -> Run:
    """The row of a run name (`vcop_downstream_labels25` is `vcop_downstream`'s); a clear error for others."""
    base = without_labels(name)
    if base not in RUNS:
        raise ValueError(f"condition={name!r} is not one of {', '.join(map(repr, RUNS))}")
    return RUNS[base]


def check_name(name: str) -> str:
    run(name)
    return name


def notebook_of(name: str) -> str:
    """The notebook that trains a run (named in every 'run it first' message)."""
    return run(name).notebook


def weights_path(paths: Paths, name: str) -> Path:
    return paths.weights_dir / f"{check_name(name)}.pt"


def tested_runs() -> tuple[str, ...]:
    """Every run tested on the test split, in table order."""
    return tuple(n for n, r in RUNS.items() if r.tested)


def pairs(names) -> list[tuple[str, str, str]]:
    """(a, b, role) of every comparison the table asks for among `names`: those against the baseline
    first, then the primary ones, the other secondary ones, and the sensitivity ones, each in table order."""
    names = set(names)
    found = [(a, b, role) for a, r in RUNS.items() if a in names for b, role in r.compared_with if b in names]
    group = {PRIMARY: 1, SECONDARY: 2, SENSITIVITY: 3}
    return sorted(found, key=lambda p: 0 if p[1] == "baseline" else group[p[2]])
