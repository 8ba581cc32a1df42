"""What machine a figure was measured or a model trained on, in one line."""

from __future__ import annotations

import platform
from pathlib import Path

import torch


def _cpuinfo_field(name: str) -> str:
    """The first value of ``name`` in /proc/cpuinfo, or '' where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(name) and ":" in line and line.split(":", 1)[0].strip() == name:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else what ``platform`` knows."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def bf16_units(flags: str | None = None) -> str:
    """Which bfloat16 matrix units the CPU has, from its flags: 'AMX', 'AVX-512 BF16, no AMX' or ''.

    The same model name can hide either: bf16 autocast ran a training step about 3.7x faster than fp32
    on a CPU with AMX, and 1.4x slower on an Intel one with only AVX-512 BF16 (docs/training.md), so a
    figure measured on a CPU names them.
    """
    found = set((_cpuinfo_field("flags") if flags is None else flags).split())
    if "amx_bf16" in found:
        return "AMX"
    if "avx512_bf16" in found:
        return "AVX-512 BF16, no AMX"
    return ""


def fast_bf16(flags: str | None = None, vendor: str | None = None) -> bool:
    """Whether bf16 autocast runs inference faster than fp32 on this CPU, by what was measured.

    AMX: VDSR, GLRL and GLADSR-L upscaled 1.9-4.2x faster on a 2-core Intel Xeon. AVX-512 BF16 on an
    AMD CPU (Zen 4 and later): GLRL 1.9x on a 2-core AMD EPYC (README, "Speed"). AVX-512 BF16 on an
    Intel CPU without AMX: GLRL x2 only 1.09x, and training steps slower, so not there.
    ``flags`` and ``vendor`` default to this machine's /proc/cpuinfo.
    """
    units = bf16_units(flags)
    if units == "AMX":
        return True
    found_vendor = _cpuinfo_field("vendor_id") if vendor is None else vendor
    return units == "AVX-512 BF16, no AMX" and found_vendor == "AuthenticAMD"


def describe(device: torch.device | str = "cpu") -> str:
    """The device's name (the GPU, or the CPU with its bf16 units and thread count) and the torch version."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads()
        units = bf16_units()
        name = f"{cpu_name()}{f' ({units})' if units else ''}, {threads} thread{'s' if threads > 1 else ''}"
    return f"{name} (torch {torch.__version__})"
