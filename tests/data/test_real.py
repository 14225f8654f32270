"""Real data offline: digits, MNIST-1D, user files, preprocessing, bad files."""

from __future__ import annotations

import math
import random
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import robustlaw.data as rd
from robustlaw.data import real

F64 = torch.float64


def test_digits_normalized_and_classes():
    X, y, meta = rd.load_dataset("digits", labels=False, dtype=F64)
    assert X.shape == (1797, 64) and y is None
    assert float(X.mean(dim=0).abs().max()) < 1e-12
    assert float(X.norm(dim=1).mean()) == pytest.approx(1.0, abs=1e-12)
    assert meta.intrinsic_dim is None and meta.isoperimetry_c is None
    assert meta.params["split"] == "all" and meta.params["scale"] > 0

    from sklearn.datasets import load_digits

    target = load_digits().target
    X2, y2, meta2 = rd.load_dataset("digits", classes=(3, 5))
    assert X2.shape[0] == int(((target == 3) | (target == 5)).sum())
    assert int((y2 == 1).sum()) == int((target == 3).sum())
    assert meta2.labels == "classes" and meta2.label_params["classes"] == [3.0, 5.0]
    _, y3, _ = rd.load_dataset("digits", classes=0)
    assert y3.shape == (1797,) and int((y3 == 1).sum()) == int((target == 0).sum())
    _, y4, meta4 = rd.load_dataset("digits", rescale=True)
    assert float(y4.min()) == -1.0 and float(y4.max()) == 1.0
    assert meta4.label_params["rescaled_from"] == [0.0, 9.0]


def test_digits_raw_labels_need_an_explicit_choice():
    with pytest.raises(ValueError, match=r"lie in \[0, 9\], outside \[-1, 1\]"):
        rd.load_dataset("digits")


def test_label_noise_injection():
    clean = rd.load_dataset("digits", classes=(1, 7), seed=0)
    noisy = rd.load_dataset("digits", classes=(1, 7), flip_prob=0.2, seed=0)
    q = 0.2
    assert noisy.meta.noise_level == pytest.approx(4 * q * (1 - q))
    assert noisy.meta.noise_level_kind == "lower_bound"
    assert clean.meta.noise_level is None
    flipped = float((clean.y != noisy.y).double().mean())
    n = clean.y.shape[0]
    assert abs(flipped - q) <= 5 * math.sqrt(q * (1 - q) / n)
    assert torch.equal(clean.X, noisy.X)
    again = rd.load_dataset("digits", classes=(1, 7), flip_prob=0.2, seed=0)
    assert torch.equal(again.y, noisy.y)


def test_mnist1d_generated_offline_with_global_state_restored():
    real._mnist1d_default.cache_clear()  # generate now, not from an earlier test's cache
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    train = rd.load_dataset("mnist1d", classes=(0, 1), normalize=False, dtype=F64)
    assert random.getstate() == python_state
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(after[1], numpy_state[1]) and after[2] == numpy_state[2]
    assert train.meta.params["split"] == "train"
    full = rd.load_dataset("mnist1d", labels=False, normalize=False, dtype=F64)
    test = rd.load_dataset("mnist1d", split="test", labels=False, normalize=False, dtype=F64)
    both = rd.load_dataset("mnist1d", split="all", labels=False, normalize=False, dtype=F64)
    assert full.X.shape == (4000, 40) and test.X.shape == (1000, 40)
    assert both.X.shape == (5000, 40)
    assert torch.equal(both.X[:4000], full.X)
    # generation is deterministic
    assert torch.equal(
        rd.load_dataset("mnist1d", labels=False, dtype=F64).X,
        rd.load_dataset("mnist1d", labels=False, dtype=F64).X,
    )


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"robustlaw\[data\]"):
        rd.load_dataset("digits", labels=False)
    real._mnist1d_default.cache_clear()
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r"robustlaw\[data\]"):
        rd.load_dataset("mnist1d", labels=False)


def test_missing_pyarrow_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"robustlaw\[parquet\]"):
        rd.save_dataset(tmp_path / "a.parquet", np.ones((3, 2)))


@pytest.fixture
def data():
    gen = np.random.default_rng(0)
    X = gen.normal(size=(40, 5))
    y = np.where(gen.random(40) < 0.5, 1.0, -1.0)
    return X, y


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".parquet"])
def test_file_round_trip_with_labels(tmp_path, data, suffix):
    X, y = data
    path = rd.save_dataset(tmp_path / f"points{suffix}", X, y)
    Xl, yl, meta = rd.load_dataset(path, normalize=False, dtype=F64)
    assert np.array_equal(Xl.numpy(), X) and np.array_equal(yl.numpy(), y)
    assert meta.distribution == f"file:points{suffix}" and meta.labels == "raw"
    normalized = rd.load_dataset(path, dtype=F64).X
    assert float(normalized.norm(dim=1).mean()) == pytest.approx(1.0)


def test_npy_round_trip_and_custom_names(tmp_path, data):
    X, y = data
    Xl, yl, _ = rd.load_dataset(rd.save_dataset(tmp_path / "x.npy", X), normalize=False, dtype=F64)
    assert np.array_equal(Xl.numpy(), X) and yl is None
    npz = rd.save_dataset(tmp_path / "c.npz", X, y, features_key="feat", labels_key="lab")
    _, yl2, _ = rd.load_dataset(npz, features_key="feat", labels_key="lab", dtype=F64)
    assert np.array_equal(yl2.numpy(), y)
    csv = rd.save_dataset(tmp_path / "c.csv", X, y, label_column="target")
    _, yl3, _ = rd.load_dataset(csv, label_column="target", dtype=F64)
    assert np.array_equal(yl3.numpy(), y)


def test_normalize_features_applies_a_training_normalization():
    train = torch.randn(50, 3, dtype=F64, generator=torch.Generator().manual_seed(0)) + 4
    test = torch.randn(20, 3, dtype=F64, generator=torch.Generator().manual_seed(1)) + 4
    normed, center, scale = rd.normalize_features(train)
    assert float(normed.norm(dim=1).mean()) == pytest.approx(1.0)
    applied, _, _ = rd.normalize_features(test, center, scale)
    assert torch.allclose(applied, (test - center) / scale)


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _write(p / "a.txt", "1,2"), "unknown file type"),
        (lambda p: _write(p / "a", "1,2"), "unknown file type"),
        (lambda p: _write(p / "a.csv", ""), "empty"),
        (lambda p: _write(p / "a.csv", "x0,x1\n"), "no rows"),
        (lambda p: _write(p / "a.csv", "x0,x1\n1,\n2,3\n"), "NaN"),
        (lambda p: _write(p / "a.csv", "x0,x1\n1,inf\n2,3\n"), "NaN or infinite"),
        (lambda p: _write(p / "a.csv", "name,x1\na,1\nb,2\n"), "not numeric"),
        (lambda p: _write(p / "a.csv", "y\n1\n-1\n"), "no feature columns"),
        (lambda p: _write(p / "a.csv", "x0,y\n1,1\n2,3\n"), r"outside \[-1, 1\]"),
        (lambda p: _write(p / "a.csv", "x0,y\n1,a\n2,b\n"), "label column 'y'"),
    ],
)
def test_bad_files(tmp_path, make, message):
    with pytest.raises(ValueError, match=message):
        rd.load_dataset(make(tmp_path))


def test_bad_arrays(tmp_path):
    np.savez(tmp_path / "nox.npz", features=np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"no features array 'X'; arrays found: \['features'\]"):
        rd.load_dataset(tmp_path / "nox.npz")
    np.save(tmp_path / "flat.npy", np.ones(5))
    with pytest.raises(ValueError, match="must be 2-D"):
        rd.load_dataset(tmp_path / "flat.npy")
    np.save(tmp_path / "empty.npy", np.ones((0, 3)))
    with pytest.raises(ValueError, match="empty"):
        rd.load_dataset(tmp_path / "empty.npy")
    np.save(tmp_path / "ragged.npy", np.array([[1.0], [1.0, 2.0]], dtype=object))
    with pytest.raises(ValueError, match="not a plain numeric"):
        rd.load_dataset(tmp_path / "ragged.npy")
    np.savez(tmp_path / "short.npz", X=np.ones((3, 2)), y=np.ones(2))
    with pytest.raises(ValueError, match=r"shape \(2,\), expected \(3,\)"):
        rd.load_dataset(tmp_path / "short.npz")
    np.savez(tmp_path / "naninf.npz", X=np.array([[1.0, np.inf], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        rd.load_dataset(tmp_path / "naninf.npz")
    np.savez(tmp_path / "nanlab.npz", X=np.ones((2, 2)), y=np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="NaN/inf"):
        rd.load_dataset(tmp_path / "nanlab.npz")
    rd.save_dataset(tmp_path / "ok.csv", np.ones((3, 2)) + np.eye(3, 2))
    with pytest.raises(ValueError, match="no label column 'target'"):
        rd.load_dataset(tmp_path / "ok.csv", label_column="target")
    with pytest.raises(FileNotFoundError):
        rd.load_dataset(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "digits", "classes": (3, 11)}, "class 11 does not occur"),
        ({"source": "digits", "classes": (3, 3)}, "two different classes"),
        ({"source": "digits", "classes": (1, 2, 3)}, "one class"),
        ({"source": "digits", "classes": 3, "rescale": True}, "not both"),
        ({"source": "digits", "flip_prob": 0.1, "rescale": True}, r"\+-1 labels"),
        ({"source": "digits", "flip_prob": 0.7, "classes": 3}, "flip_prob"),
        ({"source": "digits", "labels": False, "classes": 3}, "need labels"),
        ({"source": "digits", "split": "train"}, "split must be 'all'"),
        ({"source": "mnist1d", "split": "validation"}, "split must be"),
        ({"source": "digits", "seed": -3}, "seed"),
    ],
)
def test_bad_preprocessing(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rd.load_dataset(**kwargs)


def test_constant_labels_and_points(tmp_path):
    rd.save_dataset(tmp_path / "c.npz", np.arange(6.0).reshape(3, 2), np.full(3, 2.0))
    with pytest.raises(ValueError, match="constant"):
        rd.load_dataset(tmp_path / "c.npz", rescale=True)
    rd.save_dataset(tmp_path / "same.npy", np.ones((4, 2)))
    with pytest.raises(ValueError, match="all points equal"):
        rd.load_dataset(tmp_path / "same.npy")
    pd.DataFrame({"x0": [1.0, 2.0], "y": [0.5, -0.25]}).to_csv(tmp_path / "r.csv", index=False)
    _, y, meta = rd.load_dataset(tmp_path / "r.csv", dtype=F64)
    assert y.tolist() == [0.5, -0.25] and meta.noise_level is None
