"""SRGRN: parameter counts from architectures.md §4, the zero-initialised reasoning branches, the graph
projection's normalisation and softmax axis."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from glsr.models import MODELS, count_parameters, create_model
from glsr.models.rdn import RDN
from glsr.models.srgrn import (
    SRGRN,
    GlobalReasoningReconstruction,
    GlobalReasoningUpsampler,
    aggregate_nodes,
    receptive_margin,
    reproject,
)

TINY = MODELS["srgrn"].test_kwargs
TRUNK = {k: TINY[k] for k in ("channels", "growth", "blocks", "layers")}


def _tiny(scale: int, **overrides: object) -> SRGRN:
    return create_model("srgrn", scale, **{**TINY, **overrides}).eval()  # type: ignore[return-value]


@pytest.mark.parametrize(("scale", "expected"), [(2, 22_203_117), (3, 22_390_637), (4, 22_392_102)])
def test_parameter_count_is_the_specs(scale, expected):
    assert count_parameters(create_model("srgrn", scale)) == expected


def test_module_parameter_counts():
    """§4.2-4.3: GRUM 188,985 (r = 2) / 376,505 (r = 3); GRRB 40,180."""
    assert count_parameters(GlobalReasoningUpsampler(64, 2)) == 188_985
    assert count_parameters(GlobalReasoningUpsampler(64, 3)) == 376_505
    assert count_parameters(GlobalReasoningReconstruction(64)) == 40_180


def test_x4_chains_two_x2_upsamplers():
    model = _tiny(4)
    assert [grum.shuffle.upscale_factor for grum in model.upsampler] == [2, 2]
    assert [_tiny(s).upsampler[0].shuffle.upscale_factor for s in (2, 3)] == [2, 3]


def _copy_into_rdn(model: SRGRN, scale: int) -> RDN:
    """An RDN whose trunk and sub-pixel stages hold the SRGRN's trunk and H_UP weights."""
    rdn = RDN(scale, **TRUNK).eval()
    rdn.trunk.load_state_dict(model.trunk.state_dict(), strict=True)
    for stage, grum in zip(rdn.upsampler, model.upsampler, strict=True):
        stage.load_state_dict(grum.upsample.state_dict(), strict=True)
    return rdn


def _sub_pixel_path(model: SRGRN, rdn: RDN, x: torch.Tensor) -> torch.Tensor:
    """SRGRN without its reasoning branches: RDN's trunk and sub-pixel stages, each followed by the
    GRUM's F_S conv (eq. 11), then the GRRB's two convs (eq. 15)."""
    h = rdn.trunk(x)
    for stage, grum in zip(rdn.upsampler, model.upsampler, strict=True):
        h = grum.conv(stage(h))
    return model.reconstruction.conv2(model.reconstruction.conv1(h))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_at_initialisation_srgrn_is_rdn_with_sub_pixel_upsampling(scale):
    model = _tiny(scale)
    assert all(grum.gamma1.item() == 0 for grum in model.upsampler)
    assert model.reconstruction.gamma.item() == 0
    rdn = _copy_into_rdn(model, scale)
    x = torch.rand(2, 3, 11, 7)
    with torch.no_grad():
        y = model(x)
        reference = _sub_pixel_path(model, rdn, x)
    assert y.shape == (2, 3, 11 * scale, 7 * scale)
    torch.testing.assert_close(y, reference)

    # The graph-reasoning weights have no effect while the gammas are 0 ...
    with torch.no_grad():
        for module in [*model.upsampler, model.reconstruction]:
            for part in (module.projection, module.reprojection, module.reasoning.conv1):
                part.weight.normal_(std=3.0)
        assert torch.equal(model(x), y)

        # ... and do once gamma1 is not.
        model.upsampler[0].gamma1.fill_(0.5)
        y_gamma1 = model(x)
        assert (y_gamma1 - reference).abs().max() > 1e-4
        model.upsampler[0].projection.weight.normal_(std=3.0)
        assert (model(x) - y_gamma1).abs().max() > 1e-4
        model.upsampler[0].gamma1.zero_()
        torch.testing.assert_close(model(x), reference)

        # Likewise the GRRB's gamma.
        model.reconstruction.gamma.fill_(0.5)
        assert (model(x) - reference).abs().max() > 1e-4


def test_gamma1_one_uses_only_the_reasoning_branch():
    """Eq. 10: with gamma1 = 1 the sub-pixel convolution H_UP drops out."""
    grum = GlobalReasoningUpsampler(8, 2, nodes=4, reduction=4).eval()
    f = torch.rand(1, 8, 5, 7)
    with torch.no_grad():
        grum.gamma1.fill_(1.0)
        y = grum(f)
        nn.init.normal_(grum.upsample.conv.weight)
        assert torch.equal(grum(f), y)
        assert y.shape == (1, 8, 10, 14)


def test_aggregation_normalisation():
    """Dividing by H*W makes the node features a per-pixel mean: tiling the image 2 x 2 (so every pixel
    repeats 4 times) leaves them unchanged; without normalisation they grow 4 times."""
    weights, features = torch.rand(2, 5, 6, 7), torch.rand(2, 8, 6, 7)
    tiled_w, tiled_f = weights.repeat(1, 1, 2, 2), features.repeat(1, 1, 2, 2)
    nodes = aggregate_nodes(weights, features, normalize=True)
    assert nodes.shape == (2, 5, 8)
    torch.testing.assert_close(aggregate_nodes(tiled_w, tiled_f, normalize=True), nodes)
    torch.testing.assert_close(aggregate_nodes(tiled_w, tiled_f, normalize=False), 4 * 42 * nodes)
    # Y_W[n, c] = sum_p W_N[n, p] F[c, p] / HW.
    expected = torch.einsum("bnhw,bchw->bnc", weights, features) / 42
    torch.testing.assert_close(nodes, expected)


def test_normalize_is_a_constructor_argument():
    model = _tiny(2, normalize=False)
    assert not model.upsampler[0].normalize and not model.reconstruction.normalize
    assert _tiny(2).upsampler[0].normalize


def test_reprojection_softmax_runs_over_the_nodes():
    """Each pixel is a convex combination of the node features: nodes that all carry the same vector
    re-project to that vector at every pixel, whatever the logits."""
    value = torch.randn(2, 6, 1)
    nodes = value.expand(2, 6, 4)  # (B, C', N), identical columns
    out = reproject(nodes, 5 * torch.randn(2, 4, 3, 5))
    assert out.shape == (2, 6, 3, 5)
    torch.testing.assert_close(out, value[..., None].expand(2, 6, 3, 5))


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("size", [(17, 23), (11, 7), (1, 5)])
def test_output_is_exactly_scale_times_the_input(scale, size):
    with torch.no_grad():
        y = _tiny(scale)(torch.rand(1, 3, *size))
    assert y.shape == (1, 3, size[0] * scale, size[1] * scale)


def test_receptive_margin_is_the_measured_local_field():
    """At initialisation the reasoning branches pass no gradient (gamma = 0), so the gradient's
    support is the local field: the margin at x2 and x4, one LR pixel less at x3."""
    blocks, layers = 3, 4
    width = 2 * receptive_margin(blocks, layers) + 9
    for scale in (2, 3, 4):
        model = _tiny(scale, blocks=blocks, layers=layers).double()
        x = torch.rand(1, 3, 3, width, dtype=torch.float64, requires_grad=True)
        y = model(x)
        centre, radius = width // 2, 0
        for phase in range(scale):
            (grad,) = torch.autograd.grad(y[0, :, 1, centre * scale + phase].sum(), x, retain_graph=True)
            columns = (grad.abs().sum(dim=(0, 1, 2)) > 0).nonzero().flatten()
            radius = max(radius, int((columns - centre).abs().max()))
        assert radius == receptive_margin(blocks, layers) - (scale == 3)
    assert MODELS["srgrn"].margin == 134 and MODELS["srgrn"].global_context
