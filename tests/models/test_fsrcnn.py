"""FSRCNN(56, 12, 4): output size, parameter counts (../shared/docs/architectures.md §0) and margin."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from glsr.models import MODELS, count_parameters, create_model
from glsr.models.fsrcnn import FSRCNN


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize(("h", "w"), [(7, 5), (13, 11), (1, 3)])
def test_output_is_exactly_scale_times_the_input_for_odd_sizes(scale, h, w):
    model = create_model("fsrcnn", scale, **MODELS["fsrcnn"].test_kwargs).eval()
    with torch.no_grad():
        y = model(torch.rand(2, 1, h, w))
    assert y.shape == (2, 1, scale * h, scale * w)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_parameter_counts_are_the_same_at_every_scale(scale):
    model = create_model("fsrcnn", scale)
    # 25*56 + 56*12 + 4*9*12*12 + 12*56 + 81*56 (the deconvolution)
    assert count_parameters(model, "conv_weights") == 12_464
    convs = (nn.Conv2d, nn.ConvTranspose2d)
    with_bias = sum(p.numel() for m in model.modules() if isinstance(m, convs) for p in m.parameters())
    assert with_bias == 12_637
    assert count_parameters(model) == 12_809  # + 172 per-channel PReLU slopes


def test_layout_is_d56_s12_m4_with_prelu_initialised_to_a_quarter():
    model = FSRCNN(3)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 3, 3, 3, 3, 1]
    assert [c.out_channels for c in convs] == [56, 12, 12, 12, 12, 12, 56]
    prelus = [m for m in model.modules() if isinstance(m, nn.PReLU)]
    assert len(prelus) == 7 and all(torch.all(p.weight == 0.25) for p in prelus)
    deconv = model.deconvolution
    assert deconv.kernel_size == (9, 9) and deconv.stride == (3, 3)
    assert deconv.weight.std().item() < 1e-2  # Gaussian std 1e-3, not He


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_margin_is_the_receptive_radius_in_lr_pixels(scale):
    spec = MODELS["fsrcnn"]
    model = FSRCNN(scale, d=4, s=2, m=4).double().eval()
    size = 25
    c = size // 2
    radius = 0
    for r in range(scale):  # every sub-pixel phase of the output
        x = torch.rand(1, 1, size, size, dtype=torch.float64, requires_grad=True)
        model(x)[0, 0, c * scale + r, c * scale + r].backward()
        rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
        radius = max(radius, int((rows - c).abs().max()), int((cols - c).abs().max()))
    # 2 (5x5) + 4 (3x3 mapping) + the deconvolution's reach, floor((phase + 4) / scale) at most: 2, 2, 1
    assert radius == {2: 8, 3: 8, 4: 7}[scale]
    assert radius <= spec.margin == 8
