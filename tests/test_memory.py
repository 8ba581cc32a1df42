from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from glsr import memory
from glsr.memory import is_supported, reuse_freed_memory

# 64 MB: above glibc's largest mmap threshold (32 MB), so outside the block every such tensor is a
# fresh mapping whose 16,384 pages fault in again. The churn runs in a fresh process: in a long-lived
# one (pytest's), other allocations can split a freed block now and then, which makes counts noisy.
_CHURN = textwrap.dedent(
    """
    import json, os, resource, torch
    from glsr.memory import reuse_freed_memory

    def churn(rounds):
        torch.empty(16 * 2**20).fill_(1.0)  # the first may fault in either case
        faults = []
        for _ in range(rounds):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            torch.empty(16 * 2**20).fill_(1.0)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        return faults

    def resident_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    result = {"outside": churn(5)}
    with reuse_freed_memory(enabled=False):
        result["disabled"] = churn(5)
    with reuse_freed_memory():
        with reuse_freed_memory():
            pass
        result["nested"] = churn(10)  # still inside the outer block
        result["resident_inside"] = resident_mb()
    result["resident_after"] = resident_mb()
    print(json.dumps(result))
    """
)
_PAGES = 16 * 2**20 * 4 // 4096


@pytest.mark.skipif(not is_supported(), reason="needs Linux with glibc")
def test_freed_memory_is_reused_inside_the_block_and_returned_after() -> None:
    done = subprocess.run([sys.executable, "-c", _CHURN], capture_output=True, text=True, timeout=120, check=True)
    faults = json.loads(done.stdout)

    def faulting_rounds(key: str) -> int:
        return sum(count > _PAGES // 2 for count in faults[key])

    assert faulting_rounds("outside") == 5  # the premise: each round maps fresh pages
    assert faulting_rounds("disabled") == 5
    # The freed block is reused. The first rounds may still grow the heap: an aligned request is a
    # little larger than the block freed before it, until free neighbours coalesce.
    assert sum(count > _PAGES // 2 for count in faults["nested"][5:]) <= 1, faults
    # On leaving, malloc_trim hands the kept free memory (at least one 64 MB block) back.
    assert faults["resident_inside"] - faults["resident_after"] > 32, faults


class _FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


def test_settings_are_made_once_and_restored_when_the_outermost_block_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    libc = _FakeLibc()
    monkeypatch.setattr(memory, "_glibc", lambda: libc)
    with reuse_freed_memory():
        with reuse_freed_memory():
            assert memory._depth == 2
        assert libc.calls == [("mallopt", -4, 0), ("mallopt", -1, 2**31 - 1)]  # no mmap, no trim
    assert memory._depth == 0
    assert libc.calls[2:] == [("mallopt", -4, 65536), ("mallopt", -1, 128 * 1024), ("malloc_trim", 0)]
    with pytest.raises(ValueError), reuse_freed_memory():
        raise ValueError  # an error inside still restores
    assert memory._depth == 0 and libc.calls[-1] == ("malloc_trim", 0)


def test_disabled_or_elsewhere_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    libc = _FakeLibc()
    monkeypatch.setattr(memory, "_glibc", lambda: libc)
    with reuse_freed_memory(enabled=False):
        assert memory._depth == 0
    assert libc.calls == []
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    with reuse_freed_memory():
        assert memory._depth == 0
    assert not memory.is_supported()
