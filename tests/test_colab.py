"""The notebooks' first cell, in the two ways Colab meets facelib, laid out in a temporary folder.

Each case runs the cell in a fresh virtual environment that sees this environment's packages
(torch and the rest) through a .pth file but has no facelib installed, as a Colab kernel."""
import json
import shutil
import site
import subprocess
import venv
from pathlib import Path

import pytest

from facelib.tools.runner import list_notebooks

ROOT = Path(__file__).resolve().parents[1]


def _first_cell(nb: Path) -> str:
    cells = json.loads(nb.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def test_every_notebook_has_the_same_first_cell():
    cells = {nb.name: _first_cell(nb) for nb in list_notebooks(ROOT)}
    assert len(set(cells.values())) == 1, "the first cells differ"
    cell = next(iter(cells.values()))
    assert 'FACELIB_SOURCE = ""' in cell and "pip" in cell


def _kernel_env(tmp: Path) -> Path:
    """A venv without facelib whose site-packages also reads this environment's."""
    venv.EnvBuilder(with_pip=True).create(tmp / "venv")
    inner = next((tmp / "venv" / "lib").glob("python*/site-packages"))
    outer = [p for p in site.getsitepackages() if "site-packages" in p]
    (inner / "outer.pth").write_text("\n".join(outer) + "\n")
    # the editable facelib of this environment must not leak in
    assert "facelib" not in subprocess.run([str(tmp / "venv" / "bin" / "python"), "-c",
                                            "import importlib.util as u; s = u.find_spec('facelib'); "
                                            "print(s and s.origin)"], cwd=tmp, capture_output=True, text=True).stdout
    return tmp / "venv" / "bin" / "python"


def _clone(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("facelib", "notebooks"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    return dest


def _run_cell(python: Path, cwd: Path, source: str = "") -> subprocess.CompletedProcess:
    cell = _first_cell(ROOT / "notebooks" / "00_prepare-data.ipynb")
    if source:
        cell = cell.replace('FACELIB_SOURCE = ""', f"FACELIB_SOURCE = {source!r}", 1)
    check = "\nimport facelib\nprint('facelib from', facelib.__file__, facelib.get_config('smoke').preset)\n"
    # `python -c` puts the working directory first on sys.path, as Colab's kernel has /content
    return subprocess.run([str(python), "-c", cell + check], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_colab_working_directory_holding_a_clone(tmp_path):
    """README on Colab: `git clone … facelib` in /content; /content (holding the folder `facelib`)
    is on sys.path, so `import facelib` first finds the repository folder as an empty namespace."""
    python = _kernel_env(tmp_path)
    content = tmp_path / "content"
    clone = _clone(content / "facelib")
    proc = _run_cell(python, content)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"facelib from {clone / 'facelib' / '__init__.py'} smoke" in proc.stdout


@pytest.mark.slow
def test_a_notebook_opened_on_its_own_installs_from_facelib_source(tmp_path):
    python = _kernel_env(tmp_path)
    clone = _clone(tmp_path / "somewhere" / "facelib-src")
    bare = tmp_path / "bare"
    bare.mkdir()
    empty = _run_cell(python, bare)
    assert empty.returncode != 0
    assert "facelib is not installed: set FACELIB_SOURCE in this cell" in empty.stderr
    proc = _run_cell(python, bare, source=str(clone))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "facelib from " in proc.stdout and "site-packages" in proc.stdout and " smoke" in proc.stdout


def test_readme_badges_are_made_from_the_one_repository_address():
    from facelib.tools.colab import badges, repository
    repo = repository(ROOT)
    readme = (ROOT / "README.md").read_text()
    assert badges(root=ROOT) in readme, "README badges are stale: run `facelib badges --write`"
    assert readme.count(f"colab.research.google.com/github/{repo}/blob/main/notebooks/") == 7
