"""The README's and docs' tables, rendered from the result files committed under docs/results/.

`facelib report --publish NAME --from OUT` copies a run's summary (never its data) into
`docs/results/NAME.json` with the command, the data it read and the commit that produced it (`--from`
a `facelib check-predict` result file publishes its rows, `--rows BLOCK` adding them to a record);
`facelib report --markdown` rewrites every table between markers in README.md and docs/*.md from
those files:

    <!-- facelib-table: NAME KIND -->
    ...
    <!-- /facelib-table -->

and `facelib report --check` (and a test) fails when a table differs from what its file gives.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .. import registry
from ..config import TEST_SPLIT
from .results import role, verdict_shown

MARKER = re.compile(r"(<!-- facelib-table: (\S+) (\S+) -->\n)(.*?)(<!-- /facelib-table -->)", re.S)


def results_dir(root) -> Path:
    return Path(root) / "docs" / "results"


def load(root, name: str) -> dict:
    path = results_dir(root) / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no published result {name!r}; make it with `facelib report --publish {name}`")
    return json.loads(path.read_text())


def _write_record(path: Path, record: dict) -> Path:
    """A published result file, written the one way every record is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return path


def publish(root, name: str, out_dir, command: str, data: str, machine: str = "", extra: dict | None = None) -> Path:
    """docs/results/<name>.json from a run's outputs folder: its summary.json and, where `facelib designs`
    ran on the same data, its designs.json (never the data's per-file paths), run_times.json, the
    command, the data it read (described, never included), and the commits recorded in its results files."""
    out_dir = Path(out_dir)
    files = {key: out_dir / "results" / f"{key}.json" for key in ("summary", "designs")}
    if not any(f.exists() for f in files.values()):
        raise FileNotFoundError(f"{out_dir / 'results'}: no summary.json or designs.json to publish")
    times = out_dir / "run_times.json"
    commits = set()
    for f in out_dir.glob("**/seed*/results/*.json"):
        git = json.loads(f.read_text()).get("git")
        if git:
            commits.add(git["commit"] + (" (with uncommitted changes)" if git.get("dirty") else ""))
    record = {"name": name, "command": command, "data": data, "machine": machine, "commits": sorted(commits),
              **{key: json.loads(f.read_text()) for key, f in files.items() if f.exists()},
              "run_times": json.loads(times.read_text()) if times.exists() else {}, **(extra or {})}
    path = results_dir(root) / f"{name}.json"
    return _write_record(path, record)


# What a block of check-predict rows records of the check that made it (beside its command and commits).
CHECK_FIELDS = ("condition", "seed", "data_id", "test_set", "split", "faces_from", "faces_used", "wall_seconds")
# A record's own fields, which no block of rows may be named.
RECORD_FIELDS = {"name", "command", "data", "machine", "commits", "cases", "block", "git", *CHECK_FIELDS}


def publish_check(root, name: str, check_file, command: str, data: str = "", machine: str = "",
                  rows: str = "", label: str = "") -> Path:
    """docs/results/<name>.json from a `facelib check-predict --json FILE` result.

    Without `rows`: the record whose cases are its table's rows, with the command, the data it read
    (described), the machine and the commit the check ran at; published again, it keeps its blocks
    (and its data and machine where none are given).
    With `rows`: the check's cases added to the existing record `name` as the block `rows` (the check
    run again with another model, split or data): each case is labelled "<case> — <label>" (unchanged
    when `label` is empty) and tagged with its block, data and split; the block's command, commit, data,
    machine and what it checked are kept under record[rows]. Publishing a block again replaces its cases
    where they stand."""
    check = json.loads(Path(check_file).read_text())
    if not isinstance(check, dict) or "cases" not in check:
        raise ValueError(f"{check_file}: not a `facelib check-predict` result (it has no cases)")
    git = check.get("git")
    commits = [git["commit"][:7] + (" (with uncommitted changes)" if git.get("dirty") else "")] if git else []
    what = {k: check[k] for k in CHECK_FIELDS if k in check}
    path = results_dir(root) / f"{name}.json"
    if not rows:
        old = json.loads(path.read_text()) if path.exists() else {"cases": []}
        blocks = [c for c in old["cases"] if c.get("block")]   # other checks' rows stay, after the new ones
        record = {"name": name, "command": command, "data": data or old.get("data", ""),
                  "machine": machine or old.get("machine", ""), "commits": commits, **what,
                  "cases": check["cases"] + blocks,
                  **{c["block"]: old[c["block"]] for c in blocks if c["block"] in old}}
    else:
        if rows in RECORD_FIELDS:
            raise ValueError(f"--rows {rows!r}: a field of every record, not a name for a block of rows")
        record = load(root, name)
        mine = [i for i, c in enumerate(record["cases"]) if c.get("block") == rows]
        if rows in record and not mine:
            raise ValueError(f"--rows {rows!r}: {name} already has a field of that name that is not a block of rows")
        tag = {"block": rows, "data_id": check.get("data_id"), "test_set": check.get("test_set"),
               **({"split": check["split"]} if check.get("split") else {})}
        new = [{**c, "case": c["case"] + (f" — {label}" if label else ""), **tag} for c in check["cases"]]
        at = mine[0] if mine else len(record["cases"])
        kept = [c for c in record["cases"] if c.get("block") != rows]
        record["cases"] = kept[:at] + new + kept[at:]
        record[rows] = {"command": command, "commits": commits, **({"data": data} if data else {}),
                        **({"machine": machine} if machine else {}), **what}
    return _write_record(path, record)


# ---------------------------------------------------------------- the tables

def _ci(v, ci, f="{:.2f}"):
    return f"{f.format(v)} [{f.format(ci[0])}, {f.format(ci[1])}]"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header, rows) -> str:
    return "\n".join([_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)])


def _label(name: str) -> str:
    return registry.RUNS[name].label if name in registry.RUNS and registry.RUNS[name].label else name


def conditions_md(record: dict) -> str:
    s = record["summary"]
    runs = {**s["conditions"], **{k: v for k, v in s["reference"].items() if "mae_ci95" in v},
            **s.get("sensitivity", {}).get("arms", {})}

    def beats(m, key):
        return "" if key not in m else "yes" if m[key] else "**no**"
    rows = [[_label(n), _ci(m["mae"], m["mae_ci95"]), ", ".join(f"{v:.2f}" for v in m["mae_seeds"]),
             f"{m['mean_predictor_mae']:.2f}", beats(m, "beats_mean_predictor"),
             f"{m['val_mae']:.2f}" if "val_mae" in m else "",
             f"{m['heldout_mae']:.2f}" if "heldout_mae" in m else "",
             f"{m['heldout_mean_predictor_mae']:.2f}" if "heldout_mean_predictor_mae" in m else ""]
            for n, m in runs.items()]
    return _table(["run", "test MAE [95% CI]", "per seed", "training mean, on the test", "beats it",
                   "own validation MAE", "held-out people MAE (secondary)", "training mean, on them"], rows)


def _verdict(c: dict) -> str:
    if c["verdict"] == "withheld":
        return "withheld: " + c["withheld"].split(":")[0]
    return verdict_shown(c)


def _equivalence(c: dict) -> str:
    if "ci90" not in c:
        return ""
    if c.get("equivalence") == "withheld":
        return "withheld"
    word = "equivalent" if c["equivalence"] != "not shown equivalent" else "not shown"
    return f"{word} [{c['ci90'][0]:+.2f}, {c['ci90'][1]:+.2f}]"


def comparisons_md(record: dict) -> str:
    s = record["summary"]
    test = "test: " + "/".join(TEST_SPLIT[s["test_set"]])
    margin = next((c["margin"] for c in s.get("comparisons", []) if "margin" in c), None)
    rows = [[c.get("role") or role(c["a"], c["b"]), c["a"], c["b"], c.get("split", test).replace("test: ", ""),
             _ci(c["mae_diff"], c["ci95"], "{:+.2f}"), _verdict(c), _equivalence(c),
             f"{c['seeds_a_better']} of {c['seeds']}"]
            for c in s.get("comparisons", []) + s.get("comparisons_heldout", [])
            + s.get("sensitivity", {}).get("comparisons", [])]
    eq = f"equivalent within ±{margin:g} y? [90% CI]" if margin is not None else "equivalence"
    return _table(["role", "a", "b", "faces", "MAE(a) − MAE(b) [95% CI]", "verdict", eq,
                   "seeds where a is lower"], rows)


def budget_md(record: dict) -> str:
    b = record["summary"].get("budget", {})
    if not b:
        return "(no budget in this result)"
    rows = [[n, f"{v['images_seen']:,.0f}", f"{v['epochs']:.1f}",
             f"{v['kept_epoch']:.1f}" if "kept_epoch" in v else "",
             ", ".join(str(e) for e in v.get("kept_epoch_seeds", [])),
             f"{v['images_kept']:,.0f}" if "images_kept" in v else ""] for n, v in b.items()]
    return _table(["run", "images seen", "epochs run", "kept epoch", "kept epoch per seed", "images behind the kept "
                   "weights"], rows)


def label_efficiency_md(record: dict) -> str:
    curve = record["summary"].get("label_efficiency")
    if not curve:
        return "(no label-efficiency runs in this result)"
    by = {(c["fraction"], c["a"], c["b"]): c for c in curve["comparisons"]}
    pairs = [("vcop_downstream", "aihub_scratch"), ("vcop_downstream", "supervised_downstream"),
             ("supervised_downstream", "aihub_scratch")]
    rows = []
    for k, f in enumerate(curve["fractions"]):
        cells = [f"{f:.0%}"]
        for arm in ("vcop_downstream", "aihub_scratch", "supervised_downstream"):
            m, ci = curve[arm]["mae"][k], curve[arm]["ci95"][k]
            cells.append(_ci(m, ci) if m is not None else "")
        for a, b in pairs:
            c = by.get((f, a, b))
            cells.append(f"{_ci(c['mae_diff'], c['ci95'], '{:+.2f}')}: {_verdict(c)}" if c else "")
        rows.append(cells)
    return _table(["share of the fine-tuning people", "vcop_downstream", "aihub_scratch", "supervised_downstream",
                   "3 − aihub_scratch", "3 − supervised_downstream", "supervised − aihub_scratch"], rows)


def pretext_md(record: dict) -> str:
    p = record["summary"].get("pretext", {})
    if not p:
        return "(no pretext results)"
    rows = [["top-1", f"{p['top1']:.3f}", ", ".join(f"{v:.2f}" for v in p["top1_seeds"]), f"{p['chance_top1']:.3f}"],
            ["Kendall τ", f"{p['kendall_tau']:.3f}", ", ".join(f"{v:.2f}" for v in p["kendall_tau_seeds"]), "0"],
            ["pairwise order accuracy", f"{p['pairwise_acc']:.3f}", "", "0.5"]]
    return _table(["order task on held-out people", "mean over seeds", "per seed", "chance"], rows)


def timing_md(record: dict) -> str:
    t = {k: v for k, v in record.get("run_times", {}).items() if k[:2].isdigit()}
    if not t:
        return "(no timings in this result)"
    return _table(["notebook", "seconds"], [[k, f"{v:,.0f}"] for k, v in t.items()] +
                  [["all", f"{sum(t.values()):,.0f}"]])


def protocol_md(record: dict) -> str:
    p = record["summary"]["protocol"]
    mults = p.get("backbone_lr_mult", {})
    margin = p.get("equivalence_margin")
    loss = p.get("order_loss_name", p.get("order_loss"))
    rows = [["seeds (each with its own split of the identities' people)", ", ".join(map(str, p["seeds"]))],
            ["identities / test split", f"{p['identities']} / {p['test_set']}"],
            ["utkface_share (rehearsal)", f"{p['utkface_share']} ({p['utkface_share_rule']})"],
            ["backbone LR multiplier grid", ", ".join(f"{v:g}" for v in p["backbone_lr_grid"] or [])],
            *[[f"multiplier kept by {n} (per seed)", ", ".join(f"{v:g}" for v in m.values())] for n, m in mults.items()],
            ["order head / its loss", f"{p['order_head']} / {loss}"],
            *([["downstream loss", p["downstream_loss"]]] if "downstream_loss" in p else []),
            ["condition 4's encoder", "shared by both heads" if p["multitrain_share_encoder"] else "two encoders"],
            ["epochs and settings chosen on", "validation splits only (each run's epoch, each arm's multiplier)"],
            *([["intervals", p["intervals"]]] if "intervals" in p else []),
            *([["test-face clusters", p["test_clusters"]]] if "test_clusters" in p else []),
            *([["equivalence margin", f"±{margin['years']:g} years, fixed {margin['fixed']}: {margin['rule']}; "
                                      f"{margin['note']}"]] if margin else []),
            *([["development", p["development"]]] if "development" in p else []),
            *([["fixed-epoch arm", p["fixed_epoch_arm"]]] if "fixed_epoch_arm" in p else []),
            ["test split", p["test"]]]
    return _table(["protocol", ""], rows)


def predict_check_md(record: dict) -> str:
    def ratio(r):
        if "mae_ratio" not in r:
            return f"{r['mae_predict'] / r['mae_evaluation']:.2f}"
        lo, hi = r["mae_ratio_95"]
        return f"{r['mae_ratio']:.2f} [{lo:.2f}, {hi:.2f}]"
    def median(r):
        lo, hi = r.get("median_distance_95", (None, None))
        return f"{r['median_distance']:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if lo is not None else "")
    rows = [[r["case"], r["faces"], f"{r['answered']:.2%}", r.get("same_age", ""), median(r),
             f"{r['mae_predict']:.2f}", f"{r['mae_evaluation']:.2f}", ratio(r), r["alignment"]] for r in record["cases"]]
    return _table(["photos", "faces", "answered", "within ±0.5 y of the evaluation", "median |predict − evaluation| [95% over faces]",
                   "MAE of predict", "MAE of the evaluation", "ratio [95% over faces]", "alignment used"], rows)


PROBE_LABELS = {"pretext_start": "before pretraining", "vcop": "after the order task",
                "supervised_pretext": "after the supervised pretext"}


def probes_md(record: dict) -> str:
    p = record["summary"].get("probes")
    if not p:
        return "(no frozen-encoder probes in this result)"
    rows = []
    for key, entry in p["probes"].items():
        kind, fit_set = key.split("/")
        for e in p["encoders"]:
            t, h = entry["test"]["encoders"][e], entry["heldout"]["encoders"][e]
            rows.append([f"{kind}, fitted on {entry['fitted_on']}", PROBE_LABELS.get(e, e), _ci(t["mae"], t["mae_ci95"]),
                         ", ".join(f"{v:.2f}" for v in t["mae_seeds"]), f"{t['mean_predictor_mae']:.2f}",
                         "yes" if t["beats_mean_predictor"] else "**no**", _ci(h["mae"], h["mae_ci95"]),
                         f"{h['mean_predictor_mae']:.2f}"])
    return _table(["probe", "encoder", "test MAE [95% CI]", "per seed", "training mean, on the test", "beats it",
                   "held-out people MAE", "training mean, on them"], rows)


def probe_comparisons_md(record: dict) -> str:
    p = record["summary"].get("probes")
    if not p:
        return "(no frozen-encoder probes in this result)"
    rows = []
    for key, entry in p["probes"].items():
        for split in ("test", "heldout"):
            for c in entry[split]["comparisons"]:
                rows.append([key.replace("/", ", fitted on "), c["split"], f"{c['a']} − {c['b']}",
                             _ci(c["mae_diff"], c["ci95"], "{:+.2f}"), _verdict(c), _equivalence(c),
                             f"{c['seeds_a_better']} of {c['seeds']}"])
    return _table(["probe", "faces", "encoders", "MAE difference [95% CI]", "verdict", "equivalent within ±0.5 y? "
                   "[90% CI]", "seeds where a is lower"], rows)


def designs_md(record: dict) -> str:
    d = record.get("designs")
    if not d:
        return "(no designs in this result)"
    arms = ("vcop_downstream", "aihub_scratch", "supervised_downstream")

    def vs(c):
        return f"{_ci(c['mae_diff'], c['ci95'], '{:+.2f}')}: {_verdict(c)}"
    rows = [[name, ",".join(map(str, r["seeds"])), f"{r['pretext_top1']:.3f}", f"{r['pretext_kendall_tau']:.3f}",
             *[_ci(r[f"{a}_mae"], r[f"{a}_mae_ci95"]) for a in arms], f"{r['mean_predictor_mae']:.2f}",
             vs(r["vs_control"]), vs(r["vs_supervised"])] for name, r in d["designs"].items()]
    return _table(["design", "seeds", "pretext top-1", "Kendall τ", "3 vcop_downstream", "aihub_scratch",
                   "supervised_downstream", "training mean", "3 − aihub_scratch [95% CI]",
                   "3 − supervised_downstream [95% CI]"], rows)


KINDS = {"conditions": conditions_md, "comparisons": comparisons_md, "budget": budget_md,
         "label_efficiency": label_efficiency_md, "pretext": pretext_md, "timing": timing_md, "protocol": protocol_md,
         "predict": predict_check_md, "probes": probes_md, "probe_comparisons": probe_comparisons_md,
         "designs": designs_md}


def render(text: str, root) -> str:
    """`text` with every marked table rendered from its published result."""
    cache = {}

    def table(m):
        name, kind = m.group(2), m.group(3)
        if kind not in KINDS:
            raise ValueError(f"table kind {kind!r} is not one of {', '.join(KINDS)}")
        if name not in cache:
            cache[name] = load(root, name)
        return m.group(1) + KINDS[kind](cache[name]) + "\n" + m.group(5)
    return MARKER.sub(table, text)


def documents(root) -> list[Path]:
    root = Path(root)
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.exists()]


def write_all(root) -> list[Path]:
    """Render every document's tables in place; returns the documents that changed."""
    changed = []
    for doc in documents(root):
        text = doc.read_text()
        new = render(text, root)
        if new != text:
            doc.write_text(new)
            changed.append(doc)
    return changed


def drift(root) -> list[str]:
    """The tables that differ from what their result files give: "document: name kind"."""
    out = []
    for doc in documents(root):
        text = doc.read_text()
        for m in MARKER.finditer(text):
            want = render(m.group(0), root)
            if want != m.group(0):
                out.append(f"{doc.name}: {m.group(2)} {m.group(3)}")
    return out
