"""GLRL's structure: eq. 12 blocks, the shared reconstruction, the weighted average, 16 layers deep."""

from __future__ import annotations

import pytest
import torch

from glsr.models import count_parameters, create_model
from glsr.models.glrl import GLRL


def receptive_radius(model: torch.nn.Module, size: int = 41) -> int:
    """How far (in pixels) the centre output depends on the input: one per 3x3 conv on the longest path."""
    model = model.double().eval()
    x = torch.rand(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    model(x)[0, 0, size // 2, size // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    return int(size // 2 - rows.min())


def test_sixteen_conv_layers_on_the_longest_path():
    assert receptive_radius(GLRL(channels=4)) == 16  # 2 feature + 3 x 4 deep-branch + 2 reconstruction
    assert receptive_radius(GLRL(channels=4, blocks=2)) == 12  # Table 1's 2-LRB network


def test_parameter_counts():
    assert count_parameters(create_model("glrl", 2)) == 629_956
    assert count_parameters(create_model("glrl", 2, share_weights=True)) == 408_388


def test_block_is_deep_branch_plus_shallow_branch():
    """Eq. 12: x_u = G_D(a) + G_S(a), with a the pre-activated input and G_S's output the units' identity."""
    block = GLRL(channels=6).blocks[0].double()
    x = torch.randn(2, 6, 9, 9, dtype=torch.float64)
    a = block.pre_activation(x)
    shallow = block.shallow(a)
    unit1, unit2 = block.deep
    h1 = unit1.conv_b(unit1.act(unit1.conv_a(a))) + shallow
    h2 = unit2.conv_b(unit2.act(unit2.conv_a(block.unit_activations[0](h1)))) + shallow
    torch.testing.assert_close(block(x), h2)
    assert not torch.allclose(block(x), h2 - shallow)  # the shallow term really is there


def test_shared_reconstruction_and_learned_weighted_average():
    model = GLRL(channels=6).double()
    with torch.no_grad():
        model.block_weights.copy_(torch.tensor([0.2, -0.5, 1.3]))
    x = torch.rand(1, 1, 12, 10, dtype=torch.float64)
    final, predictions = model.forward_with_intermediate(x)
    assert len(predictions) == 3
    torch.testing.assert_close(final, 0.2 * predictions[0] - 0.5 * predictions[1] + 1.3 * predictions[2])
    # Every prediction is the ILR plus the shared reconstruction of its block's features.
    h = model.features(x)
    for block, prediction in zip(model.blocks, predictions, strict=True):
        h = block(h)
        torch.testing.assert_close(prediction, x + model.reconstruction(h, torch.zeros_like(x)))
    assert sum(1 for m in model.modules() if m.__class__.__name__ == "Reconstruction") == 1


def test_initial_weights_average_the_blocks():
    model = create_model("glrl", 2)
    torch.testing.assert_close(model.block_weights, torch.full((3,), 1 / 3))


@pytest.mark.parametrize("share", [False, True])
def test_deep_branch_sharing_option(share):
    block = GLRL(channels=4, share_weights=share).blocks[0]
    first, second = block.deep
    assert (first.conv_a is second.conv_a) == share
    assert (first.conv_b is second.conv_b) == share


def test_shared_weights_survive_a_safetensors_round_trip(tmp_path):
    from glsr.weights import load_weights_file, save_weights

    model = create_model("glrl", 2, channels=6, share_weights=True)
    save_weights(model, tmp_path / "w.safetensors")
    fresh = create_model("glrl", 2, channels=6, share_weights=True)
    load_weights_file(fresh, tmp_path / "w.safetensors")
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(fresh(x), model(x))
    assert fresh.blocks[0].deep[0].conv_a is fresh.blocks[0].deep[1].conv_a  # still one convolution


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, 629_956),
        ({"shallow_layers": 2}, 629_956 + 3 * (36_928 + 64)),  # (a): a second conv + PReLU per shallow branch
        ({"concat_interpolated": True}, 629_956 + 64 * 9),  # (b): one more input channel of Rec1
        ({"shared_reconstruction": False}, 629_956 + 2 * (36_928 + 577 + 128)),  # (c): two more Rec nets
        # (e) the DRRN width: FE 1,280 + 147,584 + 128; 3 blocks x (5 x 147,584 + 4 x 128); Rec 147,584 + 1,153 + 256; 3
        ({"channels": 128}, 2_513_284),
    ],
)
def test_architecture_alternatives(options, expected):
    model = create_model("glrl", 2, **options)
    assert count_parameters(model) == expected
    y = model(torch.rand(1, 1, 13, 11))
    assert y.shape == (1, 1, 13, 11)


def test_alternatives_keep_sixteen_layers_and_the_default_keys():
    assert receptive_radius(GLRL(channels=4, shallow_layers=2)) == 16
    keys = set(GLRL(channels=4).state_dict())
    assert "reconstruction.conv2.weight" in keys and not any(k.startswith("reconstructions.") for k in keys)
    unshared = GLRL(channels=4, shared_reconstruction=False)
    assert unshared.reconstructions[0] is not unshared.reconstructions[1]
