"""Dataset loaders on small synthetic .npz files and image folders; torchvision failures without network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vae import data as data_mod
from vae.config import ConfigError, DataConfig
from vae.data import DataError, UnknownDatasetError, config_from_info, load


def _npz(tmp_path, name="d.npz", **arrays):
    p = tmp_path / name
    np.savez(p, **arrays)
    return p


def test_digits_offline_split_is_deterministic():
    a, b = load(DataConfig()), load(DataConfig())
    assert a.train.x.shape[1:] == (1, 8, 8) and len(a.train) + len(a.test) == 1797
    assert torch.equal(a.test.x, b.test.x) and torch.equal(a.train.y, b.train.y)
    assert a.train.x.min() >= 0 and a.train.x.max() <= 1
    c = load(DataConfig(split_seed=1))
    assert not torch.equal(a.test.y, c.test.y)
    assert a.info["n_test"] == round(1797 * 0.2) and a.info["split"] == "random"
    assert len(load(DataConfig(limit=100)).train) == 100


def test_tail_split_keeps_file_order(tmp_path):
    x = np.arange(50, dtype=np.uint8)[:, None, None].repeat(4, 1).repeat(4, 2)  # image i is filled with i
    p = _npz(tmp_path, x=x, y=np.arange(50))
    s = load(DataConfig(name=str(p), test_fraction=0.2, split="tail"))
    assert s.train.y.tolist() == list(range(40)) and s.test.y.tolist() == list(range(40, 50))
    assert s.info["split"] == "tail"
    again = load(config_from_info(s.info))
    assert torch.equal(again.test.x, s.test.x)
    with pytest.raises(ConfigError) as e:
        DataConfig(split="middle")
    assert e.value.field == "split"


def test_npz_uint8_hw(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (20, 10, 12), dtype=np.uint8)
    s = load(DataConfig(name=str(_npz(tmp_path, x=x, y=np.arange(20) % 3))))
    full = torch.cat([s.train.x, s.test.x])
    assert full.shape == (20, 1, 10, 12) and full.dtype == torch.float32
    assert s.train.classes == ["0", "1", "2"]
    ref = torch.from_numpy(x.astype(np.float32) / 255)[:, None]
    assert torch.allclose(torch.sort(full.flatten(1).sum(1)).values, torch.sort(ref.flatten(1).sum(1)).values)


def test_npz_float_hwc_without_labels(tmp_path):
    x = np.random.default_rng(0).random((10, 6, 6, 3)).astype(np.float32)
    s = load(DataConfig(name=str(_npz(tmp_path, x=x))))
    assert s.train.shape == (3, 6, 6) and (s.train.y == -1).all() and s.train.classes == []
    one = np.random.default_rng(0).random((10, 6, 6, 1))
    assert load(DataConfig(name=str(_npz(tmp_path, "one.npz", x=one)))).train.shape == (1, 6, 6)


def test_npz_larger_than_64_is_resized(tmp_path):
    x = np.zeros((4, 128, 96), dtype=np.uint8)
    x[:, :64] = 255  # top half white
    s = load(DataConfig(name=str(_npz(tmp_path, x=x)), test_fraction=0.25))
    assert s.train.shape == (1, 64, 48)
    img = s.train.x[0, 0]
    assert img[:30].min() > 0.99 and img[34:].max() < 0.01 and img.min() >= 0 and img.max() <= 1


@pytest.mark.parametrize(
    "arrays, words",
    [
        ({"x": np.full((5, 4, 4), np.nan, dtype=np.float32)}, "NaN"),
        ({"x": np.full((5, 4, 4), 2.0)}, "[0, 1]"),
        ({"x": np.full((5, 4, 4), -0.5)}, "[0, 1]"),
        ({"x": np.zeros((5, 4, 4), dtype=np.int64)}, "uint8 or float"),
        ({"x": np.zeros((5, 16), dtype=np.uint8)}, "shape"),
        ({"x": np.zeros((5, 4, 4, 2), dtype=np.uint8)}, "shape"),
        ({"x": np.zeros((1, 4, 4), dtype=np.uint8)}, "at least 2"),
        ({"x": np.zeros((5, 4, 4), dtype=np.uint8), "y": np.arange(4)}, "labels"),
        ({"x": np.zeros((5, 4, 4), dtype=np.uint8), "y": np.linspace(0, 1, 5)}, "integer"),
        ({"images": np.zeros((5, 4, 4), dtype=np.uint8)}, "no array named 'x'"),
    ],
)
def test_bad_npz_gives_a_clear_error(tmp_path, arrays, words):
    with pytest.raises(DataError) as e:
        load(DataConfig(name=str(_npz(tmp_path, **arrays))))
    assert words in str(e.value)


def test_npz_with_objects_is_not_unpickled(tmp_path):
    p = tmp_path / "obj.npz"
    np.savez(p, x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError):
        load(DataConfig(name=str(p)))
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="not a readable"):
        load(DataConfig(name=str(tmp_path / "junk.npz")))


def test_unknown_names_and_missing_files():
    with pytest.raises(UnknownDatasetError, match="digits"):
        load(DataConfig(name="cifar-1000"))
    with pytest.raises(UnknownDatasetError, match="No .npz file"):
        load(DataConfig(name="/nonexistent/data.npz"))
    assert issubclass(UnknownDatasetError, DataError)  # callers that catch DataError still catch it


def _image_folder(tmp_path, size=(10, 8), mode="L"):
    from PIL import Image

    root = tmp_path / "imgs"
    for c, value in (("cats", 30), ("dogs", 200)):
        (root / c).mkdir(parents=True)
        for i in range(3):
            Image.new(mode, size, color=value if mode == "L" else (value, value, value)).save(root / c / f"{i}.png")
    return root


def test_image_folder(tmp_path):
    root = _image_folder(tmp_path)
    s = load(DataConfig(name=str(root), test_fraction=0.34))
    full_y = torch.cat([s.train.y, s.test.y])
    assert s.train.classes == ["cats", "dogs"] and sorted(full_y.tolist()) == [0, 0, 0, 1, 1, 1]
    assert s.train.shape == (1, 8, 10)  # PIL size is (W, H)
    x = torch.cat([s.train.x, s.test.x])
    means = {int(y): float(v) for y, v in zip(full_y, x.flatten(1).mean(1))}
    assert abs(means[0] - 30 / 255) < 1e-3 and abs(means[1] - 200 / 255) < 1e-3


def test_image_folder_resizes_large_rgb(tmp_path):
    s = load(DataConfig(name=str(_image_folder(tmp_path, size=(200, 100), mode="RGB")), test_fraction=0.34))
    assert s.train.shape == (1, 32, 64)


def test_image_folder_with_a_non_image_file(tmp_path):
    root = _image_folder(tmp_path)
    (root / "cats" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="notes.txt is not an image"):
        load(DataConfig(name=str(root)))
    (root / "cats" / "notes.txt").unlink()
    (root / "cats" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png could not be read"):
        load(DataConfig(name=str(root)))


def test_empty_image_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class subfolders"):
        load(DataConfig(name=str(tmp_path / "empty")))


def test_torchvision_without_network_says_where_and_offers_digits(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    calls = []

    class Offline:
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -3]>")

    monkeypatch.setattr(tvd, "MNIST", Offline)
    with pytest.raises(DataError) as e:
        load(DataConfig(name="mnist", data_dir=str(tmp_path)))
    msg = str(e.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "'digits'" in msg and "offline" in msg
    assert "download failed" in msg and calls == [(str(tmp_path), True, True)]
    with pytest.raises(DataError, match="files are missing"):
        load(DataConfig(name="mnist", data_dir=str(tmp_path), download=False))


def test_default_data_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))
    assert data_mod.default_data_dir() == tmp_path


def test_digits_fast_path_matches_scikit_learn():
    """The CSV read in vae.data must give exactly what sklearn.datasets.load_digits gives."""
    from sklearn.datasets import load_digits

    from vae.data import _digits_arrays

    images, target = _digits_arrays()
    ref = load_digits()
    np.testing.assert_array_equal(images, ref.images)
    np.testing.assert_array_equal(target, ref.target)


def test_npz_declaring_too_much_memory_is_refused_before_decompressing(tmp_path, monkeypatch):
    import vae.data as data_mod
    import vae.npz as npz_mod

    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x=np.zeros((400, 64, 64), np.uint8))  # 1.6 M values: 6.25 MB as float32
    monkeypatch.setenv("VAE_MAX_DATASET_MB", "4")
    read = []
    monkeypatch.setattr(npz_mod, "_read_images", lambda *a: read.append(a))  # must never be reached
    with pytest.raises(DataError, match=r"\(400, 64, 64\) would take .* in memory"):
        data_mod.load(DataConfig(name=str(path)))
    assert read == []


def test_npz_labels_become_indices_into_named_classes(tmp_path):
    path = tmp_path / "sparse-labels.npz"
    y = np.array([3, 7, 7, 3, 7, 3, 3, 7, 3, 7])
    np.savez(path, x=np.random.default_rng(0).integers(0, 256, (10, 8, 8), dtype=np.uint8), y=y)
    split = load(DataConfig(name=str(path), test_fraction=0.5))
    assert split.train.classes == ["3", "7"]
    for part in (split.train, split.test):
        names = [part.classes[i] for i in part.y.tolist()]
        assert set(names) <= {"3", "7"} and len(names) == len(part)
    assert sorted(split.train.y.tolist() + split.test.y.tolist()) == [0] * 5 + [1] * 5
