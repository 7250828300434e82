import pytest
import torch

from reconstruction_defense.method.quantize import Quantizer, quantize


@pytest.mark.parametrize("k", [2, 3, 4, 8, 256])
def test_levels_and_formula(k):
    x = torch.rand(4, 3, 8, 8)
    q = quantize(x, k)
    levels = torch.arange(k) / (k - 1)
    assert torch.isin(q, levels).all()
    assert torch.equal(q, torch.round(x * (k - 1)) / (k - 1))
    assert (q - x).abs().max() <= 0.5 / (k - 1) + 1e-6  # nearest level
    assert torch.equal(quantize(q, k), q)  # idempotent


def test_binarization_threshold():
    x = torch.tensor([0.0, 0.49, 0.51, 1.0]).view(1, 1, 1, 4)
    assert quantize(x, 2).flatten().tolist() == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("channels", [1, 3, 5])
def test_module_any_channel_count(channels):
    x = torch.rand(2, channels, 5, 5)
    assert torch.equal(Quantizer(4)(x), quantize(x, 4))


def test_straight_through_gradient_is_identity():
    x = torch.rand(2, 1, 4, 4, requires_grad=True)
    w = torch.randn(2, 1, 4, 4)
    (Quantizer(2, straight_through=True)(x) * w).sum().backward()
    assert torch.equal(x.grad, w)
    assert torch.equal(Quantizer(2, straight_through=True)(x), quantize(x, 2))


def test_plain_rounding_has_zero_gradient():
    x = torch.rand(2, 1, 4, 4, requires_grad=True)
    Quantizer(2)(x).sum().backward()
    assert torch.count_nonzero(x.grad) == 0


@pytest.mark.parametrize("k", [1, 0, -3, 2.5, "4", True, None])
def test_bad_k(k):
    with pytest.raises(ValueError, match="integer >= 2"):
        Quantizer(k)
    with pytest.raises(ValueError, match="integer >= 2"):
        quantize(torch.rand(1, 1, 2, 2), k)


@pytest.mark.parametrize("bad", [float("nan"), 1.5, -0.1])
def test_quantizer_and_defense_refuse_nan_and_out_of_range_input(bad, defense, lenet):
    from reconstruction_defense.method.defense import Defended

    x = torch.full((2, 1, 28, 28), 0.5)
    x[0, 0, 3, 3] = bad
    with pytest.raises(ValueError, match=r"in \[0, 1\] without NaN"):
        quantize(x, 2)
    with pytest.raises(ValueError, match="without NaN"):
        Defended(defense, lenet)(x)


def test_the_near_threshold_share_counts_exactly_the_pixels_eps_can_move_to_another_level():
    from reconstruction_defense.method.quantize import near_threshold_share

    x = torch.tensor([0.0, 0.1, 0.2, 0.49, 0.52, 0.7, 0.8, 1.0])  # k = 4: thresholds 1/6, 1/2, 5/6
    assert near_threshold_share(x, 4, 0.05) == 4 / 8  # 0.2, 0.49, 0.52, 0.8
    moved = torch.stack([quantize((x + s * 0.049).clamp(0, 1), 4) != quantize(x, 4) for s in (-1, 1)]).any(0)
    assert near_threshold_share(x, 4, 0.05) == moved.float().mean()  # the same pixels an eps step flips
    assert near_threshold_share(x, 2, 0.05) == 2 / 8  # 0.49, 0.52 around 1/2
