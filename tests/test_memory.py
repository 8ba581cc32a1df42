from __future__ import annotations

import resource

import pytest
import torch

from glsr import memory
from glsr.memory import is_supported, reuse_freed_memory

# 64 MB: above glibc's largest mmap threshold (32 MB), so outside the block every such tensor is a
# fresh mapping whose 16,384 pages fault in again.
_FLOATS = 16 * 2**20
_PAGES = _FLOATS * 4 // 4096
_ROUNDS = 5

glibc_only = pytest.mark.skipif(not is_supported(), reason="needs Linux with glibc")


def _faults_of_churn() -> int:
    """Minor page faults of allocating, touching and freeing a 64 MB tensor ``_ROUNDS`` times."""
    torch.empty(_FLOATS).fill_(1.0)  # the first may fault in either case
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(_ROUNDS):
        torch.empty(_FLOATS).fill_(1.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@glibc_only
def test_freed_memory_is_reused_inside_and_returned_after() -> None:
    outside = _faults_of_churn()
    assert outside > _ROUNDS * _PAGES // 2  # the premise: each round maps fresh pages
    with reuse_freed_memory():
        inside = _faults_of_churn()
    after = _faults_of_churn()
    assert inside < _ROUNDS * _PAGES // 10
    assert after > _ROUNDS * _PAGES // 2  # glibc's defaults are back


@glibc_only
def test_nested_blocks_keep_the_setting_until_the_outermost_ends() -> None:
    with reuse_freed_memory():
        with reuse_freed_memory():
            pass
        assert memory._depth == 1
        inside = _faults_of_churn()
    assert memory._depth == 0
    assert inside < _ROUNDS * _PAGES // 10


@glibc_only
def test_disabled_block_changes_nothing() -> None:
    with reuse_freed_memory(enabled=False):
        assert memory._depth == 0
        inside = _faults_of_churn()
    assert inside > _ROUNDS * _PAGES // 2


def test_elsewhere_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    with reuse_freed_memory():
        assert memory._depth == 0
    assert not memory.is_supported()
