"""Connecting to Ray: a cluster the user already has (`--address`, RAY_ADDRESS), or a local one started with safe
defaults and shut down afterwards.

A local Ray listens on loopback only, caps its object store (spilling to disk beyond it), runs no dashboard, reports
no usage statistics and keeps its files in a temporary folder removed at shutdown. `ray.data` would silently start
a default cluster of its own when Ray is not initialised, so every Ray code path enters `ray_session` first.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import DatachefError

EXTRA_HINT = "pip install 'datachef[ray]'"
DEFAULT_OBJECT_STORE_MB = 512


def import_ray() -> Any:
    """The `ray` module, or a clear error naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401 - the executor needs Ray Data, not only Ray core
    except ImportError as e:
        raise DatachefError(f"the Ray executor needs Ray Data, which is not installed ({e}); install the extra: "
                            f"{EXTRA_HINT}") from None
    return ray


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None,
                object_store_mb: int = DEFAULT_OBJECT_STORE_MB, log: Any = None) -> Iterator[Any]:
    """Yield the `ray` module, initialised. If Ray is already initialised (by the caller, or an outer session), it
    is used as is and left running. Otherwise `address` (or RAY_ADDRESS) names the cluster to join: "auto" for the
    one `ray start --head` started on this machine, "ray://HOST:10001" for a remote one through Ray Client. With no
    address, a local single-node Ray starts (loopback only) and is shut down, with all its processes and files,
    when the block ends."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not address:
        # Ray reads this when imported (and its processes inherit it): a single-node Ray then uses the loopback
        # address for itself and every agent, so nothing listens on the machine's network interfaces.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    temp_dir = None
    try:
        if address:
            try:
                ray.init(address=address, logging_level="WARNING", log_to_driver=False)
            except Exception as e:  # ConnectionError, RuntimeError, ValueError: all mean "no cluster there"
                raise DatachefError(f"cannot connect to the Ray cluster at {address!r}: {type(e).__name__}: {e} "
                                    "(start one with `ray start --head`, or omit --address for a local Ray)") from None
        else:
            # Unix socket paths must stay under ~107 bytes, so the folder is short and in the system temp dir.
            temp_dir = tempfile.mkdtemp(prefix="dcray-")
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                     object_store_memory=object_store_mb * 1024 ** 2, _temp_dir=temp_dir,
                     # ERROR: Ray 2.60 warns at every start that token authentication is on (it is wanted)
                     _node_ip_address="127.0.0.1", logging_level="ERROR", log_to_driver=False,
                     configure_logging=True)
        if log:
            cpus = int(ray.cluster_resources().get("CPU", 0))
            log(f"ray: {'connected to ' + address if address else 'local cluster started'} ({cpus} CPUs)")
        yield ray
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


def cluster_cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
