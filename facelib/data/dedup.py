"""Near-identical photos: UTKFace repeats some photos under other names (some relabelled), and
every copy must land in the same split."""
from __future__ import annotations

import numpy as np
from PIL import Image

# Two UTKFace crops are one photo when their 16 x 16 grey thumbnails differ by less than this mean
# absolute grey level: far above what repeats differ by, far below what different people whose
# coarse hashes collide differ by (docs/data.md).
SAME_PHOTO_GREY = 5.0


def dhash(face: np.ndarray) -> int:
    """A 64-bit difference hash of a face crop: near-identical photos get hashes a few bits apart."""
    g = np.asarray(Image.fromarray(np.asarray(face)).convert("L").resize((9, 8), Image.BILINEAR), np.int16)
    bits = (g[:, 1:] > g[:, :-1]).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def thumbnail(face: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(face)).convert("L").resize((16, 16), Image.BILINEAR), np.float32)


def same_photo_groups(faces) -> np.ndarray:
    """Groups of near-identical face crops (see `near_duplicate_groups`), confirmed on thumbnails:
    aligned faces of different people can share a coarse hash."""
    thumbs = [thumbnail(f) for f in faces]
    return near_duplicate_groups(np.array([dhash(f) for f in faces], dtype=np.uint64),
                                 same=lambda i, j: float(np.abs(thumbs[i] - thumbs[j]).mean()) < SAME_PHOTO_GREY)


def near_duplicate_groups(hashes: np.ndarray, max_bits: int = 4, same=None) -> np.ndarray:
    """For each hash, the index of the first hash of its group: hashes at most `max_bits` apart (and,
    given `same(i, j)`, confirmed by it) are joined, transitively. Two such hashes agree exactly on
    one of five bit ranges (pigeonhole), so only hashes sharing a range are compared."""
    parent = np.arange(len(hashes))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for shift, width in ((0, 13), (13, 13), (26, 13), (39, 13), (52, 12)):
        keys = (hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        for bucket in np.split(order, np.flatnonzero(np.diff(keys[order])) + 1):
            if len(bucket) < 2 or len(bucket) > 2000:  # a huge bucket: blank or uniform images; skip
                continue
            for k, i in enumerate(bucket):
                near = np.flatnonzero([bin(int(hashes[i] ^ hashes[j])).count("1") <= max_bits for j in bucket[k + 1:]])
                for j in bucket[k + 1:][near]:
                    if same is not None and root(i) != root(j) and not same(i, j):
                        continue
                    a, b = root(i), root(j)
                    parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(len(hashes))])
