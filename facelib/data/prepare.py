"""Turn dataset folders into a compact cache: uint8 face crops + a manifest per dataset.

For each dataset found under `data_root` it writes, in `cache_dir`:
`<dataset>.npy` — (N, S, S, 3) uint8, opened memory-mapped at training time;
`<dataset>.csv` — the manifest (index, age, gender, identity, device, year,
source, split, source_split, race, framing: how the face was framed); and `report.json` — found / kept / skipped by
reason per dataset. Splits are identity-disjoint. A second call with the same
inputs and parameters reuses the cache. Faces are cropped in worker processes that write into
the memory map by index, with a journal, so a prepare that stops continues where it stopped.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..config import DATASETS
from ..staging import STAGED_MARKER
from .decode import NO_FACE, frame_with, process_record
from .dedup import same_photo_groups
from .detect import framing_constants
from .readers import READERS
from .records import safe_name
from .splits import ASIAN_TEST_SETS, LISTED_TEST, assign_splits, split_hashes

# Bump when the crops or splits change for the same files: every cache is then prepared again.
CACHE_VERSION = 7


def prepare(data_root, cache_dir, image_size: int = 64, margin: float = 0.25, seed: int = 0,
            datasets=DATASETS, progress: bool = True, force: bool = False, workers: int | None = None) -> dict:
    """Prepare every dataset present under `data_root`; returns the combined report dict.

    data_root: folder holding `utkface/`, `megaage_asian/`, `aihub/` (any subset).
    margin: border added around an AIHub face box, as a fraction of its side.
    workers: processes cropping faces (default: the CPU count); the cache is the same for any
        number. A prepare that was stopped (even killed) continues where it stopped.
    """
    data_root, cache_dir = Path(data_root), Path(cache_dir)
    if not data_root.is_dir():
        raise FileNotFoundError(f"{data_root}: data folder not found; expected utkface/, "
                                "megaage_asian/ and/or aihub/ inside it")
    present = [d for d in datasets if (data_root / d).is_dir()]
    if not present:
        raise FileNotFoundError(f"{data_root}: none of {', '.join(datasets)} found inside")
    cache_dir.mkdir(parents=True, exist_ok=True)
    report = {"data_root": str(data_root), "image_size": image_size, "datasets": {}}
    # No MegaAge-Asian or AAF in the data: UTKFace's Asian faces become the test split (see assign_splits).
    asian_test = not any((data_root / d).is_dir() for d in ASIAN_TEST_SETS)
    for name in present:
        report["datasets"][name] = _prepare_one(name, data_root / name, cache_dir, image_size,
                                                margin, seed, progress, force, workers,
                                                asian_test=asian_test and name == "utkface")
    (cache_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report


def _fingerprint(root: Path, params: dict) -> str:
    h = hashlib.sha1(json.dumps(params, sort_keys=True).encode())
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != STAGED_MARKER:
            st = p.stat()
            h.update(os.fsencode(p.relative_to(root)) + f"|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


# ---------------------------------------------------------------- workers

_WORKER = {}


def exit_with_parent(parent: int) -> None:
    """Called in a pool worker: it ends within a second of the process that started it (a prepare
    killed outright leaves its workers waiting for work for ever otherwise). POSIX: on Windows a
    process's parent id does not change when its parent dies, so this does nothing there."""
    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def _open_worker(tmp: str, parent: int | None = None) -> None:
    _WORKER["arr"] = np.load(tmp, mmap_mode="r+")
    if parent is not None:
        exit_with_parent(parent)


def _process_chunk(job) -> list[tuple[int, str, str, str, str]]:
    """Crop a chunk of records into the memory map at their own rows; flushed before returning,
    so a chunk in the journal is on disk. Rows: (index, status, md5, how it was framed, the pupils it
    was aligned from as JSON or "")."""
    indices, records, size, margin = job
    arr, out = _WORKER["arr"], []
    for i, rec in zip(indices, records):
        status, digest, face, how, rel = process_record(rec, size, margin)
        if face is not None:
            arr[i] = face
        out.append((i, status, digest, how, json.dumps(rel) if rel else ""))
    arr.flush()
    return out


def default_workers() -> int:
    return os.cpu_count() or 1


def _prepare_one(name, root, cache_dir, size, margin, seed, progress, force, workers=None,
                 asian_test: bool = False) -> dict:

    params = {"version": CACHE_VERSION, "size": size, "margin": margin, "seed": seed}
    if asian_test:
        params["asian_test"] = True
    if name == "megaage_asian":   # framed by `detect`: its constants; its fallback no longer reads the test list
        params["fallback"] = "median outside the test list and its copies"
        params["framing"] = framing_constants()
    if name in LISTED_TEST:
        params["repeats"] = "lists kept as published; copies of test faces left out of the other lists"
    key = _fingerprint(root, params)
    meta_path = cache_dir / f"{name}.meta.json"
    npy, csv = cache_dir / f"{name}.npy", cache_dir / f"{name}.csv"
    if not force and meta_path.exists() and npy.exists() and csv.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            return {**meta["report"], "cached": True, "data_hash": key}

    records, report = READERS[name](root)
    tmp, journal = cache_dir / f"{name}.tmp.npy", cache_dir / f"{name}.journal"
    shape = (len(records), size, size, 3)
    done = _read_journal(journal, key, tmp, shape)
    if done:
        print(f"prepare {name}: resuming, {len(done)} of {len(records)} faces already prepared")
    else:
        _new_memmap(tmp, shape)
        journal.write_text(key + "\n")
    todo = [i for i in range(len(records)) if i not in done]
    workers = max(1, workers or default_workers())
    chunk = max(1, min(32, len(todo) // (4 * workers)))  # small enough to keep every worker busy
    jobs = [(ix, [records[i] for i in ix], size, margin) for ix in
            (todo[k:k + chunk] for k in range(0, len(todo), chunk))]
    workers = max(1, min(workers, len(jobs)))
    bar = tqdm(total=len(records), initial=len(done), unit="face", desc=f"prepare {name}", disable=not progress)
    with open(journal, "a") as log:
        def record(rows):
            log.write("".join("\t".join(map(str, row)) + "\n" for row in rows))
            log.flush()
            done.update({row[0]: row[1:] for row in rows})
            bar.update(len(rows))
        if workers == 1:
            _open_worker(str(tmp))
            for job in jobs:
                record(_process_chunk(job))
            _WORKER.clear()
        else:
            ctx = get_context("fork" if os.name == "posix" else "spawn")
            # An executor, not a Pool: a worker that dies (killed, out of memory) stops the prepare
            # with an error here instead of leaving it waiting for ever.
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_open_worker,
                                     initargs=(str(tmp), os.getpid())) as pool:
                try:
                    for future in as_completed([pool.submit(_process_chunk, job) for job in jobs]):
                        record(future.result())
                except BaseException as e:
                    pool.shutdown(cancel_futures=True)   # an error stops the prepare now, not after every chunk
                    if not isinstance(e, BrokenProcessPool):
                        raise
                    raise RuntimeError(
                        f"prepare {name}: a worker cropping faces died ({e}); {len(done)} of "
                        f"{len(records)} faces are prepared and kept. {_free_space(cache_dir)}. "
                        "Run it again to continue where it stopped (workers=1 to see the error "
                        "in this process).") from e
    bar.close()
    framing = _frame_the_rest(records, done, tmp, size, LISTED_TEST.get(name, "test"))

    # Repeats and skips are decided here, in record order, so any number of workers gives the
    # same cache. Skipped rows stay in the array, unused: no second copy of the cache is written.
    statuses, first_copy = repeat_rule([done[i][:2] for i in range(len(records))],
                                       [rec.source_split for rec in records], LISTED_TEST.get(name))
    kept = []
    for i, rec in enumerate(records):
        if statuses[i] != "ok":
            report.skip(statuses[i], rec.path.relative_to(root))
            continue
        kept.append(i)
    os.replace(tmp, npy)
    journal.unlink()

    manifest = pd.DataFrame({
        "index": kept,
        "age": [records[i].age for i in kept],
        "gender": [records[i].gender for i in kept],
        "identity": [records[first_copy[i]].identity for i in kept],   # a repeated photo: one identity
        "device": [records[i].device for i in kept],
        "year": [records[i].year for i in kept],
        "source": [safe_name(records[i].path.relative_to(root)) for i in kept],
        "source_split": [records[i].source_split for i in kept],
        "race": [records[i].race for i in kept],
        "framing": [framing[i] for i in kept],
    })
    images = np.load(npy, mmap_mode="r")
    if name == "utkface":
        # UTKFace repeats photos (some with other labels) under other names: near-identical faces
        # share an identity, so that a split never holds one copy and another split the other.
        groups = same_photo_groups([images[i] for i in kept])
        manifest["identity"] = manifest["identity"].to_numpy()[groups]
    manifest["split"] = assign_splits(name, manifest, seed, asian_test)
    manifest.to_csv(csv, index=False)
    rep = report.to_dict()
    rep["framing"] = dict(sorted(pd.Series([framing[i] for i in kept], dtype=object).value_counts().items()))
    rep["splits"] = manifest["split"].value_counts().sort_index().to_dict()
    rep["split_hashes"] = split_hashes(manifest, images)
    if name == "utkface":
        rep["near_duplicate_faces"] = int(manifest["identity"].duplicated(keep=False).sum())
    meta_path.write_text(json.dumps({"key": key, "params": params, "report": rep}, ensure_ascii=False))
    return {**rep, "cached": False, "data_hash": key}


def _test_files(rows, test_list: str | None) -> set[str]:
    """The digests of the files read from a dataset's test list; rows: (status, digest, list) per record."""
    return {digest for status, digest, split in rows if status == "ok" and test_list is not None and split == test_list}


def repeat_rule(done, lists, test_list: str | None = None) -> tuple[list[str], list[int]]:
    """Which byte-identical repeats are kept: (status of each record, index of the first kept copy
    of its file). done: (status, digest) per record, in record order; lists: the dataset's own split
    of each record; test_list: the dataset's test list where its lists are kept as published
    (MegaAge-Asian, AAF), else None.

    Usually a repeat of a file read before is skipped as `duplicate_file`. A dataset kept as
    published keeps every file of its lists, repeats included (the benchmark lists them, and they
    share the first copy's identity, so a bootstrap counts them as one cluster); only a copy of a
    test-list file in another list is skipped (`duplicate_of_test_face`): it would put a test face in
    training or in a fit."""
    test = _test_files(((status, digest, split) for (status, digest), split in zip(done, lists)), test_list)
    statuses, first, first_copy = [], {}, []
    for i, ((status, digest), split) in enumerate(zip(done, lists)):
        if status == "ok" and test_list is not None and split != test_list and digest in test:
            status = "duplicate_of_test_face"
        elif status == "ok" and test_list is None and digest in first:
            status = "duplicate_file"
        if status == "ok":
            first.setdefault(digest, i)
        statuses.append(status)
        first_copy.append(first.get(digest, i) if status == "ok" else i)
    return statuses, first_copy


def _free_space(folder: Path) -> str:
    return f"{shutil.disk_usage(folder).free / 2**20:,.0f} MiB are free at {folder}"


def _new_memmap(tmp: Path, shape) -> None:
    """An empty cache array on disk with its blocks reserved: a full disk (or a quota) is an error
    here, not a SIGBUS in a worker writing into a memory-mapped hole later. A leftover array of an
    earlier prepare is removed first, so that its blocks count as free."""
    tmp.unlink(missing_ok=True)
    need = int(np.prod(shape))

    def no_room():
        tmp.unlink(missing_ok=True)
        return OSError(errno.ENOSPC, f"{tmp.name} needs {need / 2**20:,.0f} MiB; only {_free_space(tmp.parent)}")
    if shutil.disk_usage(tmp.parent).free < need + 2**20:
        raise no_room()
    np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape).flush()
    if hasattr(os, "posix_fallocate"):
        with open(tmp, "r+b") as f:
            try:
                os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
            except OSError as e:
                if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                    raise no_room() from e
                if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP, getattr(errno, "ENOSYS", -1)):
                    tmp.unlink(missing_ok=True)
                    raise
                # the file system reserves nothing: the array works as before, unreserved


def _read_journal(journal: Path, key: str, tmp: Path, shape) -> dict:
    """{record index: (status, md5)} of a prepare of the same inputs that stopped part-way."""
    if not (journal.exists() and tmp.exists()):
        return {}
    lines = journal.read_text().splitlines()
    try:
        same = lines[0] == key and np.load(tmp, mmap_mode="r").shape == shape
    except (IndexError, ValueError, OSError):
        same = False
    if not same:
        return {}
    done = {}
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) == 5:  # a line cut by the kill is simply done again
            done[int(parts[0])] = tuple(parts[1:])
    return done


def fallback_pupils(records, done: dict, test_list: str = "test") -> list:
    """The pupils found in a dataset's faces outside its test list, for framing the faces in which
    none was found; a byte-identical copy of a test-list file does not count (it is skipped later)."""
    test = _test_files(((d[0], d[1], records[i].source_split) for i, d in done.items()), test_list)
    return [json.loads(d[3]) for i, d in done.items()
            if d[0] == "ok" and d[3] and records[i].source_split != test_list and d[1] not in test]


def _frame_the_rest(records, done: dict, tmp: Path, size: int, test_list: str = "test") -> dict:
    """{record index: how its face was framed}, after framing the faces of an aligned dataset in which
    no face was found: aligned from the median pupils of the faces found in the same dataset outside its
    test list (its images share one framing; no test image sets it), or, where none was found there,
    its central square."""
    how = {i: d[2] for i, d in done.items()}
    missing = [i for i, d in done.items() if d[0] == "ok" and d[2] == NO_FACE]
    if not missing:
        return how
    found = fallback_pupils(records, done, test_list)
    median = np.median(np.array(found), axis=0).tolist() if found else None
    arr = np.load(tmp, mmap_mode="r+")
    for i in missing:
        face, how[i] = frame_with(records[i], size, median)
        if face is None:
            done[i] = ("face_too_small", *done[i][1:])
        else:
            arr[i] = face
    arr.flush()
    return how
