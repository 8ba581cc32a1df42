"""SRCNN 9-5-5: the layer layout, the parameter counts of ../shared/docs/architectures.md §0, the margin."""

from __future__ import annotations

import torch
from torch import nn

from glsr.models import MODELS, count_parameters, create_model
from glsr.models.srcnn import SRCNN


def _receptive_radius(model: nn.Module, size: int) -> int:
    """How far (in pixels) the centre output pixel reaches into the input, measured by its gradient."""
    model = model.double().eval()
    x = torch.rand(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    c = size // 2
    model(x)[0, 0, c, c].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    return int(max((rows - c).abs().max(), (cols - c).abs().max()))


def test_parameter_counts_match_the_tpami_955_network():
    model = create_model("srcnn", 3)
    assert count_parameters(model, "conv_weights") == 57_184  # 81*64 + 25*64*32 + 25*32
    assert count_parameters(model) == 57_281  # + 64 + 32 + 1 biases


def test_layers_are_9_5_5_with_64_and_32_filters():
    model = SRCNN()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(9, 9), (5, 5), (5, 5)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 64), (64, 32), (32, 1)]


def test_output_keeps_the_input_size_and_has_no_global_residual():
    model = SRCNN().eval()
    for conv in (model.patch_extraction, model.nonlinear_mapping, model.reconstruction):
        nn.init.zeros_(conv.weight)
    nn.init.constant_(model.reconstruction.bias, 0.25)
    x = torch.rand(2, 1, 19, 26)
    with torch.no_grad():
        y = model(x)
    # with every weight zero, the output is the last bias alone: no ILR is added back
    assert torch.equal(y, torch.full_like(x, 0.25))


def test_margin_is_the_receptive_radius():
    spec = MODELS["srcnn"]
    assert _receptive_radius(SRCNN(**spec.test_kwargs), 31) == spec.margin == 8


def test_identity_init_starts_from_the_input_and_trains_every_layer():
    model = SRCNN(identity_init=True)
    x = torch.rand(2, 1, 24, 24)
    assert torch.equal(model(x), x)
    assert count_parameters(model, "conv_weights") == 57_184
    # the channels beside the identity path get gradients on the first step, so they can learn
    (model(x) - x.flip(-1)).pow(2).mean().backward()
    assert model.reconstruction.weight.grad[0, 1:].abs().sum() > 0
    assert model.patch_extraction.weight.grad[1:].abs().sum() == 0  # none yet: reconstruction is zero there
