"""The README's "Open in Colab" links, made from the one repository address in pyproject.toml."""
from __future__ import annotations

import re
from pathlib import Path

from ..paths import project_root
from .runner import list_notebooks

BEGIN, END = "<!-- colab-badges: made by `facelib badges --write` -->", "<!-- /colab-badges -->"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def repository(root=None) -> str:
    """owner/name of the repository, from `[project.urls] Repository` in pyproject.toml."""
    text = (project_root(root) / "pyproject.toml").read_text()
    m = re.search(r'^Repository\s*=\s*"https://github\.com/([^"/]+/[^"/]+?)(?:\.git)?/?"', text, re.M)
    if not m:
        raise ValueError("pyproject.toml: no `Repository = \"https://github.com/OWNER/NAME\"` under [project.urls]")
    return m.group(1)


def badges(repo: str | None = None, branch: str = "main", root=None) -> str:
    """A markdown table: one "Open in Colab" badge per notebook."""
    repo = repo or repository(root)
    rows = [f"| [![Open In Colab]({BADGE})](https://colab.research.google.com/github/{repo}/blob/{branch}/"
            f"notebooks/{nb.name}) | `{nb.stem}` |" for nb in list_notebooks(root)]
    return "\n".join([BEGIN, "| | notebook |", "|---|---|", *rows, END])


def write_badges(readme=None, root=None) -> bool:
    """Replace the badge block of README.md; True if it changed."""
    path = Path(readme or project_root(root) / "README.md")
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path}: no badge block ({BEGIN} … {END}) to replace")
    new = text[:text.index(BEGIN)] + badges(root=root) + text[text.index(END) + len(END):]
    path.write_text(new)
    return new != text
