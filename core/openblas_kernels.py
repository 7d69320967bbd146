"""Which kernels OpenBLAS, numpy's and scipy's BLAS, runs on this CPU.

OpenBLAS picks its kernels by the CPU's model number when it loads, and a model newer than its
release falls back to the generic Prescott (SSE3) kernels. numpy 1.26 bundles OpenBLAS 0.3.23,
which does not know Intel's Emerald Rapids (family 6, model 207): there a float32 matrix product
ran 4x slower than with the SkylakeX kernels the same CPU supports (docs/performance.md, "Seventeenth
round"). ``prefer_kernels_by_flags`` names the kernel family by the CPU's instruction flags
instead, before OpenBLAS loads; an ``OPENBLAS_CORETYPE`` set by the operator is left alone.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

CORETYPE = "OPENBLAS_CORETYPE"
# Each family's kernels with the flags they need, widest first.
_FAMILIES = (
    ("SkylakeX", frozenset({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "fma"})),
    ("Haswell", frozenset({"avx2", "fma"})),
)


def kernel_family(flags: frozenset[str]) -> str | None:
    """The widest OpenBLAS kernel family that a CPU with ``flags`` (as /proc/cpuinfo names them)
    runs; None when it has no AVX2, where OpenBLAS's own detection stays."""
    return next((family for family, needs in _FAMILIES if needs <= flags), None)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first CPU's instruction flags; empty where ``cpuinfo`` cannot be read (not Linux)."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return frozenset()
    flags = next((line for line in lines if line.startswith("flags")), "")
    return frozenset(flags.partition(":")[2].split())


def prefer_kernels_by_flags(
    environ: MutableMapping[str, str] = os.environ, cpuinfo: Path = Path("/proc/cpuinfo")
) -> str | None:
    """Set ``OPENBLAS_CORETYPE`` in ``environ`` by the CPU's flags unless it is set, and return the
    value in effect (None: OpenBLAS detects). OpenBLAS reads it when it loads, so it takes effect in
    this process if numpy has not been imported yet, and in every process started from it."""
    if CORETYPE not in environ:
        family = kernel_family(cpu_flags(cpuinfo))
        if family is not None:
            environ[CORETYPE] = family
    return environ.get(CORETYPE)
