"""Widgets of the notebooks (ipywidgets): the face browser and the photo upload."""
from __future__ import annotations

import io

import matplotlib.pyplot as plt

from ..inference.drawing import draw_predictions
from ..inference.models import load_models
from ..inference.predict import predict
from ..study.metrics import AGE_GROUPS, group_label
from .plots import worst_faces

# A Jupyter server drops websocket messages above about 10 MB (tornado's default), and an upload that
# large is lost without an error; uploads are refused above this size, with a message, instead.
MAX_UPLOAD_MB = 8


def _show(fig):
    """Display a figure once, inside the current output, and close it so the inline backend
    does not draw it a second time at the end of the cell."""
    from IPython.display import display
    display(fig)
    plt.close(fig)


def face_browser(preds: dict, cache):
    """Widgets: pick a condition, an age group and a condition to compare with."""
    import ipywidgets as w
    from IPython.display import display

    groups = ["all"] + [group_label(lo, hi) for lo, hi in AGE_GROUPS]
    cond = w.Dropdown(options=list(preds), description="condition")
    grp = w.Dropdown(options=groups, description="age group")
    cmp_ = w.Dropdown(options=["—"] + list(preds), description="compare")
    out = w.Output()

    def show(*_):
        out.clear_output(wait=True)
        with out:
            _show(worst_faces(preds, cache, cond.value, None if grp.value == "all" else grp.value,
                              compare=None if cmp_.value == "—" else cmp_.value))
    for widget in (cond, grp, cmp_):
        widget.observe(show, "value")
    show()
    display(w.VBox([w.HBox([cond, grp, cmp_]), out]))


def _uploaded(value) -> list[tuple[str, bytes]]:
    """(name, bytes) of each uploaded file, for ipywidgets 8 (a tuple of dicts) and 7 (a dict)."""
    files = value if isinstance(value, (list, tuple)) else [{"name": k, **v} for k, v in dict(value).items()]
    out = []
    for f in files:
        f = f if isinstance(f, dict) else {"name": f.name, "content": f.content}
        out.append((f.get("name") or f.get("metadata", {}).get("name", "upload"), bytes(f["content"])))
    return out


def upload_predictor(paths):
    """Widget: upload a photo and see what `facelib predict` would print for it: the models' provenance,
    then each face found (or the photo as a face crop, when "the photo is a face crop" is ticked) with
    how it was aligned and every trained condition's age. The photo is read in memory (no file is
    written), and each upload clears the previous answer first."""

    import ipywidgets as w
    from IPython.display import display

    models = load_models(paths)
    up = w.FileUpload(accept="image/*", multiple=False, description="photo",
                      tooltip=f"A photo (JPEG, PNG, ...) up to {MAX_UPLOAD_MB} MB: every face found is aligned as the "
                              "training faces were and aged by every trained condition")
    crop = w.Checkbox(value=False, description="the photo is a face crop (no detection, as --whole-image)",
                      layout=w.Layout(width="auto"))
    note = w.HTML(f"Photos up to {MAX_UPLOAD_MB} MB (larger uploads can be lost by the notebook server without "
                  "an error): for a larger photo use <code>facelib predict PHOTO</code>.")
    out = w.Output()

    def run(change):
        files = _uploaded(change["new"])
        if not files:
            return  # the reset below
        out.clear_output()
        with out:
            print(models.provenance)
            for name, content in files:
                if len(content) > MAX_UPLOAD_MB * 2**20:
                    print(f"{name}: {len(content) / 2**20:.1f} MB is above the {MAX_UPLOAD_MB} MB limit; "
                          "use `facelib predict` for it")
                    continue
                preds = predict([(name, content)], models=models, detect=not crop.value)
                for p in preds:
                    print(p.describe())
                if any(p.box for p in preds):
                    buf = io.BytesIO()
                    draw_predictions((name, content), preds).save(buf, "PNG")
                    display(w.Image(value=buf.getvalue()))
        up.value = ()  # ready for the next photo, the same one included
    up.observe(run, "value")
    display(w.VBox([w.HBox([up, crop]), note, out]))
