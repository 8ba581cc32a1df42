"""RDN: parameter counts from architectures.md §4.1, the dense block's wiring, the trunk on its own."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from glsr.models import MODELS, count_parameters, create_model
from glsr.models.rdn import RDN, RDNTrunk, ResidualDenseBlock, SubPixelConvolution, receptive_margin

TINY = MODELS["rdn"].test_kwargs


@pytest.mark.parametrize(("scale", "expected"), [(2, 22_123_395), (3, 22_308_035), (4, 22_271_107)])
def test_parameter_count_is_the_specs(scale, expected):
    assert count_parameters(create_model("rdn", scale)) == expected


def test_trunk_parameter_count():
    assert count_parameters(RDNTrunk()) == 21_973_952


def test_dense_block_wiring():
    block = ResidualDenseBlock(64, 64, 8)
    widths = [layer[0].in_channels for layer in block.layers]
    assert widths == [64 + 64 * c for c in range(8)]
    assert (block.local_fusion.in_channels, block.local_fusion.kernel_size) == (576, (1, 1))


def test_dense_block_is_a_local_residual():
    """With local feature fusion zeroed, an RDB is the identity (eq. 7: F_d = F_{d,LF} + F_{d-1})."""
    block = ResidualDenseBlock(8, 4, 3)
    nn.init.zeros_(block.local_fusion.weight)
    nn.init.zeros_(block.local_fusion.bias)
    x = torch.randn(2, 8, 7, 5)
    assert torch.equal(block(x), x)


def test_trunk_returns_f_l_with_the_global_residual():
    """``F_L = GFF([F_1..F_D]) + F_{-1}``: with the fusion's last conv zeroed, F_L is SFE1(x)."""
    trunk = RDNTrunk(3, 8, 8, 2, 2)
    x = torch.rand(1, 3, 11, 7)
    with torch.no_grad():
        assert trunk(x).shape == (1, 8, 11, 7)
        nn.init.zeros_(trunk.global_fusion[1].weight)
        nn.init.zeros_(trunk.global_fusion[1].bias)
        torch.testing.assert_close(trunk(x), trunk.shallow1(x))


@pytest.mark.parametrize(("scale", "factors"), [(2, [2]), (3, [3]), (4, [2, 2])])
def test_upsampler_stages(scale, factors):
    model = create_model("rdn", scale, **TINY)
    stages = list(model.upsampler)
    assert all(isinstance(stage, SubPixelConvolution) for stage in stages)
    assert [stage.shuffle.upscale_factor for stage in stages] == factors
    assert [stage.conv.out_channels for stage in stages] == [8 * r * r for r in factors]


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("size", [(17, 23), (11, 7), (1, 5)])
def test_output_is_exactly_scale_times_the_input(scale, size):
    model = create_model("rdn", scale, **TINY).eval()
    with torch.no_grad():
        y = model(torch.rand(1, 3, *size))
    assert y.shape == (1, 3, size[0] * scale, size[1] * scale)


def test_forward_is_trunk_upsampler_reconstruction():
    model: RDN = create_model("rdn", 3, **TINY).eval()  # type: ignore[assignment]
    x = torch.rand(2, 3, 9, 5)
    with torch.no_grad():
        features = model.trunk(x)
        expected = model.reconstruction(torch.nn.functional.pixel_shuffle(model.upsampler[0].conv(features), 3))
        torch.testing.assert_close(model(x), expected)


def _local_radius(model: nn.Module, scale: int, width: int) -> int:
    """The columns of a 3-row strip (float64) whose gradient reaches a central output pixel."""
    model = model.double().eval()
    x = torch.rand(1, 3, 3, width, dtype=torch.float64, requires_grad=True)
    y = model(x)
    centre, radius = width // 2, 0
    for phase in range(scale):
        (grad,) = torch.autograd.grad(y[0, :, 1, centre * scale + phase].sum(), x, retain_graph=True)
        columns = (grad.abs().sum(dim=(0, 1, 2)) > 0).nonzero().flatten()
        radius = max(radius, int((columns - centre).abs().max()))
    return radius


@pytest.mark.parametrize(("blocks", "layers"), [(2, 2), (3, 4)])
def test_receptive_margin_is_the_measured_field(blocks, layers):
    for scale in (2, 3, 4):
        model = create_model("rdn", scale, channels=8, growth=8, blocks=blocks, layers=layers)
        assert _local_radius(model, scale, 2 * receptive_margin(blocks, layers) + 9) == receptive_margin(blocks, layers)
    assert MODELS["rdn"].margin == 133
