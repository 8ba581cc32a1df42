"""SRGRN: "Global Reasoning Network for Image Super-Resolution" (anonymous ICLR 2020 submission).

The network (paper Fig. 1) is ``I_SR = H_GRRB(H_GRUM(H_FEX(I_LR)))`` (eq. 1-3):

1. feature extraction ``F_L = H_FEX(I_LR)``: the RDN trunk, "the same as the RDN settings"
   (:class:`glsr.models.rdn.RDNTrunk`, D = 16, C = 8, G = 64);
2. the global reasoning upsampling module (GRUM, Sec. 3.2, Fig. 2): ``F_L`` is projected onto N graph
   nodes, the nodes reason with each other (CLC) and widen their channels by r^2, and are re-projected
   onto the pixels and pixel-shuffled; a learned ``gamma1`` mixes that with a plain sub-pixel
   convolution. One GRUM for x2/x3, two chained x2 GRUMs for x4 (as EDSR does, Sec. 3.4);
3. the global reasoning reconstruction block (GRRB, Sec. 3.3, Fig. 3): the same graph reasoning at HR
   as a ``gamma``-weighted residual, then two convolutions to RGB.

No public code exists; this follows the reconstruction in ../shared/docs/architectures.md §4:
aggregation divided by H*W (GloRe's ``normalize``, since test images are far larger than the 48x48
training patches), both CLC convolutions mix the node axis, the softmax runs over the nodes, the
projection and re-projection are separate 1x1 convolutions, ``gamma1`` and ``gamma`` are unconstrained
scalars initialised to 0, the GRRB's two convolutions are 3x3 and linear. Because both gammas start
at 0, a fresh SRGRN computes exactly its sub-pixel path: RDN's trunk and sub-pixel upsampling, with
the ``F_S`` and reconstruction convolutions.

N = 10 nodes and bottleneck reduction alpha = 8 are the paper's best setting (Table 1); with the RDN
trunk the totals are 22.20M / 22.39M / 22.39M, which contradicts the paper's claim of fewer
parameters than MDSR and D-DBPN (§4.4).
"""

from __future__ import annotations

import torch
from torch import nn

from glsr.models._layers import outside_autocast
from glsr.models._spec import ModelSpec
from glsr.models.rdn import RDNTrunk, SubPixelConvolution, conv3x3, upsampling_factors


def aggregate_nodes(weights: torch.Tensor, features: torch.Tensor, normalize: bool) -> torch.Tensor:
    """``Y_W = W_N . V_d(F)^T`` (eq. 5, 12): ``(B, N, H, W)`` weights, ``(B, C, H, W)`` -> ``(B, N, C)``.

    With ``normalize`` the sum over pixels becomes a mean, so the node features do not grow with the
    image size.
    """
    w = weights.flatten(2)
    f = features.flatten(2)
    nodes = torch.bmm(w, f.transpose(1, 2))
    if normalize:
        nodes = nodes / f.shape[-1]
    return nodes


def reproject(node_features: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``V_u(Y . Softmax(V_d(logits)))`` (eq. 8-9, 13): ``(B, C', N)``, ``(B, N, H, W)`` -> ``(B, C', H, W)``.

    The softmax runs over the N nodes ("along the column"), so each pixel takes a convex combination of
    the node features.
    """
    p = torch.softmax(logits.flatten(2), dim=1)
    return torch.bmm(node_features, p).unflatten(2, logits.shape[2:])


class NodeReasoning(nn.Module):
    """CLC (eq. 6): ``Y_N = Conv1d(LReLU(Conv1d(Y_W)))``, kernel-1 convolutions along the node axis.

    Each convolution is an N x N matrix (the adjacency of the weighted complete graph) plus a bias,
    applied to every channel of ``(B, N, C)`` node features.
    """

    def __init__(self, nodes: int, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(nodes, nodes, 1)
        self.act = nn.LeakyReLU(negative_slope)
        self.conv2 = nn.Conv1d(nodes, nodes, 1)

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(nodes)))


class GlobalReasoningUpsampler(nn.Module):
    """GRUM (Sec. 3.2, Fig. 2, eq. 4-11): ``(B, C, H, W)`` -> ``F_S``, ``(B, C, rH, rW)``.

    ``W_N = Conv1x1(F_L)`` (C -> N) aggregates ``F_L`` into N nodes (eq. 4-5); CLC reasons over them
    (eq. 6); a channel bottleneck ``Conv1d(C/alpha -> r^2 C)(LReLU(Conv1d(C -> C/alpha)))`` widens each
    node (eq. 7); a separate softmax-normalised ``Conv1x1(F_L)`` redistributes the nodes to the pixels
    (eq. 8-9). Then ``Y_S = gamma1 PS(Y_rC) + (1 - gamma1) H_UP(F_L)`` (eq. 10), with ``H_UP`` the
    sub-pixel convolution and ``gamma1`` initialised to 0, and ``F_S = Conv3x3(Y_S)`` (eq. 11).

    Args:
        channels: C. factor: r. nodes: N. reduction: alpha (the bottleneck width is C / alpha).
        normalize: divide the aggregation by H*W. negative_slope: of the LReLUs.
    """

    def __init__(
        self,
        channels: int,
        factor: int,
        nodes: int = 10,
        reduction: int = 8,
        normalize: bool = True,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.normalize = normalize
        self.projection = nn.Conv2d(channels, nodes, 1)  # W_N, eq. 4
        self.reasoning = NodeReasoning(nodes, negative_slope)  # eq. 6
        self.bottleneck = nn.Sequential(  # eq. 7, on the transposed (B, C, N) node features
            nn.Conv1d(channels, channels // reduction, 1),
            nn.LeakyReLU(negative_slope),
            nn.Conv1d(channels // reduction, channels * factor * factor, 1),
        )
        self.reprojection = nn.Conv2d(channels, nodes, 1)  # W_P, eq. 8
        self.shuffle = nn.PixelShuffle(factor)
        self.upsample = SubPixelConvolution(channels, factor)  # H_UP, eq. 10
        self.gamma1 = nn.Parameter(torch.zeros(()))
        self.conv = conv3x3(channels, channels)  # eq. 11

    def forward(self, f_l: torch.Tensor) -> torch.Tensor:
        nodes = self.reasoning(aggregate_nodes(self.projection(f_l), f_l, self.normalize))
        widened = self.bottleneck(nodes.transpose(1, 2))  # (B, r^2 C, N)
        y_rc = reproject(widened, self.reprojection(f_l))
        y_s = self.gamma1 * self.shuffle(y_rc) + (1 - self.gamma1) * self.upsample(f_l)
        return self.conv(y_s)


class GlobalReasoningReconstruction(nn.Module):
    """GRRB (Sec. 3.3, Fig. 3, eq. 12-15): ``F_S`` (B, C, rH, rW) -> the RGB image.

    ``Y_RW = Conv1x1(F_S) . V_d(F_S)^T`` (eq. 12), CLC, re-projection with a softmax over the nodes
    (eq. 13), ``Y_RS = gamma Y_RrC + F_S`` with ``gamma`` initialised to 0 (eq. 14), and "two Convs"
    (eq. 15): linear 3x3 convolutions C -> C -> 3, as RDN's tail is linear.

    Args:
        channels: C. out_channels: image channels. nodes: N. normalize: divide the aggregation by
            H*W. negative_slope: of the CLC's LReLU.
    """

    def __init__(
        self,
        channels: int,
        out_channels: int = 3,
        nodes: int = 10,
        normalize: bool = True,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.normalize = normalize
        self.projection = nn.Conv2d(channels, nodes, 1)  # W_RN
        self.reasoning = NodeReasoning(nodes, negative_slope)
        self.reprojection = nn.Conv2d(channels, nodes, 1)  # W_RP
        self.gamma = nn.Parameter(torch.zeros(()))
        self.conv1 = conv3x3(channels, channels)
        self.conv2 = conv3x3(channels, out_channels)

    def forward(self, f_s: torch.Tensor) -> torch.Tensor:
        nodes = self.reasoning(aggregate_nodes(self.projection(f_s), f_s, self.normalize))
        y_rrc = reproject(nodes.transpose(1, 2), self.reprojection(f_s))
        y_rs = self.gamma * y_rrc + f_s
        return outside_autocast(self.conv2, self.conv1(y_rs))


class SRGRN(nn.Module):
    """Super-resolution global reasoning network (Fig. 1): RDN trunk, GRUM(s), GRRB.

    Maps LR RGB ``(N, 3, H, W)`` in [0, 1] to ``(N, 3, sH, sW)``. There is no bicubic skip (as RDN).

    Args:
        scale: the upscaling factor (2, 3 or 4; x4 chains two x2 GRUMs).
        channels: the trunk's G0 (C in the GRUM). growth, blocks, layers: the trunk's G, D, C.
        nodes: N, the graph nodes of every GRUM and the GRRB. reduction: alpha, the GRUM bottleneck's
            channel reduction. normalize: divide node aggregation by the number of pixels.
        negative_slope: of every LReLU (Sec. 3.4: 0.2).
    """

    def __init__(
        self,
        scale: int,
        channels: int = 64,
        growth: int = 64,
        blocks: int = 16,
        layers: int = 8,
        nodes: int = 10,
        reduction: int = 8,
        normalize: bool = True,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.trunk = RDNTrunk(3, channels, growth, blocks, layers)
        self.upsampler = nn.Sequential(
            *(
                GlobalReasoningUpsampler(channels, r, nodes, reduction, normalize, negative_slope)
                for r in upsampling_factors(scale)
            )
        )
        self.reconstruction = GlobalReasoningReconstruction(channels, 3, nodes, normalize, negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruction(self.upsampler(self.trunk(x)))


def receptive_margin(blocks: int, layers: int) -> int:
    """The local context, in LR pixels, an SRGRN output pixel needs on each side.

    The graph reasoning itself is global. The local part: the RDN trunk (2 + D C + 1), the sub-pixel
    conv (1), and the 3x3 convs at HR, ``F_S`` and the GRRB's two (at x4 also the second GRUM's): 3 HR
    pixels at x2, which reach 2 LR pixels (1 at x3).
    """
    return 2 + blocks * layers + 1 + 1 + 2


def _build(scale: int, **kwargs: object) -> SRGRN:
    return SRGRN(scale, **kwargs)  # type: ignore[arg-type]


SPECS = (
    ModelSpec(
        name="srgrn",
        paper="Global Reasoning Network for Image Super-Resolution (SRGRN), ICLR 2020 submission",
        build=_build,
        input="rgb-lowres",
        protocol="rgb",
        # The paper gives no count. The RDN trunk makes 22,203,117 / 22,390,637 / 22,392,102.
        paper_params={2: 22_200_000, 3: 22_200_000, 4: 22_200_000},
        param_tolerance=0.05,
        test_kwargs={"channels": 8, "growth": 8, "blocks": 2, "layers": 2, "nodes": 4, "reduction": 4},
        margin=receptive_margin(16, 8),  # 134
        global_context=True,
        description="SRGRN: RDN trunk, graph-reasoning upsampling (GRUM) and reconstruction (GRRB)",
    ),
)
