"""Where things live: FACELIB_HOME, one cache (and default outputs) per data folder."""
import pytest

from facelib.paths import get_paths


@pytest.fixture
def project(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "facelib").mkdir()
    return tmp_path


def test_facelib_home_holds_data_weights_and_outputs(project, tmp_path, monkeypatch):
    home = tmp_path / "drive" / "facelib"
    monkeypatch.setenv("FACELIB_HOME", str(home))
    p = get_paths("smoke", root=project)
    assert p.home == home and p.root == project
    assert p.data_root == home / "data" / "synthetic" / "smoke" and p.cache_dir == home / "data" / "cache" / "smoke-synthetic"
    assert p.weights_dir == home / "weights" and p.out_dir == home / "outputs"
    assert p.rel(home / "outputs" / "seed0" / "results" / "x.json") == "outputs/seed0/results/x.json"
    monkeypatch.delenv("FACELIB_HOME")
    assert get_paths("smoke", root=project).weights_dir == project / "weights"


def test_each_data_folder_has_its_own_cache_and_default_outputs(project, tmp_path):
    a, b = tmp_path / "public", tmp_path / "korean"
    for d in (a, b):
        (d / "utkface").mkdir(parents=True)
    pa, pb = get_paths("demo", str(a), root=project), get_paths("demo", str(b), root=project)
    assert pa.cache_dir != pb.cache_dir and pa.out_dir != pb.out_dir and pa.weights_dir != pb.weights_dir
    assert pa.out_dir == project / "outputs" / pa.data_id and pa.data_id.startswith("public-")
    assert get_paths("demo", str(a), root=project) == pa                    # the same folder: the same paths
    explicit = get_paths("demo", str(a), out_dir=str(tmp_path / "mine"), weights_dir="w", root=project)
    assert explicit.out_dir == tmp_path / "mine" and explicit.weights_dir == project / "w"
    demo = get_paths("demo", root=project)                                  # the synthetic demo
    assert demo.out_dir == project / "outputs" and demo.data_id == "synthetic-demo"
