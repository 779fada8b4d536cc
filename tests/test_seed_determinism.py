"""The seed policy is the same on every machine of a kind: its training is deterministic.

Two builds of a small seed (the demo's recipe on a few bank tasks, a few steps) with other
torch thread counts, tokenizer thread counts and hash seeds give bit-identical weights and
vocabulary: one in this process (one torch thread), one in a fresh interpreter (two torch
threads, one tokenizer thread, another PYTHONHASHSEED). A second interpreter is what it takes
to vary the hash seed; the build itself takes a second or two.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def build(threads: int, cache: Path) -> Path:
    """A small seed: the demo's recipe on six bank tasks, 12 steps."""
    from codealign.demo.seed import SeedConfig, build_seed
    from codealign.tasks import load_tasks

    config = SeedConfig(hidden_size=64, layers=1, vocab_size=400, steps=12, batch_size=4, max_length=96,
                        threads=threads)
    return build_seed(config, tasks=load_tasks("bank")[:6], cache=cache).path


def _digests(path: Path) -> tuple[str, str]:
    return tuple(hashlib.sha256((path / name).read_bytes()).hexdigest()
                 for name in ("model.safetensors", "tokenizer.json"))


def test_seed_weights_do_not_depend_on_threads_or_hash_seed(tmp_path):
    import torch

    threads = torch.get_num_threads()
    here = build(1, tmp_path / "here")
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
              "from test_seed_determinism import build; print(build(2, sys.argv[1]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "4242", "RAYON_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "elsewhere")], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    elsewhere = Path(done.stdout.strip().splitlines()[-1])
    assert here.name == elsewhere.name             # the same cache key: threads are not part of it
    assert _digests(here) == _digests(elsewhere)
