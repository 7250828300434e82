"""The fast training recipe of the faithful stand-ins: augmentation keyed by image and
epoch, the one-cycle schedule, and a cache key that leaves the default recipe's models valid."""

import torch

from reconstruction_defense.config.profiles import ClassifierConfig
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.evaluation.scoring import predict
from reconstruction_defense.method import build_classifier
from reconstruction_defense.training.loops import classifier_epoch, fit
from reconstruction_defense.training.recipe import one_cycle, shifts_and_flips
from reconstruction_defense.training.zoo import recipe_changes


def test_an_images_augmentation_does_not_depend_on_its_batch(mnist_test):
    x, n = mnist_test.images[:64], 64
    augment = shifts_and_flips(n, seed=0, epoch=3, max_shift=2, flip=True)
    whole = augment(x, torch.arange(n))
    halves = torch.cat([augment(x[:20], torch.arange(20)), augment(x[20:], torch.arange(20, n))])
    assert torch.equal(whole, halves)
    assert not torch.equal(whole, shifts_and_flips(n, 0, 4, 2, True)(x, torch.arange(n)))  # a new draw per epoch
    # each image is its original, translated by at most 2 pixels and perhaps mirrored
    for i in range(n):
        padded = torch.nn.functional.pad(x[i], [2, 2, 2, 2])
        candidates = [padded[:, dy : dy + 28, dx : dx + 28] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(whole[i], c) or torch.equal(whole[i], c.flip(-1)) for c in candidates)
    unflipped = shifts_and_flips(n, 0, 3, 0, False)(x, torch.arange(n))
    assert torch.equal(unflipped, x)


def test_the_one_cycle_rate_rises_to_its_peak_then_falls_to_almost_nothing():
    rates = [one_cycle(0.2, p / 100) for p in range(101)]
    peak = rates.index(max(rates))
    assert max(rates) == 0.2 and peak == 20
    assert all(a < b for a, b in zip(rates[:peak], rates[1 : peak + 1]))
    assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1 :])) and rates[-1] < 0.001


def test_the_default_recipe_keeps_its_cache_keys_and_the_fast_one_is_keyed(mnist_test):
    assert recipe_changes(ClassifierConfig("lenet", 2), mnist_test) == {}
    fast = ClassifierConfig(
        "fast_cnn", 4, lr=0.2, optimizer="sgd", schedule="one_cycle", augment=True, dataset_epochs=(("mnist", 3),)
    )
    assert recipe_changes(fast, mnist_test) == {"optimizer": "sgd", "schedule": "one_cycle", "max_shift": 2}
    fashion = load_dataset("fashion_mnist", "test", n=10)
    assert recipe_changes(fast, fashion)["flip"] and "flip" not in recipe_changes(
        fast, mnist_test
    )  # no mirrored digits
    assert (fast.epochs_for("mnist"), fast.epochs_for("fashion_mnist")) == (3, 4)


def test_the_fast_cnn_learns_mnist_with_the_fast_recipe(mnist_train, mnist_test):
    torch.manual_seed(0)
    model = build_classifier("fast_cnn", mnist_train.info)
    train = mnist_train.head(3000)
    epoch_fn = classifier_epoch(train, 128, 0, label_smoothing=0.1, max_shift=2, lr_at=lambda t: one_cycle(0.2, t / 2))
    fit(model, epoch_fn, 2, 0.2, {}, optimizer="sgd", weight_decay=5e-4)
    accuracy = (predict(model, mnist_test.images) == mnist_test.labels).float().mean().item()
    assert accuracy > 0.95, accuracy
