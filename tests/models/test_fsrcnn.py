"""FSRCNN(56, 12, 4): output size, parameter counts (../shared/docs/architectures.md §0), margin, bilinear start."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from glsr.models import MODELS, count_parameters, create_model
from glsr.models.fsrcnn import FSRCNN, bilinear_deconvolution_kernel


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


@pytest.mark.parametrize("scale", [2, 3])
def test_identity_init_starts_as_linear_interpolation_on_matlabs_grid(scale):
    model = FSRCNN(scale, identity_init=True).eval()
    ramp = torch.linspace(0.1, 0.9, 20)
    x = ramp[None, :].expand(20, 20)[None, None].contiguous()
    with torch.no_grad():
        y = model(x)[0, 0]
    # HR pixel o sits at LR position (o + 0.5) / scale - 0.5, where a ramp is linear
    position = (torch.arange(20 * scale) + 0.5) / scale - 0.5
    expected = 0.1 + 0.8 / 19 * position
    inner = slice(2 * scale, -2 * scale)  # away from the zero padding
    assert torch.allclose(y[inner, inner], expected[inner].expand_as(y[inner, inner]), atol=1e-6)


def test_identity_init_at_x4_keeps_flat_areas_and_trains_every_deconvolution_channel():
    model = FSRCNN(4, identity_init=True)
    x = torch.full((1, 1, 12, 12), 0.5)
    with torch.no_grad():
        y = model(x)[0, 0]
    assert torch.allclose(y[8:-8, 8:-8], torch.full((32, 32), 0.5), atol=1e-6)  # each phase sums to 1
    assert bilinear_deconvolution_kernel(4).sum() == pytest.approx(4.0)
    (model(torch.rand(1, 1, 12, 12)) - 0.3).pow(2).mean().backward()
    assert model.deconvolution.weight.grad[1:].abs().sum() > 0  # the zeroed channels learn from step one
