"""Which sandbox ran the tests: the bubblewrap version, the Docker image's digest.

Recorded in each preference pair's provenance (`codealign.records.provenance.SandboxSource`),
so that a pair can be traced to the isolation it was judged under. Both are asked of the
machine (``bwrap --version``; the Docker engine's image id) and cached for the process;
None when the tool or the engine is not there (the provenance then says so).
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache

__all__ = ["bwrap_version", "docker_image_digest"]


@cache
def bwrap_version() -> str | None:
    """``bwrap --version`` (e.g. ``bubblewrap 0.8.0``), or None when bwrap is not installed.

    >>> bwrap_version() is None or bwrap_version().startswith("bubblewrap")
    True
    """
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


@cache
def docker_image_digest(image: str) -> str | None:
    """The Docker engine's id of `image` (``sha256:...``, the digest of its config), or None
    when no engine answers or the image is missing."""
    from codealign.errors import SandboxUnavailable
    from codealign.sandbox.docker import docker_client

    try:
        import docker.errors
    except ImportError:
        return None
    try:
        return str(docker_client().images.get(image).id)
    except (SandboxUnavailable, docker.errors.DockerException):
        return None
