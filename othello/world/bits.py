"""Bit intrinsics for the numba kernels.

numba exposes no popcount, so it is declared here straight from LLVM; both lower to single
instructions (POPCNT, TZCNT) on any x86-64 from the last decade.
"""

from __future__ import annotations

from numba import njit, types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic


@intrinsic
def _ctpop(typingctx, x):
    if not isinstance(x, types.Integer):
        return None
    sig = x(x)

    def codegen(context, builder, signature, args):
        [value] = args
        return builder.ctpop(value)

    return sig, codegen


@njit(inline="always")
def popcount(x):
    """Number of set bits of a uint64."""
    return _ctpop(x)


@njit(inline="always")
def lowest_square(x):
    """Index of the lowest set bit of a non-zero uint64."""
    return trailing_zeros(x)
