"""Orbax checkpoints of the seed-stacked train state under ``workdir/checkpoints``.

The last ``keep`` checkpoints are kept. The best-by-validation parameters of every seed are part
of the train state (``best_params``), so every checkpoint also holds them -- each seed has its own
best step, which a single "best checkpoint" of all seeds could not represent.

Orbax writes each checkpoint to a temporary directory and renames it when complete, so a run
killed mid-save leaves the previous checkpoints intact; relaunching resumes from the latest one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


class Checkpoints:

  def __init__(self, directory: Path, keep: int):
    self.manager = ocp.CheckpointManager(
        directory.resolve(),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, cleanup_tmp_directories=True),
    )

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state: Any) -> None:
    self.manager.save(step, args=ocp.args.StandardSave(state), force=True)

  def restore(self, step: int, like: Any) -> Any:
    """Restore ``step`` with the shapes, dtypes and shardings of ``like``."""
    abstract = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), like)
    return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()


def restore_latest_on_one_device(directory: Path):
  """``(step, state)`` of the latest checkpoint in ``directory`` on this host's first device; (None, None) if none.

  The arrays are restored onto one local device whatever mesh saved them (Orbax would otherwise
  insist on the saving run's device topology, e.g. 2 devices).
  """
  if not directory.is_dir():
    return None, None
  manager = ocp.CheckpointManager(directory.resolve(), item_handlers=ocp.StandardCheckpointHandler())
  try:
    step = manager.latest_step()
    if step is None:
      return None, None
    metadata = manager.item_metadata(step)
    tree = getattr(metadata, "tree", metadata)
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), tree)
    return step, manager.restore(step, args=ocp.args.StandardRestore(abstract))
  finally:
    manager.close()


def train_state(saved: Any) -> Any:
  """The train state of a restored checkpoint: ``{"state", "acc"}`` (``rnn_jax.train``) or, from runs
  written before the open logging window was saved too, the state itself."""
  return saved["state"] if isinstance(saved, dict) and "state" in saved and "acc" in saved else saved
