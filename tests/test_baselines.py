"""Table 4's baselines on real images: IBM ART as the oracle for the squeezers and JPEG,
ComDefend trained briefly on real MNIST, PixelDefend's PixelCNN on real Fashion-MNIST, and
every bad parameter."""

import math

import numpy as np
import pytest
import torch
from art.defences.preprocessor import FeatureSqueezing as ArtSqueezing
from art.defences.preprocessor import JpegCompression, SpatialSmoothing

from reconstruction_defense.attacks.registry import run_attack
from reconstruction_defense.data.datasets import load_dataset
from reconstruction_defense.evaluation.scoring import predict, psnr
from reconstruction_defense.method.baselines import (
    ComDefend,
    FeatureSqueezing,
    JPEGCompression,
    PixelCNN,
    PixelDefend,
    SqueezeDetector,
    median_smooth,
)
from reconstruction_defense.training.loops import comdefend_epoch, fit, pixelcnn_epoch


@pytest.fixture(scope="module")
def cifar_batch():
    return load_dataset("cifar10", "test", n=32, seed=0).images


def _art(preprocessor, x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(preprocessor(x.numpy())[0])


@pytest.mark.parametrize("window", [2, 3])
def test_median_equals_art_spatial_smoothing(mnist_test, cifar_batch, window):
    for x in (mnist_test.images[:64], cifar_batch):
        art = SpatialSmoothing(window_size=window, channels_first=True, clip_values=(0, 1))
        assert torch.equal(median_smooth(x, window), _art(art, x))


def test_bit_depth_equals_art_feature_squeezing(mnist_test, cifar_batch):
    # ART counts bits: 1 bit = 2 levels
    for x in (mnist_test.images[:64], cifar_batch):
        for bits in (1, 3):
            art = ArtSqueezing(clip_values=(0, 1), bit_depth=bits)
            torch.testing.assert_close(FeatureSqueezing(bits, 1)(x), _art(art, x).float(), rtol=0, atol=1e-6)


def test_jpeg_equals_art_jpeg_compression(mnist_test, cifar_batch):
    for x in (mnist_test.images[:64], cifar_batch):
        for quality in (10, 75):
            art = JpegCompression(clip_values=(0, 1), quality=quality, channels_first=True)
            assert torch.equal(JPEGCompression(quality)(x), _art(art, x))


def test_squeezers_keep_shape_range_and_bit_depth_is_idempotent(mnist_test, cifar_batch):
    for x in (mnist_test.images[:64], cifar_batch):
        for module in (FeatureSqueezing(1, 2), FeatureSqueezing(2, 3), JPEGCompression(50)):
            y = module(x)
            assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
        squeeze = FeatureSqueezing(2, 1)
        assert torch.equal(squeeze(squeeze(x)), squeeze(x))
    jpeg = JPEGCompression(20)(cifar_batch)
    assert 0 < (jpeg - cifar_batch).abs().mean() < 0.1  # it changes the image, not beyond recognition


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: JPEGCompression(0), "1 to 100"),
        (lambda: JPEGCompression(101), "1 to 100"),
        (lambda: JPEGCompression(75.0), "1 to 100"),
        (lambda: FeatureSqueezing(1, 0), ">= 1"),
        (lambda: FeatureSqueezing(0, 2), "1 to 8"),
        (lambda: FeatureSqueezing(9, 2), "1 to 8"),
        (lambda: ComDefend(1, noise_std=-1.0), ">= 0"),
        (lambda: PixelDefend(PixelCNN(1), eps_defend=-0.1), r"\[0, 1\]"),
        (lambda: PixelDefend(PixelCNN(1), eps_defend=32), r"\[0, 1\]"),
    ],
)
def test_bad_parameters_raise_one_clear_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_squeeze_detector_flags_fgsm_more_than_clean(lenet, mnist_test):
    x, y = mnist_test.images[:500], mnist_test.labels[:500]
    detector = SqueezeDetector(lenet, [FeatureSqueezing(1, 1), FeatureSqueezing(8, 2)])
    with pytest.raises(RuntimeError, match="calibrate"):
        detector(x)
    detector.calibrate(x, 0.05)
    clean_rate = detector(x).float().mean().item()
    adv_rate = detector(run_attack("fgsm", lenet, x, y, 0.3)).float().mean().item()
    assert clean_rate == pytest.approx(0.05, abs=0.01)
    assert adv_rate > 3 * clean_rate


@pytest.fixture(scope="module")
def comdefend(mnist_train):
    torch.manual_seed(0)
    model = ComDefend(1)
    fit(model, comdefend_epoch(mnist_train.head(2000), 1e-4, 64, 0), 2, 1e-3, {})
    return model.eval()


def test_comdefend_binary_code_reconstructs_real_images(comdefend, mnist_test):
    x = mnist_test.images[:200]
    code = comdefend.binarize(comdefend.encode(x))
    assert set(code.unique().tolist()) <= {0.0, 1.0} and code.shape[1] == 4
    restored = comdefend(x).detach()
    assert restored.shape == x.shape and restored.min() >= 0 and restored.max() <= 1
    assert torch.equal(restored, comdefend(x).detach())  # no noise at evaluation
    assert psnr(restored, x) > 16


def test_comdefend_keeps_most_clean_predictions(comdefend, lenet, mnist_test):
    x, y = mnist_test.images, mnist_test.labels
    with torch.no_grad():
        restored = comdefend(x)
    assert (predict(lenet, restored) == y).float().mean() > 0.8


def test_comdefend_training_is_deterministic(mnist_train):
    def train_once():
        torch.manual_seed(0)
        model = ComDefend(1, widths=(8,))
        fit(model, comdefend_epoch(mnist_train.head(256), 1e-4, 64, 0), 1, 1e-3, {})
        return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])

    assert np.array_equal(train_once(), train_once())


def test_pixelcnn_is_autoregressive_in_raster_order():
    torch.manual_seed(0)
    model = PixelCNN(3, width=8, n_blocks=2).eval()
    x = torch.rand(2, 3, 12, 12)
    changed = x.clone()
    changed[:, :, 5, 7] = 1 - changed[:, :, 5, 7]
    with torch.no_grad():
        diff = (model.logits(x) - model.logits(changed)).abs().amax(dim=(0, 1, 2)).flatten()
    moved = (diff > 0).nonzero().flatten()
    assert moved.min() == 5 * 12 + 8  # the first pixel after (5, 7) is the first to see it
    assert len(moved) > 10


def test_pixelcnn_reach_is_exactly_the_rows_a_pixel_sees():
    torch.manual_seed(0)
    model = PixelCNN(1, width=8, n_blocks=3).eval()
    x = torch.rand(2, 1, 20, 20)
    with torch.no_grad():
        whole = model.features(x)[:, :, 15]
        strip = model.features(x[:, :, 15 - model.reach : 16])[:, :, -1]
        short = model.features(x[:, :, 16 - model.reach : 16])[:, :, -1]
    assert torch.equal(whole, strip)
    assert not torch.allclose(whole, short)  # one row fewer is not enough


@pytest.fixture(scope="module")
def fashion():
    return (
        load_dataset("fashion_mnist", "train", n=2000, seed=0),
        load_dataset("fashion_mnist", "test", n=20, seed=0).images,
    )


@pytest.fixture(scope="module")
def pixelcnn(fashion):
    torch.manual_seed(0)
    model = PixelCNN(1, width=8, n_blocks=2)
    fit(model, pixelcnn_epoch(fashion[0], 32, 0), 1, 1e-2, {})
    return model.eval()


def test_pixelcnn_learns_and_prefers_clean_images_to_noisy_ones(pixelcnn, fashion):
    x = fashion[1]
    noisy = (x + 16 / 255 * torch.randn_like(x).sign()).clamp(0, 1)
    with torch.no_grad():
        clean_nll, noisy_nll = pixelcnn.nll(x).item(), pixelcnn.nll(noisy).item()
    assert clean_nll / math.log(2) < 5  # bits per sub-pixel on unseen images; uniform: 8
    assert clean_nll < noisy_nll - 0.5  # Song et al.'s premise: perturbed images are less likely


def test_pixeldefend_stays_in_its_ball_and_raises_likelihood(pixelcnn, fashion):
    x = fashion[1]
    noisy = (x + 16 / 255 * torch.randn_like(x).sign()).clamp(0, 1)
    purifier = PixelDefend(pixelcnn, 16 / 255)
    purified = purifier(noisy)
    assert purified.shape == noisy.shape and purified.min() >= 0 and purified.max() <= 1
    assert (purified - noisy).abs().max() <= 16 / 255 + 1e-6
    assert torch.equal(purified, purifier(noisy))  # greedy decoding is deterministic
    with torch.no_grad():
        assert pixelcnn.nll(purified) < pixelcnn.nll(noisy) - 0.5
    unchanged = PixelDefend(pixelcnn, 0.0)(x)
    assert torch.allclose(unchanged, x, atol=0.5 / 255)  # eps_defend = 0: the 8-bit image itself


def test_whitebox_cascade_attacks_jpeg_through_bpda(lenet, mnist_test, tmp_path):
    """Table 4's white-box column: JPEG has no useful gradient; BPDA (identity backward) computes
    the same function with one, and the cascade through it breaks most images."""
    from reconstruction_defense.attacks.registry import AttackParams
    from reconstruction_defense.evaluation.adaptive import whitebox_survivors
    from reconstruction_defense.method.defense import Defended, StraightThroughPreprocessor

    test, params = mnist_test.head(60), AttackParams(pgd_steps=10, apgd_steps=10, square_queries=50)
    jpeg = JPEGCompression(75)
    deployed = Defended(jpeg, lenet).eval()
    attacked = Defended(StraightThroughPreprocessor(jpeg), lenet).eval()
    x = test.images[:8].clone().requires_grad_(True)
    with torch.no_grad():
        assert torch.equal(attacked(x), deployed(x))
    attacked(x).sum().backward()
    assert x.grad.abs().sum() > 0
    white = whitebox_survivors(attacked, deployed, test, 0.2, params, tmp_path).float().mean()
    clean = (predict(deployed, test.images) == test.labels).float().mean()
    assert white < clean - 0.5, (white, clean)
