"""Training that gives the same weights on every machine of a kind: one switch for torch.

Two trainings with the same data, config and seed give bit-identical weights when the
order of their floating-point operations is the same. What can change it, and what holds it:

- **thread count** — a reduction split over more threads sums in another order. `deterministic`
  sets a fixed count for the duration (the seed and the DPO step use one thread on the CPU;
  tests check that 1 and 2 threads give the same seed, so the count is a speed choice there);
- **nondeterministic kernels** — `torch.use_deterministic_algorithms(True)` for the duration:
  an op without a deterministic implementation raises instead of varying (on CUDA this also
  needs ``CUBLAS_WORKSPACE_CONFIG``, set before CUDA starts, so `deterministic` leaves CUDA as
  it is: bf16 training on a GPU is not claimed to be bit-reproducible);
- **data order** — seeded generators only (`random.Random(seed)`, the trainers' seeds), and
  inputs in a defined order (sorted, never a set's or a hash-seeded dict's iteration order).

What a machine *of another kind* may still change: the CPU's instruction set picks other
kernels (AVX-512 vs AVX2), so weights are reproducible across machines of the same kind only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["deterministic"]


@contextmanager
def deterministic(threads: int | None = 1) -> Iterator[None]:
    """Within the block: `threads` torch CPU threads (None or 0: leave the count as it is) and
    deterministic algorithms (CPU only; see the module docstring). Both are restored after."""
    import torch

    previous = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled())
    if threads:
        torch.set_num_threads(threads)
    if not torch.cuda.is_available():
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1], warn_only=previous[2])
