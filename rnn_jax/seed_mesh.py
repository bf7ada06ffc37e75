"""Several seeds in one compiled program: a leading seed axis sharded over a ``'seed'`` mesh axis.

Every per-seed pytree (parameters, optimizer state, metrics) carries a leading axis of length
``padded_num_seeds``, split evenly over the devices of a 1-D ``Mesh`` named ``'seed'``. Inside
``shard_map`` each device runs its local seeds either batched (``vmap``) or one after another
(``lax.map``, "sequential"); a single local seed runs as it is. A seed never talks to another seed,
so its numbers do not depend on how many seeds share its device.

``batching="auto"`` (config ``seed_batching``) is the choice ``rnn_jax.platform.resolve_choices``
makes for the devices' platform: "sequential" on CPU and "vmap" on GPU/TPU. On CPU, XLA runs a
batched matrix product well below its plain GEMM speed, so one seed after another is faster
(whole training steps, 3 seeds on one device: 19-27% less time; a lone seed without the seed axis:
~9%; measured with ``launch/bench_train_step.py``, figures and commands in the README's
"Performance" section). On accelerators batching keeps the device busy instead of running the
seeds' time steps one after another; that default is reasoned, not measured (no GPU/TPU here).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from rnn_jax import platform

SEED_AXIS = "seed"
BATCHING = platform.SEED_BATCHINGS  # ("auto", "vmap", "sequential")


@dataclasses.dataclass(frozen=True)
class SeedMesh:
  """The seeds of a run and the devices they live on."""

  seeds: tuple[int, ...]
  mesh: Mesh
  batching: str = "vmap"  # several seeds on one device: "vmap" | "sequential"

  @classmethod
  def create(cls, seeds: Sequence[int], devices: Sequence[jax.Device] | None = None,
             batching: str = "auto") -> "SeedMesh":
    devices = list(jax.devices() if devices is None else devices)
    if not seeds:
      raise ValueError("config.seeds is empty: give at least one seed, e.g. --config.seeds='(0,)'")
    if batching not in BATCHING:
      raise ValueError(f"unknown seed batching {batching!r}; choose one of {BATCHING}")
    if batching == "auto":
      batching = platform.resolve_choices(None, backend=devices[0].platform).seed_batching
    used = devices[:min(len(devices), len(seeds))]
    return cls(tuple(int(s) for s in seeds), Mesh(np.array(used), (SEED_AXIS,)), batching)

  @property
  def num_devices(self) -> int:
    return self.mesh.devices.size

  @property
  def padded_num_seeds(self) -> int:
    return math.ceil(len(self.seeds) / self.num_devices) * self.num_devices

  @property
  def seeds_per_device(self) -> int:
    return self.padded_num_seeds // self.num_devices

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

    def local(*args):  # this device's seeds: the first n_seeded args have a leading axis of them
      n_seeded = len(args) - num_shared
      seeded, shared = args[:n_seeded], args[n_seeded:]
      if self.seeds_per_device == 1:
        out = fn(*jax.tree.map(lambda a: a[0], seeded), *shared)
        return jax.tree.map(lambda a: a[None], out)
      if self.batching == "sequential":
        return jax.lax.map(lambda one: fn(*one, *shared), seeded)
      return jax.vmap(fn, in_axes=(0,) * n_seeded + (None,) * num_shared)(*args)

    def run(*args):
      in_specs = (P(SEED_AXIS),) * (len(args) - num_shared) + (P(),) * num_shared
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
