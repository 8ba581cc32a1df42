"""VDSR: 20 layers of 64 filters, the global residual, parameter counts and margin."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from glsr.errors import BadArgument
from glsr.models import MODELS, count_parameters, create_model
from glsr.models.vdsr import VDSR


def test_parameter_counts():
    model = create_model("vdsr", 2)
    assert count_parameters(model, "conv_weights") == 664_704  # 9*64 + 18*9*64*64 + 9*64
    assert count_parameters(model) == 665_921  # + 19*64 + 1 biases


def test_twenty_3x3_layers_of_64_filters():
    convs = [m for m in VDSR().modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 20
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert [c.out_channels for c in convs] == [64] * 19 + [1]


def test_global_residual_adds_the_input_back():
    model = VDSR(**MODELS["vdsr"].test_kwargs).eval()
    nn.init.zeros_(model.layers[-1].weight)
    x = torch.rand(1, 1, 15, 22)
    with torch.no_grad():
        assert torch.equal(model(x), x)  # a zero residual branch leaves the ILR


def test_margin_is_the_receptive_radius():
    spec = MODELS["vdsr"]
    model = VDSR(channels=4).double().eval()
    x = torch.rand(1, 1, 51, 51, dtype=torch.float64, requires_grad=True)
    model(x)[0, 0, 25, 25].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    assert max(int((rows - 25).abs().max()), int((cols - 25).abs().max())) == spec.margin == 20


def test_rejects_fewer_than_two_layers():
    with pytest.raises(BadArgument):
        VDSR(layers=1)
