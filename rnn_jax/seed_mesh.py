"""Several seeds in one compiled program: a leading seed axis sharded over a ``'seed'`` mesh axis.

Every per-seed pytree (parameters, optimizer state, metrics) carries a leading axis of length
``padded_num_seeds``, split evenly over the devices of a 1-D ``Mesh`` named ``'seed'``. On each
device the local seeds are ``vmap``-ped (``shard_map`` + ``vmap``), so a seed never talks to
another seed and its numbers do not depend on how many seeds share its device.

Any number of seeds runs on any number of devices: we use ``min(num_devices, num_seeds)`` devices
and, when the seeds do not divide evenly, pad with copies of the last seed whose results are
dropped (3 seeds on 2 devices computes 4 and reports 3; 3 seeds on 4 devices uses 3 devices).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

SEED_AXIS = "seed"


@dataclasses.dataclass(frozen=True)
class SeedMesh:
  """The seeds of a run and the devices they live on."""

  seeds: tuple[int, ...]
  mesh: Mesh

  @classmethod
  def create(cls, seeds: Sequence[int], devices: Sequence[jax.Device] | None = None) -> "SeedMesh":
    devices = list(jax.devices() if devices is None else devices)
    if not seeds:
      raise ValueError("config.seeds is empty: give at least one seed, e.g. --config.seeds='(0,)'")
    used = devices[:min(len(devices), len(seeds))]
    return cls(tuple(int(s) for s in seeds), Mesh(np.array(used), (SEED_AXIS,)))

  @property
  def num_devices(self) -> int:
    return self.mesh.devices.size

  @property
  def padded_num_seeds(self) -> int:
    return math.ceil(len(self.seeds) / self.num_devices) * self.num_devices

  @property
  def padded_seeds(self) -> np.ndarray:
    """The seeds, padded with copies of the last one to a multiple of the device count."""
    pad = self.padded_num_seeds - len(self.seeds)
    return np.array(self.seeds + (self.seeds[-1],) * pad, dtype=np.int32)

  @property
  def sharded(self) -> NamedSharding:
    """Leading axis split over the seed axis, everything else whole."""
    return NamedSharding(self.mesh, P(SEED_AXIS))

  @property
  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, P())

  def seed_array(self) -> jax.Array:
    """The padded seeds as a ``[padded_num_seeds]`` array sharded over the mesh."""
    return jax.device_put(self.padded_seeds, self.sharded)

  def per_seed(self, fn: Callable[..., Any], num_shared: int = 0) -> Callable[..., Any]:
    """``fn`` on one seed's slices -> a function on seed-stacked pytrees, sharded over the mesh.

    The first ``len(args) - num_shared`` arguments carry the seed axis; the last ``num_shared``
    arguments (e.g. the step number, a data array) are the same for all seeds (replicated).
    """

    def run(*args):
      n_seeded = len(args) - num_shared
      in_specs = (P(SEED_AXIS),) * n_seeded + (P(),) * num_shared
      local = jax.vmap(fn, in_axes=(0,) * n_seeded + (None,) * num_shared)
      return jax.shard_map(local, mesh=self.mesh, in_specs=in_specs, out_specs=P(SEED_AXIS),
                           check_vma=False)(*args)

    return run

  def to_host(self, tree: Any) -> Any:
    """A seed-stacked pytree as NumPy arrays without the padding seeds."""
    n = len(self.seeds)

    def fetch(a):
      if jax.process_count() > 1:  # each process holds only its devices' seeds
        from jax.experimental import multihost_utils
        return np.asarray(multihost_utils.process_allgather(a, tiled=True))[:n]
      return np.asarray(jax.device_get(a))[:n]

    return jax.tree.map(fetch, tree)
