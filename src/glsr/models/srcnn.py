"""SRCNN: Dong, Loy, He, Tang (2016), "Image Super-Resolution Using Deep Convolutional Networks",
IEEE TPAMI 38(2) (the ECCV 2014 paper extended).

Three convolutions on the bicubic-interpolated luminance (Sec. 3.1): patch extraction and
representation (``f1 x f1``, ``n1`` filters, ReLU), non-linear mapping (``f2 x f2``, ``n2`` filters,
ReLU) and reconstruction (``f3 x f3``, one filter). The variant here is the TPAMI 9-5-5 network with
n1 = 64 and n2 = 32 (57,184 weights, the "57K" that DRRN and GLADSR quote), not the ECCV 9-1-5 one.

The paper trains on "valid" 33x33 sub-images and predicts the central 17x17. For whole images we use
zero ("same") padding, so the output has the input's size (../shared/docs/architectures.md §1.1).
There is no global residual: the network predicts the HR luminance itself.
"""

from __future__ import annotations

import torch
from torch import nn

from glsr.models._layers import he_conv, outside_autocast
from glsr.models._spec import ModelSpec


class SRCNN(nn.Module):
    """The three-layer network of Sec. 3.1, eq. 1-3.

    ``F(Y) = W3 * max(0, W2 * max(0, W1 * Y + B1) + B2) + B3``.

    Maps the interpolated luminance ``(N, 1, H, W)`` in [0, 1] to the HR luminance of the same size.
    The paper initialises with a Gaussian of std 1e-3; He initialisation, as the public PyTorch ports
    use, trains faster.

    Args:
        f1, f2, f3: kernel sizes of the three layers (9-5-5; the ECCV version is 9-1-5).
        n1, n2: filters of the first two layers (64, 32).
        identity_init: start as the identity map (ours, a training choice): filter 0 of each layer
            is a centred delta on channel 0, which the ReLUs pass because the input is in [0, 1],
            and the other reconstruction weights are zero. Training then starts from the bicubic
            image, as a global residual would, while the network stays eq. 1-3.
    """

    def __init__(
        self, f1: int = 9, f2: int = 5, f3: int = 5, n1: int = 64, n2: int = 32, identity_init: bool = False
    ) -> None:
        super().__init__()
        self.patch_extraction = he_conv(1, n1, f1)
        self.nonlinear_mapping = he_conv(n1, n2, f2)
        self.reconstruction = he_conv(n2, 1, f3)
        if identity_init:
            with torch.no_grad():
                self.nonlinear_mapping.weight[0].zero_()
                self.reconstruction.weight.zero_()
                for conv in (self.patch_extraction, self.nonlinear_mapping, self.reconstruction):
                    k = conv.kernel_size[0] // 2
                    conv.weight[0, 0].zero_()
                    conv.weight[0, 0, k, k] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = outside_autocast(lambda image: torch.relu(self.patch_extraction(image)), x)
        h = torch.relu(self.nonlinear_mapping(h))
        return outside_autocast(self.reconstruction, h)


def _build(scale: int, **kwargs: object) -> SRCNN:
    return SRCNN(**kwargs)  # type: ignore[arg-type]


SPECS = (
    ModelSpec(
        name="srcnn",
        paper="Dong, Loy, He, Tang 2016, SRCNN (TPAMI, 9-5-5)",
        build=_build,
        input="luma-interpolated",
        protocol="luma",
        test_kwargs={"n1": 8, "n2": 4},
        paper_params={2: 57_000, 3: 57_000, 4: 57_000},
        param_tolerance=0.03,
        margin=8,
        multiscale=False,
        description="SRCNN 9-5-5 (64/32 filters): 3 convolutions on the interpolated luminance",
    ),
)
