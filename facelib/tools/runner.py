"""Execute the numbered notebooks in order with papermill (`facelib run`)."""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import get_paths, project_root


class NotebookFailed(RuntimeError):
    """cell: the execution count of the failing cell, as `In [n]` in the executed copy."""

    def __init__(self, notebook: str, cell: int | None, error: str, output: Path, source: str = ""):
        self.notebook, self.cell, self.error, self.output, self.source = notebook, cell, error, output, source
        where = f"cell In [{cell}]" if cell is not None else "a cell"
        code = f"\n  the cell begins: {source}" if source else ""
        super().__init__(f"{notebook} failed in {where}: {error}{code}\n  partial output kept at {output}")


def list_notebooks(root=None) -> list[Path]:
    nbs = sorted((project_root(root) / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not nbs:
        raise FileNotFoundError(f"{project_root(root) / 'notebooks'}: no numbered notebooks found")
    return nbs


@dataclass
class StudyParams:
    """The parameters every notebook's `parameters` cell takes, and the extras some declare."""
    preset: str = "demo"
    data_root: str = ""
    out_dir: str = "outputs"
    weights_dir: str = "weights"
    seeds: tuple = (0,)
    data_seed: int = 0
    extra: dict = field(default_factory=dict)  # e.g. {"label_fractions": [0.25]}: for notebooks that declare them


def run_notebooks(params: StudyParams, start: str | None = None, only: list[str] | None = None, root=None,
                  log_output: bool = False) -> dict:
    """Run every notebook (from `start`, e.g. "03") and return {notebook: seconds}.

    Every notebook trains or reads each seed of `params.seeds` (same data, per-seed weights and
    results). Executed copies go to the run's outputs folder (`paths.get_paths`), under notebooks/.
    Raises NotebookFailed naming the notebook and cell.
    """
    import papermill as pm  # the notebooks' extra (`pip install facelib[notebooks]`)
    from papermill.exceptions import PapermillExecutionError

    root = project_root(root)
    data = str(Path(params.data_root).expanduser().resolve()) if params.data_root else ""
    # The notebooks resolve the same parameters the same way (per data folder, under FACELIB_HOME).
    out = get_paths(params.preset, data, params.out_dir, params.weights_dir, root=root).out_dir
    nbs = list_notebooks(root)
    if start:
        nbs = [nb for nb in nbs if nb.name[:2] >= start[:2]]
        if not nbs:
            raise ValueError(f"--from {start}: no notebook numbered {start} or later")
    if only:
        nbs = [nb for nb in nbs if nb.name[:2] in {o[:2] for o in only}]
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    # The python3 kernel spec runs `python`; make that this interpreter.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    values = {"preset": params.preset, "data_root": data, "out_dir": str(params.out_dir),
              "weights_dir": str(params.weights_dir), "seeds": [int(s) for s in params.seeds],
              "data_seed": params.data_seed, "progress": False, "interactive": False}
    times = {}
    for nb in nbs:
        dest = out / "notebooks" / nb.name
        print(f"▶ {nb.name}", flush=True)
        t0 = time.time()
        try:
            declared = {p["name"] for p in pm.inspect_notebook(str(nb)).values()}
            extras = {k: v for k, v in params.extra.items() if k in declared}
            pm.execute_notebook(str(nb), str(dest), parameters={**values, **extras}, cwd=str(nb.parent),
                                kernel_name="python3", progress_bar=False, log_output=log_output)
        except PapermillExecutionError as e:
            source = ""
            try:
                import nbformat
                cells = nbformat.read(dest, as_version=4).cells
                failed = next(c for c in cells if c.get("execution_count") == e.exec_count)
                source = failed.source.strip().splitlines()[0]
            except Exception:  # the report is still useful without the source line
                pass
            raise NotebookFailed(nb.name, e.exec_count, f"{e.ename}: {e.evalue}", dest, source) from None
        times[nb.stem] = round(time.time() - t0, 1)
        print(f"  done in {times[nb.stem]:.1f}s → {dest}", flush=True)
    times_path = out / "run_times.json"
    previous = json.loads(times_path.read_text()) if times_path.exists() else {}
    times_path.write_text(json.dumps({**previous, "preset": params.preset, "seeds": values["seeds"], **times},
                                     indent=2))
    return times
