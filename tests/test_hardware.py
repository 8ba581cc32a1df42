"""glsr.hardware: the one-line machine description that manifests and run records carry."""

from __future__ import annotations

import torch

from glsr.hardware import bf16_units, describe, fast_bf16


def test_bf16_units_from_flags():
    assert bf16_units("fpu avx512f avx512_bf16 amx_bf16 amx_tile") == "AMX"
    assert bf16_units("fpu avx512f avx512_bf16") == "AVX-512 BF16, no AMX"
    assert bf16_units("fpu sse2 avx2") == ""
    assert bf16_units("") == ""


def test_fast_bf16_is_amx_or_avx512_bf16_on_amd():
    amx, avx512_bf16 = "fpu avx512f avx512_bf16 amx_bf16 amx_tile", "fpu avx512f avx512_bf16"
    assert fast_bf16(amx, "GenuineIntel") and fast_bf16(amx, "AuthenticAMD")
    assert fast_bf16(avx512_bf16, "AuthenticAMD")
    assert not fast_bf16(avx512_bf16, "GenuineIntel")  # measured under 10 % faster (README, "bf16")
    assert not fast_bf16("fpu sse2 avx2", "AuthenticAMD") and not fast_bf16("", "")


def test_describe_names_threads_and_torch():
    text = describe("cpu")
    threads = torch.get_num_threads()
    assert f", {threads} thread{'s' if threads > 1 else ''} " in text
    assert text.endswith(f"(torch {torch.__version__})")
    units = bf16_units()
    assert (f"({units})" in text) == bool(units)
