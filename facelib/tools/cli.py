"""The `facelib` command (also `python -m facelib`): a table of commands (`COMMANDS`), each a function
of its parsed options, with the options every study command takes in shared parent parsers.

Each command imports what it needs when it runs, so that `facelib --help` and a mistyped option
answer at once instead of after torch has loaded."""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import PRESETS


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: expected model seeds separated by commas, e.g. 0,1,2")
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: expected distinct model seeds, e.g. 0,1,2")
    return seeds


def _fractions(text: str) -> list[float]:
    try:
        fractions = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        fractions = [-1.0]
    if not all(0 < f < 1 for f in fractions):
        raise argparse.ArgumentTypeError(f"--label-fractions {text!r}: expected shares between 0 and 1, e.g. "
                                         "0.1,0.25,0.5")
    return fractions


# ---------------------------------------------------------------- options every study command takes

def _data_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--preset", default="demo", choices=PRESETS)
    p.add_argument("--data-root", default="", help="folder with the datasets (default: synthetic data in their "
                   "layouts, generated under data/synthetic/PRESET)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic data and of prepare's splits")
    return p


def _output_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--out", default="outputs", help="outputs folder (with --data-root: outputs/<data id>)")
    p.add_argument("--weights", default="weights", help="weights folder (with --data-root: weights/<data id>)")
    return p


def _seed_options(default) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--seeds", type=_seeds, default=default, help="model seeds, e.g. 0,1,2: every run is trained "
                   "once per seed on the same data")
    return p


def study(a) -> tuple:
    """(config, paths) of a study command's options."""
    from ..study.notebook import setup
    return setup(a.preset, a.data_root, getattr(a, "out", "outputs"), getattr(a, "weights", "weights"), quiet=True,
                 data_seed=a.data_seed)


def _prepared(cfg, paths) -> None:
    """The data in place (synthetic data generated, an archive staged) and prepared."""
    from ..data import ensure_data, prepare
    ensure_data(paths, cfg, progress=False)
    prepare(paths.data_root, paths.cache_dir, cfg.image_size, cfg.crop_margin, cfg.data_seed, progress=False)


# ---------------------------------------------------------------- the commands

def _synth(a):
    from ..config import get_config
    from ..data.synth import synthesize
    from ..paths import write_synthetic_marker
    cfg = get_config(a.preset)
    t0 = time.time()
    counts = synthesize(a.out, cfg.synth, seed=a.data_seed, workers=a.workers)
    write_synthetic_marker(a.out, a.preset, a.data_seed)
    print(f"wrote {counts} to {a.out} in {time.time() - t0:.1f}s")


def _prepare(a):
    import pandas as pd

    from ..data.cache import report_table
    from ..data.prepare import prepare
    cfg, paths = study(a)
    cache = a.cache or paths.cache_dir
    t0 = time.time()
    report = prepare(paths.data_root, cache, a.image_size or cfg.image_size, cfg.crop_margin, cfg.data_seed,
                     force=a.force, workers=a.workers)
    with pd.option_context("display.width", 160, "display.max_colwidth", 60):
        print(report_table(report).to_string(index=False))
    print(f"cache at {cache} ({time.time() - t0:.1f}s)")


def _run(a):
    from .runner import NotebookFailed, StudyParams, run_notebooks
    t0 = time.time()
    extra = {"label_fractions": a.label_fractions} if a.label_fractions else {}
    if a.no_fixed_epoch_arm:
        extra["fixed_epoch_arm"] = False
    try:
        times = run_notebooks(StudyParams(a.preset, a.data_root, a.out, a.weights, a.seeds, a.data_seed, extra),
                              start=a.start)
    except NotebookFailed as e:
        print(f"✗ {e}", file=sys.stderr)
        return 1
    print(json.dumps(times, indent=2))
    print(f"all notebooks ran in {time.time() - t0:.0f}s")
    return 0


def _predict(a):
    """Exit status 0 when any face was answered, 1 when none was, 2 for a usage error (no weights),
    3 for weights that cannot be used (unreadable, another architecture, mixed data)."""
    from ..inference.drawing import annotated_names, draw_predictions
    from ..inference.models import WeightsError, load_models
    from ..inference.predict import (
        EXIT_ANSWERED,
        EXIT_NO_FACE,
        EXIT_USAGE,
        EXIT_WEIGHTS,
        predict,
    )
    from ..paths import get_paths
    try:
        models = load_models(get_paths(weights_dir=a.weights), a.seed)
    except FileNotFoundError as e:
        print(f"✗ {e}", file=sys.stderr)
        return EXIT_USAGE
    except WeightsError as e:
        print(f"✗ {e}", file=sys.stderr)
        return EXIT_WEIGHTS
    print(models.provenance, file=sys.stderr if a.json else sys.stdout, flush=True)
    preds = predict(a.photos, models=models, detect=not a.whole_image)
    for p in preds:
        print(json.dumps(p.to_dict(), ensure_ascii=False) if a.json else p.describe(), flush=True)
    if a.save_annotated:
        out = Path(a.save_annotated)
        out.mkdir(parents=True, exist_ok=True)
        answered = list(dict.fromkeys(p.photo for p in preds if p.box))
        for photo, name in annotated_names(answered).items():
            draw_predictions(photo, [p for p in preds if p.photo == photo]).save(out / name, quality=92)
    return EXIT_ANSWERED if any(p.ages for p in preds) else EXIT_NO_FACE


def _bench(a):
    from .bench import format_bench, run_bench
    cfg, paths = study(a)
    _prepared(cfg, paths)
    result = run_bench(paths.cache_dir, paths.data_root, paths.out_dir, cfg.image_size, a.device, quick=a.quick)
    print(format_bench(result))
    print(f"written to {paths.out_dir / 'bench.json'}")


def _designs(a):
    import pandas as pd

    from .designs import (
        compare_designs,
        compare_order_recipes,
        designs_table,
        order_recipes_table,
        select_designs,
    )
    if a.only is not None:
        if a.order_recipes:
            raise SystemExit("facelib designs: --only chooses designs; --order-recipes runs every recipe")
        try:
            select_designs(a.only, a.extras)
        except ValueError as e:
            raise SystemExit(f"facelib designs: {e}") from None
    cfg, paths = study(a)
    _prepared(cfg, paths)
    t0 = time.time()
    if a.order_recipes:
        result, table, name = compare_order_recipes(cfg, paths, a.seeds), order_recipes_table, "order_recipes.json"
    else:
        result, table, name = compare_designs(cfg, paths, a.seeds, extras=a.extras, only=a.only), designs_table, "designs.json"
    with pd.option_context("display.width", 250, "display.max_colwidth", 60):
        print(table(result).to_string())
    print(f"written to {paths.results_dir / name} in {time.time() - t0:.0f}s")


def _doctor(a):
    from .doctor import report
    cfg, paths = study(a)
    print(report(cfg, paths, seeds=a.seeds, probe=not a.no_probe, label_fractions=a.label_fractions,
                 fixed_epoch_arm=not a.no_fixed_epoch_arm))
    return 0


def _check_predict(a):
    import pandas as pd

    from ..inference.check import check, fit_framing, write
    cfg, paths = study(a)
    if a.fit:
        result = fit_framing(paths, a.faces, a.seed or 0)
        out = write(result, a.json or paths.results_dir / "predict_fit.json")
        aaf = (f" and {result['aaf_faces']} original images of AAF's train list" if result["aaf_faces"]
               else " (no prepared AAF: its train-list originals are not used)")
        print(f"fitted on {result['faces']} UTKFace training chips{aaf} ({result['photos']} photos; answered "
              f"{result['answered']:.1%} with the fitted constants):")
        for name, v in result["box_window"].items():
            kept = " (no box of it lay on a face: the value in use is kept)" if name in result["box_window_kept"] else ""
            print(f"  BOX_WINDOW {name}: {v} (in use: {result['current']['box_window'].get(name)}){kept}")
        print("  framing error (% of the true square's side) by eyes weight: "
              + ", ".join(f"{w}: {e}" for w, e in result["framing_error"].items()))
        for source, r in result["sources"].items():
            print(f"    {source} ({r['photos']} photos): "
                  + ", ".join(f"{w}: {e}" for w, e in r["framing_error"].items()))
        print(f"  with the constants in use: {result['current_error']} ("
              + ", ".join(f"{s}: {r['current_error']}" for s, r in result["sources"].items()) + ")")
        print(f"  EYES_WEIGHT: {result['eyes_weight']} (in use: {result['current']['eyes_weight']})")
        print(f"written to {out}")
        return 0
    from ..study.provenance import git_commit
    t0 = time.time()
    result = check(paths, cfg, a.condition, a.faces, a.seed, a.start, split=a.split, files_only=a.files_only)
    result.update(git=git_commit(paths.root), wall_seconds=round(time.time() - t0))
    out = write(result, a.json or paths.results_dir / "predict_check.json")
    with pd.option_context("display.width", 220, "display.max_colwidth", 60):
        print(pd.DataFrame(result["cases"]).to_string(index=False))
    print(f"written to {out}")
    return 0


def _probes(a):
    from ..study.notebook import each_seed
    from ..study.probes import probe_encoders
    cfg, paths = study(a)
    t0 = time.time()
    for c, p in each_seed(cfg, paths, a.seeds):
        for encoder, r in probe_encoders(c, p).items():
            print(f"seed {c.seed} {encoder}: test MAE " + ", ".join(f"{k} {v['test']['mae']:.2f}"
                                                                   for k, v in r["probes"].items()))
    print(f"written to {paths.out_dir}/seed*/results/probe_*.json in {time.time() - t0:.0f}s; notebook 06 (facelib run "
          "--from 06) compares them")


def _report(a):
    from ..paths import project_root
    from ..reporting.tables import drift, publish, publish_check, write_all
    root = project_root()
    if a.publish:
        if not a.source:
            print("✗ --publish NAME needs --from OUT (the outputs folder of the run)", file=sys.stderr)
            return 2
        if a.label and not a.rows:
            print("✗ --label names the rows of a block: give --rows BLOCK too", file=sys.stderr)
            return 2
        if Path(a.source).is_file():
            written = publish_check(root, a.publish, a.source, a.command, a.data, a.machine, a.rows, a.label)
        elif a.rows:
            print("✗ --rows adds a check-predict result's rows: --from must be its result file", file=sys.stderr)
            return 2
        else:
            written = publish(root, a.publish, a.source, a.command, a.data, a.machine)
        print(f"written {written}")
    if a.markdown:
        changed = write_all(root)
        print("tables rendered: " + (", ".join(p.name for p in changed) if changed else "all up to date"))
    if a.check:
        stale = drift(root)
        for line in stale:
            print(f"✗ table differs from its result file: {line}", file=sys.stderr)
        return 1 if stale else 0
    return 0


def _badges(a):
    from .colab import badges, write_badges
    if a.write:
        print("README.md badges " + ("updated" if write_badges() else "already up to date"))
    else:
        print(badges())


def _compare_results(a):
    from .compare import LEFT_OUT, compare_homes, compare_results
    outputs = (Path(a.a) / "outputs", Path(a.b) / "outputs") if a.homes else (a.a, a.b)
    differences, files = compare_results(*outputs)
    for line in differences:
        print(f"✗ {line}")
    print(f"{files} files compared field by field (left out: {', '.join(LEFT_OUT)}): "
          + (f"{len(differences)} differences" if differences else "equal"))
    if a.homes:
        trained, same = compare_homes(a.a, a.b)
        for line in trained:
            print(f"✗ {line}")
        for line in same:
            print(f"= {line}")
        differences += trained
    return 1 if differences else 0


# ---------------------------------------------------------------- the table

def _synth_args(s):
    s.add_argument("--out", required=True, help="the folder to write the datasets into")
    s.add_argument("--preset", default="demo", choices=PRESETS, help="how many faces (the preset's SynthConfig)")
    s.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic data")
    s.add_argument("--workers", type=int, default=None)


def _prepare_args(s):
    s.add_argument("--cache", default="", help="cache folder (default: data/cache/PRESET-KIND-...)")
    s.add_argument("--image-size", type=int, default=0)
    s.add_argument("--force", action="store_true", help="rebuild even if the cache is current")
    s.add_argument("--workers", type=int, default=None, help="processes cropping faces (default: the CPU count); "
                   "the cache is the same for any number")


def _run_args(s):
    s.add_argument("--label-fractions", type=_fractions, default=[],
                   help="e.g. 0.1,0.25,0.5: condition 3 and its controls also on these shares of the fine-tuning people (nested; all photos of each)")
    s.add_argument("--no-fixed-epoch-arm", action="store_true", help="skip the sensitivity arm (condition 3 and "
                   "the supervised control fine-tuned from pretexts trained a fixed number of epochs, last epoch kept)")
    s.add_argument("--from", dest="start", default=None, help="start at this notebook number, e.g. 03")


def _predict_args(s):
    s.add_argument("photos", nargs="+")
    s.add_argument("--weights", default="weights", help="the study's weights folder (its lowest seed is used) or "
                   "one seed's folder")
    s.add_argument("--seed", type=int, default=None, help="the model seed whose weights answer (default: the lowest)")
    s.add_argument("--whole-image", action="store_true", help="the photo is already a face crop: no detection "
                   "(also chosen by itself when the aligned face would fill the photo)")
    s.add_argument("--json", action="store_true", help="one JSON object per face: photo, box, ages and groups")
    s.add_argument("--save-annotated", metavar="DIR", default="", help="write each photo with its boxes and ages")


def _bench_args(s):
    s.add_argument("--device", default="auto")
    s.add_argument("--quick", action="store_true", help="fewer items and no 224 px models on a CPU")


def _designs_args(s):
    s.add_argument("--order-recipes", action="store_true",
                   help="instead: the order-task recipes (heads, greyscale), pretext model only")
    s.add_argument("--extras", action="store_true", help="also the labelled extra designs (the soft-permutation loss)")
    s.add_argument("--only", metavar="TEXT",
                   help="train only the designs whose name contains TEXT (e.g. r21d: the original's row; the "
                        "soft-permutation extra, with --extras, is matched by 'soft'); the rows of the "
                        "designs.json in place made from the same data, data seed, config and test faces "
                        "are kept until a row trained now replaces them")


def _doctor_args(s):
    s.add_argument("--label-fractions", type=_fractions, default=[])
    s.add_argument("--no-fixed-epoch-arm", action="store_true", help="leave the sensitivity arm out of the estimate")
    s.add_argument("--no-probe", action="store_true", help="skip the timed probe and the time estimate")


def _check_predict_args(s):
    s.add_argument("--seed", type=int, default=None, help="the model seed whose weights answer (default: the lowest)")
    s.add_argument("--condition", default="baseline")
    s.add_argument("--faces", type=int, default=300, help="test faces per case (with --fit: training chips)")
    s.add_argument("--start", type=int, default=0, help="check test faces START to START+FACES of one fixed "
                   "shuffled order (a later START: faces no earlier check used)")
    s.add_argument("--split", default="", help="AAF only: check the faces of this split instead of the test split "
                   "(train: faces no test holds, where the framing was fixed)")
    s.add_argument("--files-only", action="store_true", help="only the first case, the test photos given as files "
                   "(AAF: its original images), e.g. on a whole test list (--faces 100000)")
    s.add_argument("--fit", action="store_true", help="measure predict's framing constants again on faces no "
                   "test holds (UTKFace training chips; AAF train-list originals when AAF is prepared; no "
                   "weights needed) instead of checking a model on the test faces")
    s.add_argument("--json", default="", help="where to write the result (default: results/predict_check.json, "
                   "with --fit results/predict_fit.json)")


def _report_args(s):
    s.add_argument("--publish", metavar="NAME", default="", help="write docs/results/NAME.json from --from OUT")
    s.add_argument("--from", dest="source", default="", help="the run's outputs folder (holding results/summary.json), "
                   "or a `facelib check-predict` result file")
    s.add_argument("--rows", default="", help="with a check-predict result: add its rows to the record NAME as this "
                   "block (publishing the block again replaces its rows)")
    s.add_argument("--label", default="", help="with --rows: appended to each of the block's row labels")
    s.add_argument("--command", default="", help="the command that produced the run (recorded beside it)")
    s.add_argument("--data", default="", help="what data the run read, in words (the data itself is never copied)")
    s.add_argument("--machine", default="", help="where it ran, in words")
    s.add_argument("--markdown", action="store_true", help="render every marked table in README.md and docs/*.md")
    s.add_argument("--check", action="store_true", help="exit 1 when a table differs from its result file")


def _badges_args(s):
    s.add_argument("--write", action="store_true", help="replace the badge block in README.md")


def _compare_results_args(s):
    s.add_argument("a", help="one run's outputs folder (with --homes: its FACELIB_HOME)")
    s.add_argument("b", help="the other's")
    s.add_argument("--homes", action="store_true", help="A and B are FACELIB_HOME folders: compare their outputs, "
                   "and also every weights file (bitwise) and every cached face crop")


@dataclass(frozen=True)
class Command:
    name: str
    run: object          # (parsed options) → exit status or None
    help: str
    data: bool = False   # takes --preset, --data-root, --data-seed
    outputs: bool = False  # takes --out, --weights
    seeds: list | None = None  # takes --seeds, with this default
    args: object = None  # adds its own options


COMMANDS = (
    Command("synth", _synth, "write synthetic UTKFace / MegaAge-Asian / AAF / AIHub folders in their layouts",
            args=_synth_args),
    Command("prepare", _prepare, "crop faces into the memory-mapped cache, with a skip report", data=True,
            args=_prepare_args),
    Command("run", _run, "execute notebooks 00-06 in order with papermill", data=True, outputs=True, seeds=[0],
            args=_run_args),
    Command("predict", _predict, "find the faces in photos, align them as the training faces were, and predict "
            "their age with every trained condition of one seed", args=_predict_args),
    Command("bench", _bench, "speed and memory figures (data path, training steps, order loss, memory)", data=True,
            outputs=True, args=_bench_args),
    Command("designs", _designs, "the original's design (encoder, loss) against facelib's on the same data",
            data=True, outputs=True, seeds=[0, 1, 2], args=_designs_args),
    Command("doctor", _doctor, "this machine, the precision training will use, the datasets found, and how long "
            "the study will take here (a timed probe of the preset's models)", data=True, seeds=[0],
            args=_doctor_args),
    Command("check-predict", _check_predict, "how far `facelib predict`'s age lies from the study's own on the "
            "same test faces: chips as files, chips in larger photos, AAF's original images and its aligned faces "
            "framed without landmarks, FG-NET scans", data=True, outputs=True, args=_check_predict_args),
    Command("probes", _probes, "probe the frozen pretrained encoders of each seed of a trained study (ridge and "
            "kNN read age from them; notebook 02 does it too)", data=True, outputs=True, seeds=[0]),
    Command("report", _report, "publish a run's summary under docs/results/ and render the README's and docs' "
            "tables from those files", args=_report_args),
    Command("badges", _badges, "the README's Open-in-Colab links, from the repository in pyproject.toml",
            args=_badges_args),
    Command("compare-results", _compare_results, "are two runs' result files equal, field by field (times, "
            "paths, commits and run ids left out)?", args=_compare_results_args),
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facelib", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    for c in COMMANDS:
        parents = ([_data_options()] if c.data else []) + ([_output_options()] if c.outputs else []) + \
            ([_seed_options(c.seeds)] if c.seeds is not None else [])
        s = sub.add_parser(c.name, help=c.help, parents=parents)
        if c.args is not None:
            c.args(s)
        s.set_defaults(fn=c.run)
    return p


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    return a.fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
