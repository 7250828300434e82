import pytest
import torch

from reconstruction_defense.data.datasets import INFOS
from reconstruction_defense.method import CLASSIFIERS, Restorer, build_classifier


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
@pytest.mark.parametrize("arch", CLASSIFIERS)
def test_classifier_shapes(arch, dataset):
    info = INFOS[dataset]
    torch.manual_seed(0)
    model = build_classifier(arch, info).eval()
    with torch.no_grad():
        out = model(torch.rand(2, info.channels, *info.size))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_classifier_rejects_wrong_shape():
    model = build_classifier("lenet", INFOS["mnist"])
    with pytest.raises(ValueError, match=r"inputs \(N, 1, 28, 28\).*got \(2, 3, 32, 32\)"):
        model(torch.rand(2, 3, 32, 32))


def test_unknown_classifier_lists_valid():
    with pytest.raises(ValueError, match="valid: lenet, resnet20"):
        build_classifier("vgg", INFOS["mnist"])


def test_normalization_lives_inside_the_model():
    model = build_classifier("lenet", INFOS["mnist"])
    assert torch.allclose(model.mean.flatten(), torch.tensor([0.1307]))
    assert torch.allclose(model.std.flatten(), torch.tensor([0.3081]))


@pytest.mark.parametrize("channels", [1, 3])
def test_restorer_same_size_and_range(channels):
    torch.manual_seed(0)
    net = Restorer(channels, n_blocks=3, n_feats=8, res_scale=0.5)
    x = torch.rand(2, channels, 28, 28)
    y = net(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 0
    assert len(net.body) == 4  # 3 residual blocks + the closing conv


def test_restorer_residual_scale_and_global_skip():
    net = Restorer(1, n_blocks=2, n_feats=4)
    torch.nn.init.zeros_(net.tail.weight)
    torch.nn.init.zeros_(net.tail.bias)
    x = torch.rand(1, 1, 6, 6)
    assert torch.equal(net(x), x)  # zero tail: the global skip alone passes the input through
    assert all(block.res_scale == 0.1 for block in list(net.body)[:-1])


def test_restorer_bad_input():
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        Restorer(2)
    with pytest.raises(ValueError, match=r"expects \(N, 1, H, W\)"):
        Restorer(1, n_blocks=1, n_feats=4)(torch.rand(1, 3, 8, 8))
