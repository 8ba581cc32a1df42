"""DRRN: weight sharing inside recursive blocks, per-unit BatchNorm, multi-path structure, eq. 7,
the 297K count, and VDSR as the U = 0 special case."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from glsr.errors import BadArgument
from glsr.models import MODELS, count_parameters, create_model
from glsr.models.drrn import DRRN, grow_units
from glsr.models.vdsr import VDSR


def _conv_parameters(model: nn.Module) -> int:
    return sum(p.numel() for m in model.modules() if isinstance(m, nn.Conv2d) for p in m.parameters())


def test_b1u9_and_b1u25_have_the_same_297216_conv_weights():
    b1u9, b1u25 = create_model("drrn_b1u9", 3), create_model("drrn_b1u25", 3)
    # 9*128 + 2*(9*128*128) + 9*128: recursion adds depth, not weights
    assert count_parameters(b1u9, "conv_weights") == count_parameters(b1u25, "conv_weights") == 297_216
    assert _conv_parameters(b1u9) == _conv_parameters(b1u25) == 297_601  # + 3*128 + 1 biases
    conv_shapes = [[p.shape for n, p in m.named_parameters() if "conv" in n] for m in (b1u9, b1u25)]
    assert conv_shapes[0] == conv_shapes[1]
    # BN is not shared across the unrolled units: 1 (input) + 2U*128 + 128 channels, gamma and beta
    assert count_parameters(b1u9) == 297_601 + 2 * (1 + 18 * 128 + 128) == 302_467
    assert count_parameters(b1u25) == 297_601 + 2 * (1 + 50 * 128 + 128) == 310_659


@pytest.mark.parametrize(("name", "units", "depth"), [("drrn_b1u9", 9, 20), ("drrn_b1u25", 25, 52)])
def test_units_share_two_convolutions_but_each_has_its_own_batch_norm(name, units, depth):
    model = create_model(name, 2, channels=8)
    assert model.depth == depth == MODELS[name].margin  # eq. 7
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4  # first conv, the shared pair, reconstruction
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 2 * units + 2  # own BN per unrolled conv + the input + before conv_end
    block = model.blocks[0]
    calls = {"a": 0, "b": 0}
    hooks = [
        block.conv_a.register_forward_hook(lambda *_: calls.__setitem__("a", calls["a"] + 1)),
        block.conv_b.register_forward_hook(lambda *_: calls.__setitem__("b", calls["b"] + 1)),
    ]
    with torch.no_grad():
        model.eval()(torch.rand(1, 1, 5, 6))
    for h in hooks:
        h.remove()
    assert calls == {"a": units, "b": units}
    # the state dict holds each shared tensor once (safetensors refuses aliased tensors)
    assert sum(k.endswith("conv_a.weight") for k in model.state_dict()) == 1


def _reference(model: DRRN, x: torch.Tensor) -> torch.Tensor:
    """Eq. 4-9 written out with functional ops, BN in inference mode."""

    def pa(bn: nn.BatchNorm2d, h: torch.Tensor) -> torch.Tensor:
        h = F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        return F.relu(h)

    def conv(c: nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
        return F.conv2d(h, c.weight, c.bias, padding=1)

    h = x
    for block in model.blocks:
        h0 = conv(block.conv, pa(block.pre_activation.norm, h))  # the raw input is pre-activated too
        h = h0
        for unit in block.units:
            a = conv(block.conv_a, pa(unit.pre_activation_a.norm, h))
            h = conv(block.conv_b, pa(unit.pre_activation_b.norm, a)) + h0  # multi-path: identity is H0
    return x + conv(model.reconstruction, pa(model.pre_reconstruction.norm, h))


def test_forward_is_eq_9_with_multi_path_units_and_per_unit_batch_norm():
    model = DRRN(blocks=2, units=3, channels=8).eval()
    with torch.no_grad():
        for m in model.modules():  # distinct, non-trivial statistics per BN
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        x = torch.rand(2, 1, 11, 14)
        torch.testing.assert_close(model(x), _reference(model, x))


def test_vdsr_is_drrn_with_no_residual_units():
    """DRRN Sec. 3.3: "when U = 0, DRRN becomes VDSR" (19 blocks of one convolution + conv_end)."""
    vdsr = VDSR().eval()
    drrn = create_model("drrn", 2, blocks=19, units=0, channels=64, batch_norm=False).eval()
    assert count_parameters(drrn) == count_parameters(vdsr) == 665_921
    assert drrn.depth == 20
    with torch.no_grad():
        for block, conv in zip(drrn.blocks, vdsr.layers[:-1], strict=True):
            block.conv.load_state_dict(conv.state_dict())
        drrn.reconstruction.load_state_dict(vdsr.layers[-1].state_dict())
        x = torch.rand(2, 1, 21, 17)  # in [0, 1]: ReLU pre-activation of the input is the identity
        y = vdsr(x)
        assert not torch.allclose(y, x)  # the residual branch is not trivially zero
        torch.testing.assert_close(drrn(x), y)


def test_rejects_no_blocks():
    with pytest.raises(BadArgument):
        DRRN(blocks=0)


def test_margin_is_the_receptive_radius():
    model = DRRN(blocks=1, units=2, channels=4).double().eval()  # depth 6
    x = torch.rand(1, 1, 21, 21, dtype=torch.float64, requires_grad=True)
    model(x)[0, 0, 10, 10].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    assert max(int((rows - 10).abs().max()), int((cols - 10).abs().max())) == model.depth == 6


def test_zero_init_starts_as_the_identity_and_still_learns():
    torch.manual_seed(0)
    model = DRRN(units=2, channels=8, zero_init=True)
    x = torch.rand(2, 1, 12, 12)
    assert torch.equal(model(x), x)  # eq. 9 with a zero residual
    assert not torch.equal(DRRN(units=2, channels=8)(x), x)
    loss = (model(x) - x.flip(-1)).square().mean()
    loss.backward()
    assert model.reconstruction.weight.grad.abs().sum() > 0  # the zero layer is trained


def _trained_looking(model: DRRN) -> DRRN:
    """Random BatchNorm statistics and affines, as a trained network has, so no unit is neutral."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
        elif isinstance(m, nn.Conv2d):
            m.bias.data.uniform_(-0.3, 0.3)
    return model


def test_grow_units_starts_where_the_smaller_drrn_ended():
    """B1U2 -> B1U5: exact with the new units off, close as grown, and the new units learn."""
    small = _trained_looking(DRRN(units=2, channels=8)).eval()
    x = torch.rand(3, 1, 12, 12)
    exact = DRRN(units=5, channels=8).eval()
    exact.load_state_dict(grow_units(small.state_dict(), exact, off_scale=0.0))
    grown = DRRN(units=5, channels=8).eval()
    grown.load_state_dict(grow_units(small.state_dict(), grown))
    with torch.no_grad():
        torch.testing.assert_close(exact(x), small(x), atol=1e-5, rtol=0)
        gap = (grown(x) - small(x)).abs().max().item()
        assert 0 < gap < 1e-3
        small.train(), exact.train()  # batch statistics: the shift of the first old unit cancels too
        torch.testing.assert_close(exact(x), small(x), atol=1e-5, rtol=0)
    grown.train()
    ((grown(x) - x) ** 2).mean().backward()
    assert grown.blocks[0].units[0].pre_activation_b.norm.weight.grad.abs().sum() > 0
    # The shared convolutions are the smaller network's.
    torch.testing.assert_close(grown.blocks[0].conv_a.weight, small.blocks[0].conv_a.weight)


def test_grow_units_refuses_what_does_not_fit():
    small = DRRN(units=3, channels=8)
    with pytest.raises(ValueError, match="do not fit"):
        grow_units(small.state_dict(), DRRN(units=2, channels=8))  # fewer units
    with pytest.raises(ValueError, match="of that shape"):
        grow_units(small.state_dict(), DRRN(units=5, channels=4))  # another width
    with pytest.raises(ValueError, match="BatchNorm"):
        plain = DRRN(units=1, channels=8, batch_norm=False)
        grow_units(plain.state_dict(), DRRN(units=2, channels=8, batch_norm=False))
