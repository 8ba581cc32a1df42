"""GLADSR: parameter counts from architectures.md §3, the shared SPU, the bicubic global residual."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from glsr.models import MODELS, count_parameters, create_model
from glsr.models.gladsr import (
    DECONV_GEOMETRY,
    GLADSR,
    DenseFeatures,
    FusedGLADSR,
    GlobalGuidedBlock,
    GlobalLocalAdjustingModule,
    LocalSelectiveBlock,
    NestedDenseGroup,
    SeparablePyramidUpsampler,
    channel_statistics,
    grow_glams,
    pointwise,
    receptive_margin,
    subpixel_form,
)
from glsr.resize import imresize

TINY = MODELS["gladsr"].test_kwargs


def _tiny(scale: int, **overrides: object) -> GLADSR:
    return create_model("gladsr", scale, **{**TINY, **overrides}).eval()  # type: ignore[return-value]


# architectures.md §0 / §3.3: every count from the layer list, weights + biases.
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gladsr_l", {2: 400_452, 3: 408_900, 4: 412_740}),
        ("gladsr", {2: 800_456, 3: 808_904, 4: 812_744}),
        ("gladsr_large", {2: 5_281_488}),
    ],
)
def test_parameter_counts_are_the_specs(name, expected):
    for scale, count in expected.items():
        assert count_parameters(create_model(name, scale)) == count


@pytest.mark.parametrize(("scale", "weights", "total"), [(2, 6_528, 6_568), (3, 14_976, 15_016), (4, 18_816, 18_856)])
def test_spu_parameter_count(scale, weights, total):
    spu = SeparablePyramidUpsampler(scale)
    assert count_parameters(spu, "conv_weights") == weights
    assert count_parameters(spu) == total


def test_g4b4_breakdown():
    """§3.3's table: FENet 1,792; each NDG 395,972 (pooling 14,464, WAUs 322,048, CSUs 8,832, GGBs
    42,372, bottleneck 8,256); SPU 6,568; gates 150; alpha and beta 2."""
    model = create_model("gladsr", 2)
    ndg = model.basic
    assert count_parameters(model.fenet) == 1_792
    assert count_parameters(ndg) == count_parameters(model.refine) == 395_972
    assert sum(count_parameters(glam.pooling) for glam in ndg.glams) == 14_464
    lsbs = [lsb for glam in ndg.glams for lsb in glam.lsbs]
    wau = sum(count_parameters(m) for lsb in lsbs for m in (lsb.wide, lsb.down, lsb.map))
    csu = sum(count_parameters(m) for lsb in lsbs for m in (lsb.encode, lsb.decode))
    assert (wau, csu) == (322_048, 8_832)
    assert sum(count_parameters(glam.ggb) for glam in ndg.glams) == 42_372
    assert count_parameters(ndg.bottleneck) == 8_256
    assert count_parameters(model.gate_coarse) + count_parameters(model.gate_fine) == 150
    assert count_parameters(model) == 1_792 + 2 * 395_972 + 6_568 + 150 + 2


def test_kernel_sizes_and_widths_follow_the_reconstruction():
    lsb = LocalSelectiveBlock(96, 32, 3, 4, 0.2)
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in (lsb.wide, lsb.down, lsb.map)] == [
        (96, 96, (1, 1)),
        (96, 32, (1, 1)),
        (32, 32, (3, 3)),
    ]
    assert (lsb.encode.out_channels, lsb.decode.out_channels) == (8, 32)
    ggb = GlobalGuidedBlock(160, 32, 1, 0.2)
    assert (ggb.compress.kernel_size, ggb.trans.kernel_size, ggb.mask.kernel_size) == ((1, 1), (1, 1), (3, 3))
    assert ggb.mask.out_channels == 1
    ndg = NestedDenseGroup(glams=4)
    assert [glam.pooling.in_channels for glam in ndg.glams] == [64, 96, 128, 160]
    assert ndg.bottleneck.in_channels == 128  # D_1..D_4, not D_0


@pytest.mark.parametrize(("scale", "geometry"), [(2, (4, 2, 1)), (3, (7, 3, 2)), (4, (8, 4, 2))])
def test_spu_geometry_and_odd_sizes(scale, geometry):
    spu = SeparablePyramidUpsampler(scale)
    deconv = spu.deconv
    assert (deconv.kernel_size[0], deconv.stride[0], deconv.padding[0], deconv.groups) == (*geometry, 4)
    assert (deconv.in_channels, deconv.out_channels) == (64, 16)
    assert [(b.kernel_size[0], b.dilation[0], b.out_channels) for b in spu.branches] == [
        (3, 2, 8),
        (3, 4, 8),
        (1, 1, 8),
    ]
    out = spu(torch.rand(2, 64, 9, 13))
    assert out.shape == (2, 24, 9 * scale, 13 * scale)


def test_basic_and_refine_stages_share_one_upsampler():
    model = _tiny(2)
    spus = [name for name, m in model.named_modules(remove_duplicate=False) if isinstance(m, nn.ConvTranspose2d)]
    assert spus == ["upsampler.deconv"]
    state = model.state_dict()
    assert sum(1 for key in state if "deconv.weight" in key) == 1
    # Unshared SPUs would double the x2 -> x3 -> x4 increments, which come only from the deconvolution.
    full = {s: count_parameters(create_model("gladsr_l", s)) for s in (2, 3, 4)}
    spu = {s: count_parameters(SeparablePyramidUpsampler(s)) for s in (2, 3, 4)}
    assert full[3] - full[2] == spu[3] - spu[2] and full[4] - full[3] == spu[4] - spu[3]

    # The one SPU runs twice per forward: on F_c, then on F_f.
    seen: list[torch.Tensor] = []
    handle = model.upsampler.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    x = torch.rand(1, 3, 11, 7)
    with torch.no_grad():
        model(x)
        f_c = model.basic(model.fenet(x))
        f_f = model.refine(f_c)
    handle.remove()
    assert len(seen) == 2  # the manual calls above do not run the SPU
    torch.testing.assert_close(seen[0], f_c)
    torch.testing.assert_close(seen[1], f_f)


def test_both_stages_train_the_shared_upsampler():
    model = _tiny(3).train()
    x = torch.rand(2, 3, 9, 11)
    y, (y_c,) = model.forward_with_intermediate(x)
    (grad_coarse,) = torch.autograd.grad(y_c.square().mean(), model.upsampler.deconv.weight, retain_graph=True)
    (grad_fine,) = torch.autograd.grad((y - y_c).square().mean(), model.upsampler.deconv.weight)
    assert grad_coarse.abs().sum() > 0 and grad_fine.abs().sum() > 0


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_forward_with_intermediate_returns_both_stage_outputs(scale):
    model = _tiny(scale, separate_betas=True)
    with torch.no_grad():
        model.alpha.fill_(0.9)
        model.beta.fill_(0.7)
        model.beta_fine.fill_(1.3)
        x = torch.rand(2, 3, 9, 11)
        y, intermediates = model.forward_with_intermediate(x)
        assert len(intermediates) == 1
        (y_c,) = intermediates
        torch.testing.assert_close(model(x), y)
        # Rebuild eq. 1-4 from the parts.
        f_c = model.basic(model.fenet(x))
        f_f = model.refine(f_c)
        x_up = imresize(x, scale)
        coarse = 0.9 * x_up + 0.7 * model.gate_coarse(model.upsampler(f_c))
        fine = 1.3 * model.gate_fine(model.upsampler(f_f))
    assert y.shape == y_c.shape == (2, 3, 9 * scale, 11 * scale)
    torch.testing.assert_close(y_c, coarse)
    torch.testing.assert_close(y, coarse + fine)
    assert (y - y_c).abs().max() > 1e-3


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("separate_betas", [False, True])
def test_fused_reconstruction_is_the_same_function(scale, separate_betas):
    model = _tiny(scale, separate_betas=separate_betas)
    torch.manual_seed(scale)
    with torch.no_grad():
        # Away from the initialisation (alpha = beta = 1), so every folded factor matters.
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        x = torch.rand(2, 3, 13, 9)
        fused = model.for_inference()
        y, y_fused = model(x), fused(x)
    assert isinstance(fused, FusedGLADSR)
    assert (y - imresize(x, scale) * model.alpha).abs().max() > 1e-2  # the learned part is not negligible
    torch.testing.assert_close(y_fused, y, atol=2e-6, rtol=0)
    # Two convolutions to RGB per stage (dilations 2 and 4), the 1x1 branch folded into the first.
    for stage in (fused.coarse, fused.fine):
        assert [(c.out_channels, c.dilation) for c in stage] == [(3, (2, 2)), (3, (4, 4))]
    # The trunk is shared, not copied: the fused net follows later changes to it.
    assert fused.basic is model.basic and fused.deconv is model.upsampler.deconv


def test_fused_reconstruction_is_built_on_the_source_nets_device_and_dtype():
    model = _tiny(2).double()
    fused = model.for_inference()
    assert {p.dtype for p in fused.parameters()} == {torch.float64}
    x = torch.rand(1, 3, 9, 7, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_subpixel_form_is_the_transposed_convolution(scale):
    kernel, stride, padding = DECONV_GEOMETRY[scale]
    deconv = nn.ConvTranspose2d(8, 4, kernel, stride, padding, groups=4).double()
    x = torch.rand(2, 8, 7, 5, dtype=torch.float64)
    weight, bias, pad = subpixel_form(deconv)
    with torch.no_grad():
        y = F.pixel_shuffle(F.conv2d(x, weight, bias, padding=pad, groups=4), scale)
        torch.testing.assert_close(y, deconv(x), atol=1e-12, rtol=0)  # borders included


def test_fused_net_uses_the_subpixel_form_under_autocast_only():
    # torch's bf16 CPU kernel for the grouped transposed convolution is much slower (README, Speed).
    model = _tiny(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    fused = model.for_inference()
    calls = []
    fused.deconv.register_forward_hook(lambda module, args, out: calls.append(out.dtype))
    x = torch.rand(1, 3, 8, 6)
    with torch.no_grad():
        y = fused(x)
        assert calls == [torch.float32] * 2
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y_bf16 = fused(x)
    assert calls == [torch.float32] * 2  # not called again
    assert y_bf16.dtype == torch.float32 and y_bf16.shape == (1, 3, 24, 18)
    torch.testing.assert_close(y_bf16, y, atol=0.02, rtol=0)  # bf16 rounding of the features only


def _channels_last(*shape: int) -> torch.Tensor:
    return torch.rand(*shape).contiguous(memory_format=torch.channels_last)


def test_pointwise_is_the_1x1_convolution_in_every_layout():
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 7, 1)
    wide = _channels_last(2, 9, 6, 4)
    strided = wide[:, 2:7]  # channels 2..6 of a wider channels-last tensor: rows 9 wide, not 5
    assert not strided.is_contiguous() and not strided.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for z in (torch.rand(2, 5, 6, 4), _channels_last(2, 5, 6, 4), strided):
            expected = F.conv2d(z.contiguous(), conv.weight, conv.bias)
            torch.testing.assert_close(pointwise(conv, z), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("recording", [True, False])
def test_dense_features_are_the_concatenation_of_the_pieces(recording):
    pieces = [_channels_last(2, 4, 5, 3), _channels_last(2, 3, 5, 3), _channels_last(2, 3, 5, 3)]
    with torch.set_grad_enabled(recording):
        dense = DenseFeatures(pieces[0], 10)
        # Without autograd the pieces go into one buffer; while it records they are concatenated.
        assert (dense.buffer is None) == recording
        for k, piece in enumerate(pieces[1:], start=2):
            dense.append(piece)
            torch.testing.assert_close(dense.view(), torch.cat(pieces[:k], dim=1), atol=0, rtol=0)
        torch.testing.assert_close(dense.view(start=4), torch.cat(pieces[1:], dim=1), atol=0, rtol=0)
    with torch.no_grad():
        assert DenseFeatures(torch.rand(2, 4, 5, 3), 10).buffer is None  # the default layout: concatenated


@pytest.mark.parametrize("scale", [2, 3])
def test_inference_without_autograd_is_the_same_function(scale):
    """The buffered dense features (no autograd, channels-last) against the concatenating path."""
    model = _tiny(scale, glams=2, blocks=2).to(memory_format=torch.channels_last)
    torch.manual_seed(scale)
    x = _channels_last(1, 3, 11, 8)
    y = model(x)  # autograd records: the concatenating path
    with torch.inference_mode():
        torch.testing.assert_close(model(x), y.detach(), atol=2e-6, rtol=0)
        torch.testing.assert_close(model.for_inference()(x), y.detach(), atol=2e-6, rtol=0)


def test_separate_betas_add_one_parameter():
    one = count_parameters(create_model("gladsr_l", 2))
    two = count_parameters(create_model("gladsr_l", 2, separate_betas=True))
    assert two == one + 1


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("size", [(17, 23), (11, 7), (1, 5)])
def test_output_is_exactly_scale_times_the_input(scale, size):
    model = _tiny(scale)
    with torch.no_grad():
        y = model(torch.rand(1, 3, *size))
    assert y.shape == (1, 3, size[0] * scale, size[1] * scale)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_with_gates_zeroed_the_output_is_alpha_times_matlab_bicubic(scale):
    model = _tiny(scale)
    with torch.no_grad():
        for gate in (model.gate_coarse, model.gate_fine):
            gate.weight.zero_()
            gate.bias.zero_()
        model.alpha.fill_(0.75)
        x = torch.rand(2, 3, 11, 7)
        y = model(x)
    # The reference: MATLAB imresize computed in float64 on (H, W, C) numpy images, a separate code path.
    for image, out in zip(x, y, strict=True):
        reference = imresize(image.permute(1, 2, 0).double().numpy(), scale)
        np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), 0.75 * reference, rtol=1e-5, atol=1e-6)
    # MATLAB's bicubic (a = -0.5) is not PyTorch's (a = -0.75).
    torch_bicubic = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    assert (y - 0.75 * torch_bicubic).abs().max() > 1e-3


def _local_radius(model: nn.Module, scale: int, width: int) -> int:
    """Measured context in LR pixels: the columns of a 3-row strip that reach a central output pixel.

    Runs in float64 (a long chain of small gradients underflows in float32) with the CSU's decoders
    zeroed, so that the channel weights are constants and the global pooling passes no gradient.
    """
    model = model.double().eval()
    for module in model.modules():
        if isinstance(module, LocalSelectiveBlock):
            nn.init.zeros_(module.decode.weight)
    x = torch.rand(1, 3, 3, width, dtype=torch.float64, requires_grad=True)
    y = model(x)
    centre, radius = width // 2, 0
    for phase in range(scale):
        (grad,) = torch.autograd.grad(y[0, :, 1, centre * scale + phase].sum(), x, retain_graph=True)
        columns = (grad.abs().sum(dim=(0, 1, 2)) > 0).nonzero().flatten()
        radius = max(radius, int((columns - centre).abs().max()))
    return radius


@pytest.mark.parametrize(("glams", "blocks"), [(1, 1), (2, 3)])
def test_receptive_margin_is_the_measured_local_field(glams, blocks):
    for scale in (2, 3, 4):
        model = _tiny(scale, glams=glams, blocks=blocks)
        radius = _local_radius(model, scale, width=2 * receptive_margin(glams, blocks) + 9)
        # The dilation-4 branch reaches 2 LR pixels at x2 only.
        assert radius == receptive_margin(glams, blocks) - (scale > 2)
    assert [MODELS[n].margin for n in ("gladsr_l", "gladsr", "gladsr_large")] == [24, 44, 180]


def test_channel_attention_pools_globally():
    """A change far outside the margin still moves the output a little (``global_context``)."""
    assert all(MODELS[n].global_context for n in ("gladsr_l", "gladsr", "gladsr_large"))
    glam = GlobalLocalAdjustingModule(16, growth=8, blocks=1, expansion=2).eval()
    x = torch.rand(1, 16, 5, 40)
    x2 = x.clone()
    x2[..., -1] += 1.0
    with torch.no_grad():
        diff = (glam(x) - glam(x2))[..., :5].abs().max()
    assert diff > 0


def _window_means_by_loops(u: torch.Tensor, window: int) -> torch.Tensor:
    """Each pixel's mean over the ``window``-sided square around it, shifted inside the image."""
    h, w = u.shape[-2:]
    kh, kw = min(window, h), min(window, w)
    out = torch.empty_like(u)
    for i in range(h):
        top = min(max(i - (kh - 1) // 2, 0), h - kh)
        for j in range(w):
            left = min(max(j - (kw - 1) // 2, 0), w - kw)
            out[..., i, j] = u[..., top : top + kh, left : left + kw].mean(dim=(-2, -1))
    return out


@pytest.mark.parametrize(("size", "window"), [((13, 17), 5), ((12, 9), 4), ((6, 20), 8), ((7, 7), 7)])
def test_windowed_channel_statistics_are_each_pixels_window_mean(size, window):
    u = torch.randn(2, 3, *size, dtype=torch.float64)
    got = channel_statistics(u, window)
    want = _window_means_by_loops(u, window)
    # A window covering the whole image is the global mean, one value per channel.
    assert got.shape[-2:] == ((1, 1) if window >= max(size) else size)
    torch.testing.assert_close(got.expand_as(want), want)


def test_window_zero_is_the_papers_global_pooling():
    u = torch.randn(1, 4, 9, 11)
    torch.testing.assert_close(channel_statistics(u, 0), u.mean(dim=(2, 3), keepdim=True))


def test_pool_window_changes_the_function_not_the_parameters():
    local = _tiny(2, pool_window=4)
    paper = _tiny(2)
    assert list(local.state_dict()) == list(paper.state_dict())
    paper.load_state_dict(local.state_dict())
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert not torch.allclose(local(x), paper(x))
    # On an image no larger than the window every pixel sees the whole image: the paper's net.
    wide = _tiny(2, pool_window=12)
    wide.load_state_dict(local.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(wide(x), paper(x))
    with pytest.raises(ValueError, match="pool_window"):
        GLADSR(2, **TINY, pool_window=-1)


def test_grown_glams_start_switched_off_and_then_learn():
    """grow_glams: the larger network computes the smaller one's output; its new GLAMs get gradients."""
    torch.manual_seed(0)
    small = _tiny(2)
    big = _tiny(2, glams=2)
    big.load_state_dict(grow_glams(small.state_dict(), big))
    x = torch.rand(2, 3, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(big(x), small(x))
    # The zero bottleneck columns are trained, and once they move the new GLAM's weights get gradients.
    big.train()
    big(x).abs().mean().backward()
    assert big.basic.bottleneck.weight.grad[:, TINY["growth"] :].abs().sum() > 0
    with torch.no_grad():
        big.basic.bottleneck.weight[:, TINY["growth"] :] = 0.1
    big.zero_grad()
    big(x).abs().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in big.basic.glams[1].parameters())


def test_grow_glams_refuses_a_state_that_does_not_fit():
    big = _tiny(2, glams=2)
    with pytest.raises(ValueError, match="upsampler"):
        grow_glams(_tiny(4).state_dict(), big)  # another scale's deconvolution
    with pytest.raises(ValueError, match="not a tensor"):
        grow_glams({"extra.weight": torch.zeros(1)}, big)
