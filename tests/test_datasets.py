"""Torch datasets: single faces and order tuples."""
import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from facelib.data.augment import BatchAugment, normalize_batch
from facelib.data.datasets import FaceDataset, MixedFaceDataset, OrderTupleDataset, longest_chains, permutations, seed_worker
from facelib.data.cache import FaceCache


def test_permutations_are_all_distinct_and_ordered():
    p = permutations(4)
    assert p.shape == (24, 4)
    assert len({tuple(r) for r in p.tolist()}) == 24
    assert p[0].tolist() == [0, 1, 2, 3] and p[-1].tolist() == [3, 2, 1, 0]


def test_longest_chains():
    ages = np.array([0, 1, 2, 5, 6, 10, 10, 13], float)
    # gap 3: 0|1|2 → 5 → 10 → 13 (4); 5|6 → 10 → 13 (3); 10 → 13 (2)
    assert longest_chains(ages, 3).tolist() == [4, 4, 4, 3, 3, 2, 2, 1]
    # equal ages never chain, even with gap 0
    assert longest_chains(np.array([4.0, 4.0, 4.0]), 0).tolist() == [1, 1, 1]


def test_face_dataset_shapes(tiny_cache):
    c = FaceCache(tiny_cache[0], "utkface")
    ds = FaceDataset(c, "train")
    x, age = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.uint8
    np.testing.assert_array_equal(x.permute(1, 2, 0).numpy(), c.images[ds.rows[0]])
    assert age.item() == c.split("train")["age"].iloc[0]
    stack, _ = FaceDataset(c, "train", copies=4)[0]
    assert stack.shape == (4, 3, 32, 32)
    aug = BatchAugment()(stack[None])
    assert aug.shape == (1, 4, 3, 32, 32) and not torch.equal(aug[0, 0], aug[0, 1])  # copies differ


def test_mixed_dataset_keeps_every_primary_face_and_draws_the_share_afresh(tiny_cache):
    utk = FaceDataset(FaceCache(tiny_cache[0], "utkface"), "train")
    primary = FaceDataset(FaceCache(tiny_cache[0], "aihub"), "finetune_train")
    mix = MixedFaceDataset(primary, utk, share=0.25, seed=0)
    assert mix.n_extra == round(len(primary) / 3) and len(mix) == len(primary) + mix.n_extra
    assert len(mix.ages) == len(mix)
    np.testing.assert_array_equal(mix.ages[:len(primary)], primary.ages)
    assert set(mix.ages[len(primary):]) <= set(utk.ages)
    np.testing.assert_array_equal(mix.ages, MixedFaceDataset(primary, utk, 0.25, seed=0).ages)
    for i in (0, len(primary) - 1):
        assert torch.equal(mix[i][0], primary[i][0])
    torch.manual_seed(0)
    draws = [mix[len(primary)][1].item() for _ in range(30)]
    assert len(set(draws)) > 1 and set(draws) <= set(utk.ages.tolist())
    with pytest.raises(ValueError, match="share=1"):
        MixedFaceDataset(primary, utk, share=1)


@pytest.mark.parametrize("t,gap", [(3, 2), (4, 3), (5, 1)])
def test_tuples_are_ordered_with_gaps_and_labelled(tiny_cache, t, gap):
    c = FaceCache(tiny_cache[0], "aihub")
    ds = OrderTupleDataset(c, "pretext_train", t, gap, 5, fixed=True, seed=1)
    perms = permutations(t)
    labels = set()
    ident = c.manifest.set_index("index")["identity"]
    for i in range(len(ds)):
        rows, ages, label = ds.sample(i, np.random.default_rng([1, i]))
        assert len(set(ident[rows])) == 1                          # one person
        assert np.all(np.diff(ages) >= max(gap, 1e-6))             # increasing, with the gap
        photos, lab, shown_ages = ds[i]
        assert photos.shape == (t, 3, 32, 32)
        assert lab.item() == label
        # perm[k] is the age rank of the photo shown at k
        np.testing.assert_array_equal(shown_ages.numpy(), ages[perms[label].numpy()])
        labels.add(label)
    assert len(labels) > 1


def test_fixed_tuples_repeat_and_random_ones_vary(tiny_cache):
    c = FaceCache(tiny_cache[0], "aihub")
    fixed = OrderTupleDataset(c, "pretext_val", 4, 2, 3, fixed=True)
    assert torch.equal(fixed[1][0], fixed[1][0])
    rand = OrderTupleDataset(c, "pretext_train", 4, 2, 3)
    torch.manual_seed(0)
    draws = {tuple(rand.sample(0)[0]) + (rand.sample(0)[2],) for _ in range(10)}
    assert len(draws) > 1


def test_age_gap_curriculum_starts_wide_and_ends_at_the_minimum(tiny_cache):
    c = FaceCache(tiny_cache[0], "aihub")
    ds = OrderTupleDataset(c, "pretext_train", 3, 1, 4, gap_start=9)
    widest = [longest_chains(a, 9).max() >= 3 for _, a, _ in ds.identities]
    assert any(widest) and not all(widest)            # some people have the wide gap, some fall back
    min_gaps = {}
    for epoch in (0, 2, 4, 9):
        ds.set_epoch(epoch, 10)
        gaps = [np.diff(ds.sample(i)[1]).min() for i in range(len(ds))]
        min_gaps[epoch] = min(gaps)
        if epoch == 0:
            assert ds.min_gap == 9
            wide = [np.diff(ds.sample(k)[1]).min() >= 9 for k, w in enumerate(widest) if w]
            assert all(wide)                          # who has photos 9 years apart gets them
        assert min(gaps) >= 1
    assert ds.min_gap == 1 and min_gaps[9] < 9        # the minimum gap from the middle epoch on
    fixed = OrderTupleDataset(c, "pretext_train", 3, 1, 4, gap_start=0)
    fixed.set_epoch(0, 10)
    assert fixed.min_gap == 1


def test_impossible_gap_is_a_clear_error(tiny_cache):
    c = FaceCache(tiny_cache[0], "aihub")
    with pytest.raises(ValueError, match=r"min_age_gap=40.*no identity"):
        OrderTupleDataset(c, "pretext_train", 4, 40, 3)


def test_datasets_work_with_loader_workers(tiny_cache):
    c = FaceCache(tiny_cache[0], "aihub")
    ds = OrderTupleDataset(c, "pretext_train", 3, 2, 4)
    loader = DataLoader(ds, batch_size=4, num_workers=2, worker_init_fn=seed_worker)
    n = 0
    for photos, label, ages in loader:
        assert photos.shape[1:] == (3, 3, 32, 32)
        assert label.max() < math.factorial(3)
        n += len(label)
    assert n == len(ds)


def test_batch_augment_is_per_image_and_keeps_the_face():
    torch.manual_seed(0)
    x = torch.randint(0, 255, (1, 3, 32, 32), dtype=torch.uint8).expand(16, -1, -1, -1).clone()
    out = BatchAugment()(x)
    assert out.shape == (16, 3, 32, 32) and out.dtype == torch.float32
    flat = out.flatten(1)
    assert len({tuple(r.round(decimals=4).tolist()[:20]) for r in flat}) == 16   # each image changed its own way
    # with every change switched off, augmentation is plain normalisation
    ident = BatchAugment(scale=(1, 1), ratio=(1, 1), flip=0, brightness=0, contrast=0, saturation=0, grayscale=0)
    torch.testing.assert_close(ident(x), normalize_batch(x), atol=1e-4, rtol=0)
    # greyscale leaves equal channels
    grey = BatchAugment(grayscale=1.0)(x)
    torch.testing.assert_close(grey[:, 0], grey[:, 1])
    # a flip mirrors the image
    flip = BatchAugment(scale=(1, 1), ratio=(1, 1), flip=1.0, brightness=0, contrast=0, saturation=0, grayscale=0)
    torch.testing.assert_close(flip(x), normalize_batch(x).flip(-1), atol=1e-4, rtol=0)
