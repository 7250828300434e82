"""The attacks that know the quantizer: the reachable levels follow its rounding rule (ties
included), the flip search returns inputs inside the ball whose quantization it scored, and the
straight-through clamp gives gradients where the restorer's clamp has none."""

import pytest
import torch

from reconstruction_defense.attacks.quantizer import preimage, reachable_levels
from reconstruction_defense.attacks.registry import AttackParams, run_attack
from reconstruction_defense.evaluation.adaptive import bpda_pipeline
from reconstruction_defense.evaluation.scoring import predict
from reconstruction_defense.method.defense import Defended, ReconstructionDefense
from reconstruction_defense.method.quantize import quantize
from reconstruction_defense.method.restorer import straight_through_copy


def _near_thresholds(k: int) -> torch.Tensor:
    """Pixels at every rounding threshold (exact ties), just beside them, and at the levels."""
    ties = (torch.arange(k - 1) + 0.5) / (k - 1)
    levels = torch.arange(k) / (k - 1)
    return torch.cat(
        [ties, ties - 1e-4, ties + 1e-4, levels, torch.rand(200, generator=torch.Generator().manual_seed(k))]
    )


def ball_points(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Float32 inputs around each pixel of ``x`` (rows: points): 401 points across the ball and
    the four float32 neighbours of each edge, clamped to [0, 1], each replaced by ``x`` where it
    lies outside the ball in exact (float64) arithmetic."""
    points = x[None] + torch.linspace(-eps, eps, 401)[:, None]
    for edge in (x - eps, x + eps):
        near = [edge]
        for toward in (torch.zeros_like(edge), torch.ones_like(edge)):
            step = edge
            for _ in range(2):
                step = torch.nextafter(step, toward)
                near.append(step)
        points = torch.cat([points, torch.stack(near)])
    points = points.clamp(0, 1)
    inside = (points.double() - x.double()[None]).abs() <= eps
    return torch.where(inside, points, x[None].expand_as(points))


def _sampled_levels(x: torch.Tensor, k: int, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Lowest and highest quantized value over the sampled points of the ball (:func:`ball_points`)."""
    q = quantize(ball_points(x, eps), k)
    return q.amin(0), q.amax(0)


def _naive_reachable(x: torch.Tensor, k: int, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A plausible wrong rule: the levels lying within eps of the pixel."""
    levels = torch.arange(k) / (k - 1)
    near = (levels[None] - x[:, None]).abs() <= eps
    return (torch.where(near, levels, 2.0).amin(1), torch.where(near, levels, -1.0).amax(1))


@pytest.mark.parametrize("k", [2, 4, 8])
@pytest.mark.parametrize("eps", [0.05, 0.1, 1 / 6])  # 1/6: edges land exactly on k = 4's ties
def test_reachable_levels_are_what_the_quantizer_outputs_inside_the_ball(k, eps):
    x = _near_thresholds(k)
    low, high = reachable_levels(x, k, eps)
    sampled_low, sampled_high = _sampled_levels(x, k, eps)
    assert torch.equal(low, sampled_low) and torch.equal(high, sampled_high)
    for level in torch.arange(k) / (k - 1):  # every level in between is reached by its preimage
        inside = (level >= low) & (level <= high)
        z = preimage(torch.full_like(x, level.item()), x, eps)
        assert torch.equal(quantize(z[inside], k), torch.full_like(z[inside], level.item()))
        assert ((z.double() - x.double()).abs() <= eps).all() and z.min() >= 0 and z.max() <= 1  # exactly


def test_a_ball_edge_on_a_tie_is_decided_in_float64():
    """0.6 - 0.1 is 0.5 in float32, k = 2's tie (rounded down to 0), but the float32 pixel 0.6 is
    0.60000002: every input within 0.1 of it lies above 0.5 and binarizes to 1."""
    x, eps = torch.tensor([0.6]), 0.1
    assert quantize((x - eps).clamp(0, 1), 2).item() == 0.0  # the float32 edge: the old rule
    low, high = reachable_levels(x, 2, eps)
    assert low.item() == high.item() == 1.0
    z = preimage(torch.ones(1), x, eps)
    assert (z.double() - x.double()).abs().item() <= eps and quantize(z, 2).item() == 1.0


def test_the_reachable_check_catches_a_wrong_rule():
    x = _near_thresholds(2)
    naive_low, naive_high = _naive_reachable(x, 2, 0.1)
    sampled_low, sampled_high = _sampled_levels(x, 2, 0.1)
    assert not (torch.equal(naive_low, sampled_low) and torch.equal(naive_high, sampled_high))


def test_flip_search_stays_in_the_ball_and_breaks_the_quantized_classifier(lenet, mnist_test):
    x, y = mnist_test.images[:200], mnist_test.labels[:200]
    defense = ReconstructionDefense(torch.nn.Identity(), 2).eval()
    deployed, attacked = Defended(defense, lenet).eval(), bpda_pipeline(defense, lenet, through_clamp=True)
    adv = run_attack("flip", attacked, x, y, 0.3, AttackParams())
    assert ((adv - x).abs() <= 0.3 + 1e-6).all() and adv.min() >= 0 and adv.max() <= 1
    clean = (predict(deployed, x) == y).float().mean()
    assert (predict(deployed, adv) == y).float().mean() < clean - 0.15
    with pytest.raises(TypeError, match="Defended"):
        run_attack("flip", lenet, x[:4], y[:4], 0.3)


def test_straight_through_clamp_passes_gradient_where_the_clamp_has_none(defense, mnist_test):
    restorer = defense.restorer
    twin = straight_through_copy(restorer)
    assert twin is not restorer and all(a is b for a, b in zip(twin.parameters(), restorer.parameters()))
    assert repr(twin) != repr(restorer)  # the adversarial-set cache key tells them apart
    q = quantize(mnist_test.images[:50], 2)
    with torch.no_grad():
        assert torch.equal(twin(q), restorer(q))
    grads = []
    for model in (restorer, twin):
        z = q.clone().requires_grad_(True)
        model(z).sum().backward()
        grads.append(z.grad)
    with torch.no_grad():
        out = q + restorer.tail(restorer.head(q) + restorer.body(restorer.head(q)))
    on_clamp = (out < 0) | (out > 1)
    assert on_clamp.any()
    assert (grads[1] - grads[0]).abs().sum() > 0  # pixels on the clamp now pass a gradient
    assert not restorer.straight_through_clamp  # the deployed restorer is untouched
