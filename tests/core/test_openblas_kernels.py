import json
import os
import subprocess
import sys

import pytest

from core.openblas_kernels import CORETYPE, cpu_flags, kernel_family, prefer_kernels_by_flags

AVX512 = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}


@pytest.mark.parametrize(
    ("flags", "family"),
    [
        ({"sse2", "avx", "avx2", "fma", *AVX512}, "SkylakeX"),
        ({"sse2", "avx", "avx2", "fma", "avx512f"}, "Haswell"),  # AVX-512 without its BW/DQ/VL parts
        ({"sse2", "avx", "avx2", "fma"}, "Haswell"),
        ({"sse2", "avx", "avx2"}, None),  # no FMA: OpenBLAS detects
        ({"sse2", "sse3"}, None),
        (set(), None),
    ],
)
def test_the_kernel_family_is_the_widest_that_the_flags_allow(flags, family):
    assert kernel_family(frozenset(flags)) == family


def test_the_flags_are_read_from_cpuinfo_and_none_where_it_is_missing(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel\t\t: 207\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\nflags\t: fpu\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse2", "avx2", "fma"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_an_operators_coretype_is_kept_and_an_unset_one_is_named_by_the_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: sse2 avx2 fma\n")
    environ = {CORETYPE: "Zen"}
    assert prefer_kernels_by_flags(environ, cpuinfo) == "Zen"
    assert environ == {CORETYPE: "Zen"}
    environ = {}
    assert prefer_kernels_by_flags(environ, cpuinfo) == "Haswell"
    assert environ == {CORETYPE: "Haswell"}
    environ = {}
    assert prefer_kernels_by_flags(environ, tmp_path / "missing") is None
    assert environ == {}


def test_numpy_started_by_the_cli_runs_the_kernel_family_that_the_cpus_flags_name():
    """The CLI names the kernels before numpy loads, so OpenBLAS never falls back to its generic ones on a
    CPU with AVX2 that it does not know (Emerald Rapids with numpy 1.26's OpenBLAS 0.3.23)."""
    family = kernel_family(cpu_flags())
    if family is None:
        pytest.skip("this CPU has no AVX2 and FMA: OpenBLAS's own detection applies")
    script = (
        "import json, os; from unittest import mock; import corkboard.cli as cli\n"
        "with mock.patch.object(cli, 'build_parser') as parser:\n"
        "    parser.return_value.parse_args.return_value.run = lambda args: 0\n"
        "    cli.main([])\n"
        "import numpy; from threadpoolctl import threadpool_info\n"
        "pools = [pool for pool in threadpool_info() if pool['internal_api'] == 'openblas']\n"
        "print(json.dumps([pool['architecture'] for pool in pools]))"
    )
    environ = {key: value for key, value in os.environ.items() if key != CORETYPE}
    out = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, check=True)
    architectures = json.loads(out.stdout.strip().splitlines()[-1])
    assert architectures, "numpy's BLAS is not OpenBLAS"
    assert all(architecture.lower() == family.lower() for architecture in architectures), architectures
