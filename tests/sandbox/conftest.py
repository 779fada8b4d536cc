"""One local Ray for the session (two CPUs, two `sandbox` slots), shared by the Ray tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """`ray.init(num_cpus=2)` with the custom ``sandbox`` resource; shut down at the end."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    from codealign.sandbox.ray_executor import RESOURCE

    ray.init(num_cpus=2, resources={RESOURCE: 2}, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
