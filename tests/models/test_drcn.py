"""DRCN: one shared inference convolution applied T = 16 times, per-recursion predictions, ensemble."""

from __future__ import annotations

import torch
from torch import nn

from glsr.models import MODELS, count_parameters, create_model
from glsr.models.drcn import DRCN


def test_parameter_counts():
    model = create_model("drcn", 3)
    # 9*256 + 3*(9*256*256) + 9*256: three distinct 256 -> 256 convolutions
    assert count_parameters(model, "conv_weights") == 1_774_080
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert sum(p.numel() for c in convs for p in c.parameters()) == 1_775_105  # + 4*256 + 1 biases
    assert count_parameters(model) == 1_775_121  # + 16 ensemble weights


def test_inference_convolution_is_applied_16_times_with_shared_weights():
    model = DRCN().eval()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    square = [c for c in convs if (c.in_channels, c.out_channels) == (256, 256)]
    assert len(convs) == 5 and len(square) == 3  # distinct modules (modules() deduplicates)
    calls: dict[nn.Module, int] = dict.fromkeys(convs, 0)
    hooks = [c.register_forward_hook(lambda m, i, o: calls.__setitem__(m, calls[m] + 1)) for c in convs]
    with torch.no_grad():
        model(torch.rand(1, 1, 6, 7))
    for h in hooks:
        h.remove()
    assert calls[model.inference.conv] == 16
    # the reconstruction net runs once per recursion, the embedding net once
    assert calls[model.reconstruction.conv1] == calls[model.reconstruction.conv2] == 16
    assert calls[model.embedding.conv1] == calls[model.embedding.conv2] == 1


def test_forward_with_intermediate_returns_16_predictions_whose_weighted_sum_is_the_output():
    model = DRCN(channels=8).eval()
    assert torch.allclose(model.ensemble_weights, torch.full((16,), 1 / 16))
    with torch.no_grad():
        model.ensemble_weights.copy_(torch.rand(16))  # not uniform, so a plain mean would fail
        x = torch.rand(2, 1, 13, 9)
        output, predictions = model.forward_with_intermediate(x)
        assert len(predictions) == 16
        assert all(p.shape == x.shape for p in predictions)
        expected = sum(w * p for w, p in zip(model.ensemble_weights, predictions, strict=True))
        torch.testing.assert_close(output, expected)
        torch.testing.assert_close(model(x), output)
        # the predictions differ: each comes from a different recursion depth
        assert not torch.allclose(predictions[0], predictions[-1])


def test_every_prediction_adds_the_interpolated_input():
    model = DRCN(channels=8, recursions=4).eval()
    nn.init.zeros_(model.reconstruction.conv2.weight)
    x = torch.rand(1, 1, 10, 11)
    with torch.no_grad():
        _, predictions = model.forward_with_intermediate(x)
    assert all(torch.equal(p, x) for p in predictions)


def test_margin_is_the_receptive_radius():
    spec = MODELS["drcn"]
    model = DRCN(channels=4).double().eval()
    x = torch.rand(1, 1, 51, 51, dtype=torch.float64, requires_grad=True)
    model(x)[0, 0, 25, 25].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    assert max(int((rows - 25).abs().max()), int((cols - 25).abs().max())) == spec.margin == 20
