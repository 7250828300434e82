import numpy as np
import pytest
import torch
from PIL import Image

from reconstruction_defense.data.datasets import (
    DATA_ENV,
    DataNotFoundError,
    check_images,
    data_root,
    load_dataset,
    subset_indices,
)
from reconstruction_defense.data.splits import validation_indices


def test_mnist_real_statistics():
    train = load_dataset("mnist", "train")
    assert train.images.shape == (55_000, 1, 28, 28) and train.images.dtype == torch.float32
    assert abs(train.images.mean().item() - 0.1307) < 1e-3  # the well-known constant
    assert 0 <= train.images.min() and train.images.max() <= 1
    test = load_dataset("fashion_mnist", "test")
    assert len(test) == 10_000 and torch.bincount(test.labels).tolist() == [1000] * 10
    assert test.info.display_name == "Fashion-MNIST"


def test_subsets_are_deterministic_and_seeded():
    a = load_dataset("mnist", "test", n=50, seed=3)
    b = load_dataset("mnist", "test", n=50, seed=3)
    c = load_dataset("mnist", "test", n=50, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.indices, c.indices)
    assert torch.equal(subset_indices(100, None, 0), torch.arange(100))
    with pytest.raises(ValueError, match="n must be >= 1"):
        subset_indices(100, 0, 0)


@pytest.mark.parametrize("name, files", [("mnist", 60_000), ("cifar10", 50_000)])
def test_validation_is_held_out_of_training_whatever_the_seed(name, files):
    """The validation split is a fixed draw out of the training files: every seed's training
    draw misses it, train and validation together are the training files, and it has every class."""
    validation = load_dataset(name, "validation")
    assert validation.split == "validation" and len(validation) == 5000
    assert torch.equal(validation.indices, validation_indices(files))
    assert torch.bincount(validation.labels).min() > 400  # a uniform draw, not one class (CIFAR's files are sorted)
    for seed in (0, 1, 7):
        drawn = load_dataset(name, "train", n=2000, seed=seed)
        assert drawn.split == "train" and not torch.isin(drawn.indices, validation.indices).any()
    if name == "mnist":
        train = load_dataset(name, "train")
        assert torch.equal(torch.cat([train.indices, validation.indices]).sort().values, torch.arange(files))
        assert torch.equal(load_dataset(name, "validation", n=100, seed=3).images, validation.sample(100, 3).images)


def test_cifar10_jpeg_copy_is_labelled_as_such():
    test = load_dataset("cifar10", "test", n=200, seed=0)
    assert test.images.shape == (200, 3, 32, 32)
    assert test.info.display_name == "CIFAR-10 (JPEG q75 copy)"
    assert test.info.classes[0] == "airplane" and test.info.classes[9] == "truck"
    assert abs(test.images.mean().item() - 0.47) < 0.03


def test_the_jpeg_copy_is_decoded_once_and_each_load_gets_its_own_copy(monkeypatch):
    from reconstruction_defense.data import datasets as data

    data._decoded_folder.cache_clear()
    opened = []
    monkeypatch.setattr(data, "_open_image", lambda file, _open=data._open_image: opened.append(file) or _open(file))
    first = load_dataset("cifar10", "test", n=300, seed=5)
    decoded = len(opened)
    assert decoded >= 10_000  # the whole split, once
    again = load_dataset("cifar10", "test", n=300, seed=5)
    assert len(opened) == decoded  # the second load decoded nothing
    assert torch.equal(first.images, again.images) and torch.equal(first.indices, subset_indices(10_000, 300, 5))
    first.images.zero_()  # a caller that writes into its set does not change the next load
    assert torch.equal(load_dataset("cifar10", "test", n=300, seed=5).images, again.images)
    data._decoded_folder.cache_clear()


def test_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    assert data_root("explicit") == data_root("explicit").__class__("explicit")
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv(DATA_ENV)
    assert str(data_root()) == "data"


def test_missing_data_names_directory_files_and_variable(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_dataset("mnist", root=tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path) in message and "t10k-images-idx3-ubyte" in message and DATA_ENV in message
    with pytest.raises(DataNotFoundError, match="cifar10-jpeg"):
        load_dataset("cifar10", root=tmp_path, download=False)


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="valid: mnist, fashion_mnist, cifar10"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="one of train, validation, test"):
        load_dataset("mnist", "val")


def _write_folder(root, mode, size, per_class=3):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(per_class):
                shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
                Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / split / cls / f"{i}.png")


@pytest.mark.parametrize("mode,channels", [("L", 1), ("RGB", 3)])
def test_image_folder(tmp_path, mode, channels):
    root = tmp_path / "pets"
    _write_folder(root, mode, (12, 10))
    data = load_dataset(str(root), "train")
    assert data.images.shape == (6, channels, 10, 12)
    assert data.info.name == "pets" and data.info.classes == ("cat", "dog")
    with pytest.raises(ValueError, match="too few to hold out a validation split"):
        load_dataset(str(root), "validation")
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    first = np.asarray(Image.open(root / "train" / "cat" / "0.png").convert(mode), dtype=np.float32)
    expected = torch.from_numpy(first / 255)
    assert torch.allclose(data.images[0].squeeze(0) if channels == 1 else data.images[0].permute(1, 2, 0), expected)


def test_image_folder_mixed_sizes_and_missing_split(tmp_path):
    root = tmp_path / "mixed"
    _write_folder(root, "L", (8, 8))
    Image.fromarray(np.zeros((9, 9), dtype=np.uint8), "L").save(root / "test" / "dog" / "9.png")
    with pytest.raises(ValueError, match="9.png is 9x9.*resize"):
        load_dataset(str(root), "test")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="cannot read image folder"):
        load_dataset(str(tmp_path / "empty"), "train")


@pytest.mark.parametrize(
    "bad,match",
    [
        (torch.full((1, 1, 2, 2), float("nan")), "NaN"),
        (torch.full((1, 1, 2, 2), 1.5), r"\[0, 1\]"),
        (torch.full((1, 1, 2, 2), -0.1), r"\[0, 1\]"),
        (torch.rand(1, 2, 2), "shape"),
        (torch.zeros(1, 1, 2, 2, dtype=torch.uint8), "float"),
    ],
)
def test_check_images(bad, match):
    with pytest.raises(ValueError, match=match):
        check_images(bad)


def test_a_sample_of_cifar10_holds_every_class_where_its_head_does_not():
    """CIFAR-10's folders store the images by class, so the first 100 of a drawn test set are
    almost all airplanes; every result on part of a split takes a seeded sample."""
    test = load_dataset("cifar10", "test", n=1000, seed=0)
    assert len(test.head(100).labels.unique()) <= 3  # what the 100-image attacks once saw
    small, large = test.sample(100), test.sample(200)
    assert len(small.labels.unique()) == 10 and small.labels.bincount().max() <= 20
    assert set(small.indices.tolist()) <= set(large.indices.tolist())  # nested: shared images
    assert len(test.sample(None)) == len(test.sample(5000)) == 1000
    assert not torch.equal(test.sample(100, seed=1).indices, small.indices)
