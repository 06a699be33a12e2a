"""Which arithmetic this machine does fast: the precision `auto` resolves to.

bf16 mixed precision (fp32 master weights, bf16 matrix products under autocast) is the faster
correct choice on a CUDA GPU with bf16 and on a CPU with native bf16 instructions (AVX-512 BF16 or
AMX: Intel Cooper Lake / Sapphire Rapids and later, AMD Zen 4 and later). Measured on SmolLM2-135M
on such a CPU (bench/cpu_precision.py, DPO): 1.65x the pairs/s of fp32, losses falling alike. A CPU
without them emulates bf16 and runs slower than fp32, so `auto` keeps fp32 there.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

Precision = Literal["auto", "bf16", "fp32"]
PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp32")
# /proc/cpuinfo flags of native bf16 arithmetic.
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.cache
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags Linux reports (empty elsewhere)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_bf16() -> bool:
    return bool(cpu_flags() & CPU_BF16_FLAGS)


def bf16_available() -> bool:
    """True where bf16 mixed precision is native: a bf16 CUDA GPU, or a CPU with bf16 flags."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return cpu_has_bf16()


def precision_resolve(precision: str) -> Literal["bf16", "fp32"]:
    """`auto` -> bf16 where it is native, else fp32; `bf16` and `fp32` as given."""
    if precision == "fp32":
        return "fp32"
    if precision == "bf16":
        return "bf16"
    return "bf16" if bf16_available() else "fp32"
