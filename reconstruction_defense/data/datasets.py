"""Datasets as float tensors in [0, 1]: MNIST, Fashion-MNIST, CIFAR-10 and any image folder.

No normalization here (attacks need [0, 1] inputs; classifiers normalize inside). The data root
is an explicit argument, else ``$RECDEF_DATA``, else ``./data``.

The three splits, train / validation / test, are drawn by :mod:`.splits`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import datasets

from .splits import SPLITS, files_of, split_indices, subset_indices

DATA_ENV = "RECDEF_DATA"
JPEG_COPY_DIR = "cifar10-jpeg"
BUILTIN = ("mnist", "fashion_mnist", "cifar10")


class DataNotFoundError(FileNotFoundError):
    """The dataset files are not where we looked and could not be downloaded."""


class DataUnreadableError(OSError):
    """The dataset files are there but cannot be read (truncated, corrupt or not images)."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset: shape, classes, normalization constants."""

    name: str
    display_name: str  # what every table and figure prints
    channels: int
    size: tuple[int, int]
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass
class ImageSet:
    """A labelled set of images (N, C, H, W) in [0, 1], with the split (:data:`SPLITS`) and the
    indices in that split's files it was drawn from."""

    images: torch.Tensor
    labels: torch.Tensor
    info: DatasetInfo
    indices: torch.Tensor
    split: str

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int | None) -> ImageSet:
        """The first ``n`` images (all if None); CIFAR-10 is stored by class: results take :meth:`sample`."""
        return ImageSet(self.images[:n], self.labels[:n], self.info, self.indices[:n], self.split)

    def sample(self, n: int | None, seed: int = 0) -> ImageSet:
        """A seeded random ``n`` of the images (:func:`subset_indices`); a smaller sample nests in a larger one."""
        keep = subset_indices(len(self), n, seed)
        return ImageSet(self.images[keep], self.labels[keep], self.info, self.indices[keep], self.split)


_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_DIGITS = tuple(str(i) for i in range(10))
_FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

INFOS = {
    "mnist": DatasetInfo("mnist", "MNIST", 1, (28, 28), _DIGITS, (0.1307,), (0.3081,)),
    "fashion_mnist": DatasetInfo("fashion_mnist", "Fashion-MNIST", 1, (28, 28), _FASHION, (0.2860,), (0.3530,)),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR-10", 3, (32, 32), _CIFAR, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    ),
}


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data directory: ``root`` if given, else ``$RECDEF_DATA``, else ``./data``."""
    return Path(root if root is not None else os.environ.get(DATA_ENV, "data")).expanduser()


def load_dataset(
    name: str,
    split: str = "test",
    *,
    root: str | os.PathLike | None = None,
    n: int | None = None,
    seed: int = 0,
    download: bool = True,
) -> ImageSet:
    """Load ``split`` ('train', 'validation' or 'test', see the module's docstring) of a dataset
    as an :class:`ImageSet` in [0, 1].

    ``name`` is one of ``mnist``, ``fashion_mnist``, ``cifar10`` (the datasets of the paper's
    Experiment section) or the path of an image folder with ``train/<class>/*`` and
    ``test/<class>/*``. ``n``/``seed`` draw a deterministic subset.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)} (got {split!r})")
    if name in ("mnist", "fashion_mnist"):
        return _load_mnist_family(name, split, data_root(root), n, seed, download)
    if name == "cifar10":
        return _load_cifar10(split, data_root(root), n, seed, download)
    if Path(name).expanduser().is_dir():
        return load_image_folder(Path(name).expanduser(), split, n=n, seed=seed)
    raise ValueError(
        f"unknown dataset {name!r}; valid: {', '.join(BUILTIN)}, "
        "or the path of an image folder with train/<class>/ and test/<class>/"
    )


def _missing(name: str, root: Path, expected: str) -> DataNotFoundError:
    return DataNotFoundError(
        f"{name} not found in {root.resolve()} (expected {expected}) and it could not be "
        f"downloaded. Put the files there, or point the data root (--data-root, "
        f"${DATA_ENV} or root=) at the directory that holds them."
    )


def _load_mnist_family(name, split, root, n, seed, download) -> ImageSet:
    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    try:
        ds = cls(str(root), train=files_of(split) == "train", download=False)
    except (RuntimeError, ValueError) as err:
        raw = root / cls.__name__ / "raw"
        _raise_if_present_but_unreadable(raw, files_of(split), err)
        ds = _try_download(
            lambda: cls(str(root), train=files_of(split) == "train", download=True), download, [raw, raw.parent, root]
        )
        if ds is None and download:  # the archives were there to extract, yet it failed
            _raise_if_present_but_unreadable(raw, files_of(split), err, ".gz")
        if ds is None:
            raise _missing(
                INFOS[name].display_name, root, f"{cls.__name__}/raw/ with {', '.join(_MNIST_FILES)}"
            ) from None
    idx = split_indices(split, len(ds.targets), n, seed)
    images = ds.data[idx].unsqueeze(1).float().div_(255)
    return ImageSet(images, ds.targets[idx].long(), INFOS[name], idx, split)


def _raise_if_present_but_unreadable(raw: Path, split: str, err: Exception, suffix: str = "") -> None:
    """A split whose files (``suffix`` ``.gz``: whose archives, which torchvision could not
    check or extract) are all there but failed to load is damaged, not missing: say so."""
    files = [raw / (f + suffix) for f in _MNIST_FILES if f.startswith("train" if split == "train" else "t10k")]
    if all(f.is_file() for f in files):
        raise DataUnreadableError(
            f"{' and '.join(str(f) for f in files)} exist but cannot be read ({err}): a file is "
            "truncated or corrupt. Replace them with intact copies (or delete them to download "
            "again when online)."
        ) from None


def _load_cifar10(split, root, n, seed, download) -> ImageSet:
    try:
        ds = datasets.CIFAR10(str(root), train=files_of(split) == "train", download=False)
    except RuntimeError:
        if (root / JPEG_COPY_DIR / files_of(split)).is_dir():
            folder = _decoded_folder(root / JPEG_COPY_DIR, files_of(split))
            info = DatasetInfo(
                "cifar10", "CIFAR-10 (JPEG q75 copy)", 3, (32, 32), _CIFAR, INFOS["cifar10"].mean, INFOS["cifar10"].std
            )
            if folder.info.classes != _CIFAR:
                raise DataNotFoundError(
                    f"{root / JPEG_COPY_DIR} has classes {folder.info.classes}, not CIFAR-10's {_CIFAR}"
                ) from None
            idx = split_indices(split, len(folder), n, seed)  # as load_image_folder draws them; a copy
            return ImageSet(folder.images[idx], folder.labels[idx], info, idx, split)
        ds = _try_download(
            lambda: datasets.CIFAR10(str(root), train=files_of(split) == "train", download=True), download, [root]
        )
        if ds is None:
            raise _missing(
                "CIFAR-10", root, f"cifar-10-batches-py/ (torchvision) or {JPEG_COPY_DIR}/{{train,test}}/<class>/*.jpg"
            ) from None
    idx = split_indices(split, len(ds.targets), n, seed)
    images = torch.from_numpy(ds.data[idx.numpy()]).permute(0, 3, 1, 2).float().div_(255)
    return ImageSet(images, torch.tensor(ds.targets)[idx].long(), INFOS["cifar10"], idx, split)


@functools.lru_cache(maxsize=2)
def _decoded_folder(path: Path, files: str) -> ImageSet:
    """All of an image folder's ``files`` (train/ or test/), decoded once per process (CIFAR-10's
    50,000: about 15 s)."""
    return _read_image_folder(path, files, torch.arange)


def _try_download(make, allowed: bool, folders: list[Path]):
    """``make()``, or None if downloading is not allowed or fails; a failed attempt removes the
    ``folders`` (innermost first) it created and left empty."""
    if not allowed:
        return None
    new = [f for f in folders if not f.exists()]
    try:
        return make()
    except (RuntimeError, OSError, ValueError):  # no network, mirror down, bad checksum
        for folder in new:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return None


def load_image_folder(path: str | os.PathLike, split: str = "test", *, n: int | None = None, seed: int = 0) -> ImageSet:
    """Load ``split`` of ``path/{train,test}/<class>/*`` (torchvision ImageFolder layout; the
    ``validation`` split is held out of ``train/``) as an :class:`ImageSet`.

    Name, channel count (1 for greyscale files, else 3), size and class names come from the
    folder; every image must have the size of the first one.
    """
    return _read_image_folder(Path(path), split, lambda total: split_indices(split, total, n, seed))


def _read_image_folder(path: Path, split: str, pick: Callable[[int], torch.Tensor]) -> ImageSet:
    """The images ``pick(number of files)`` of ``split``'s files under ``path``, decoded."""
    split_dir = path / files_of(split)
    try:
        folder = datasets.ImageFolder(str(split_dir))
    except (FileNotFoundError, OSError) as err:
        raise DataNotFoundError(
            f"cannot read image folder {split_dir}: {err}. Expected {split_dir}/<class>/<image files>."
        ) from None
    idx = pick(len(folder.samples))
    first = _open_image(folder.samples[0][0])
    mode, size = ("L" if first.mode in ("L", "1", "I;16", "I") else "RGB"), first.size
    arrays = []
    for i in idx.tolist():
        file, _ = folder.samples[i]
        img = _open_image(file)
        if img.size != size:
            raise ValueError(
                f"{file} is {img.size[0]}x{img.size[1]}, but the first image of "
                f"{split_dir} is {size[0]}x{size[1]}: resize the folder to one size"
            )
        arrays.append(np.asarray(img.convert(mode), dtype=np.uint8))
    stacked = torch.from_numpy(np.stack(arrays))
    images = (stacked.unsqueeze(1) if mode == "L" else stacked.permute(0, 3, 1, 2)).float().div_(255)
    channels = images.shape[1]
    info = DatasetInfo(
        path.name, path.name, channels, (size[1], size[0]), tuple(folder.classes), (0.5,) * channels, (0.25,) * channels
    )
    labels = torch.tensor([folder.targets[i] for i in idx.tolist()], dtype=torch.long)
    return ImageSet(images, labels, info, idx, split)


def _open_image(file: str) -> Image.Image:
    """Decode one image file completely, or raise one error that names it."""
    try:
        with Image.open(file) as img:
            img.load()
            return img
    except OSError as err:  # PIL's UnidentifiedImageError, truncated files
        raise DataUnreadableError(f"cannot read image {file} ({err}): replace or remove it") from None


def check_images(x: torch.Tensor, what: str = "images") -> None:
    """Raise a clear error unless ``x`` is a float batch (N, C, H, W) in [0, 1] without NaN."""
    if not torch.is_tensor(x) or not x.is_floating_point() or x.dim() != 4:
        raise ValueError(
            f"{what} must be a float tensor of shape (N, C, H, W); got "
            f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}"
        )
    if torch.isnan(x).any():
        raise ValueError(f"{what} contain NaN")
    lo, hi = x.min().item(), x.max().item()
    if lo < 0 or hi > 1:
        raise ValueError(
            f"{what} must lie in [0, 1] (got min {lo:.3g}, max {hi:.3g}); do not normalize outside the model"
        )
