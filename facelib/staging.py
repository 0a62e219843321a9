"""Copy a dataset archive to the local disk and extract it once.

Google Drive serves many small files slowly; one archive read once and extracted on
the local disk avoids reading thousands of files from Drive every epoch.
"""
from __future__ import annotations

import json
import os
import tarfile
import time
import zipfile
from pathlib import Path

from .config import DATASETS

COLAB_LOCAL = Path("/content/facelib_data")

STAGED_MARKER = ".staged.json"  # what was extracted from which archive; not a data file


def stage_archive(archive, dest=None, progress: bool = True) -> Path:
    """Extract `archive` (.zip, .tar, .tar.gz, .tgz) straight into `dest` on the local disk (one copy:
    the archive itself is read where it is, e.g. on Drive); return the folder holding utkface/,
    megaage_asian/, aaf/, aihub/ and/or fgnet/.

    Zip member names without the UTF-8 flag (archives made on Korean Windows) are decoded as UTF-8
    when they are, else as CP949. Members already extracted with their full size are skipped, so
    an extraction cut off by a disconnect continues; a second call after a complete one does nothing.
    """
    from tqdm.auto import tqdm

    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: archive not found (expected a .zip or .tar[.gz] of the datasets)")
    dest = Path(dest) if dest else COLAB_LOCAL
    dest.mkdir(parents=True, exist_ok=True)
    st = archive.stat()
    stamp = {"archive": str(archive), "size": st.st_size, "mtime": st.st_mtime_ns}
    marker = dest / STAGED_MARKER
    if marker.exists() and json.loads(marker.read_text()) == stamp:
        return _data_root(dest)
    t0 = time.time()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.infolist() if not m.is_dir()]
            with tqdm(total=sum(m.file_size for m in members), unit="B", unit_scale=True, desc="extract",
                      disable=not progress) as bar:
                for m in members:
                    m.filename = member_name(m)
                    target = dest / m.filename
                    if not (target.is_file() and target.stat().st_size == m.file_size):
                        z.extract(m, dest)
                        # the member's own time, as tar keeps it: extracted again on a new runtime, the
                        # files look the same to prepare's fingerprint and the prepared cache is reused
                        t = time.mktime((*m.date_time, 0, 0, -1))
                        os.utime(target, (t, t))
                    bar.update(m.file_size)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            t.extractall(dest, **kwargs)
    else:
        raise ValueError(f"{archive}: not a zip or tar archive")
    marker.write_text(json.dumps(stamp))
    if progress:
        print(f"extracted {st.st_size / 2**20:.0f} MiB from {archive} in {time.time() - t0:.0f}s")
    return _data_root(dest)


def member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's name as its maker meant it. Without the UTF-8 flag (bit 11) Python decodes
    names as CP437; the bytes are re-read as UTF-8 if valid, else as CP949 (Korean Windows)."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437")
    for encoding in ("utf-8", "cp949"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def _data_root(dest: Path) -> Path:
    names = DATASETS
    for p in (dest, *sorted(d for d in dest.iterdir() if d.is_dir())):
        if any((p / n).is_dir() for n in names):
            return p
    raise FileNotFoundError(f"{dest}: the archive holds none of {', '.join(names)} at its top or one level down")
