"""The contract between the generic trainer (``rnn_jax.train``) and an experiment's task.

A task owns its data, its model and its losses; the trainer owns seeds, devices, the optimizer,
checkpoints and outputs. All task functions below work on ONE seed and are traced inside the
jitted, seed-vmapped steps, so they must be pure JAX. Data are produced on the device from
``(data_key, step)`` -- never from host-side iterators -- so a resumed run needs nothing but the
step, and each seed has its own stream.

Metrics travel as ``{name: (sum, count)}`` pairs and are reduced once with ``reduce_metrics``
(e.g. perplexity = exp(total NLL / total tokens), never a mean of per-batch perplexities).
"""
from __future__ import annotations

import abc
from typing import Any, Mapping

import jax
import jax.numpy as jnp

Array = jax.Array
MetricSums = dict[str, tuple[Array, Array]]


class Task(abc.ABC):
  """Abstract task. Subclasses set the class attributes and implement the methods."""

  #: what one training example is, for throughput ("sequences", "words", "characters").
  examples_unit: str = "sequences"
  #: split whose metric picks the best checkpoint, or None (no validation set).
  validation_split: str | None = None
  #: (metric, "min" | "max") on ``validation_split``.
  best_metric: tuple[str, str] = ("loss", "min")

  def __init__(self, config):
    self.config = config

  @classmethod
  def check_config(cls, config) -> None:
    """Checks the task's own config fields (``data``, ``model``) with ``rnn_jax.config_checks``;
    called before the task is built, so a bad value fails before data are loaded or anything is
    written. Raise ``ConfigError`` with one line that names the field and the fix."""

  # --- sizes -------------------------------------------------------------------------------------
  @property
  def steps_per_epoch(self) -> int | None:
    """Steps in one pass over the training data (None for endless generated data)."""
    return None

  @property
  def num_train_steps(self) -> int:
    if "num_epochs" in self.config:
      return int(self.config.num_epochs) * self.steps_per_epoch
    return int(self.config.num_train_steps)

  @property
  def examples_per_step(self) -> int:
    """Training examples (in ``examples_unit``) one seed processes per step."""
    return int(self.config.batch_size)

  def derived(self) -> Mapping[str, Any]:
    """Values computed from config and data (vocabulary size, steps per epoch...), logged separately."""
    return {"num_train_steps": self.num_train_steps, "steps_per_epoch": self.steps_per_epoch}

  def write_artifacts(self, workdir) -> None:
    """Files the task keeps beside the checkpoints (e.g. a vocabulary); called once at start."""

  def milestones(self, total_steps: int) -> set[int]:
    """Completed-step counts at which ``at_milestone`` runs (e.g. samples at 1/3, 2/3, 3/3)."""
    return set()

  def at_milestone(self, workdir, step: int, params: Any, seeds: tuple[int, ...]) -> None:
    """Host-side outputs at a milestone; ``params`` is seed-stacked (leading axis = ``seeds``)."""

  # --- per-seed functions (pure JAX) -------------------------------------------------------------
  @abc.abstractmethod
  def init_params(self, key: Array) -> Any:
    """The model parameters of one seed."""

  def device_data(self) -> Any:
    """Arrays every step reads (e.g. a corpus as token ids), placed once on every device; {} if none."""
    return {}

  def init_extra(self) -> Any:
    """Per-seed training state that is not a parameter (e.g. the carried LSTM state); {} if none."""
    return {}

  @abc.abstractmethod
  def train_loss(self, params, extra, data, data_key: Array, dropout_key: Array, step: Array
                 ) -> tuple[Array, tuple[MetricSums, Any]]:
    """Loss to differentiate for training step ``step``, and ``(metric sums, new extra)``.

    ``data`` is ``device_data()``; ``data_key`` is the seed's data stream (fold in ``step``).
    """

  @abc.abstractmethod
  def eval_splits(self, final: bool) -> tuple[str, ...]:
    """Splits evaluated periodically (``final=False``) or at the end with the best parameters."""

  @abc.abstractmethod
  def evaluate(self, params, data, data_key: Array, split: str, step: Array) -> MetricSums:
    """Metric sums of ``params`` on ``split`` (at training step ``step``)."""

  # --- host side ---------------------------------------------------------------------------------
  def reduce_metrics(self, sums: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """``{name: sum / count}``, plus derived metrics (e.g. perplexity); works on arrays of seeds."""
    return {name: s / c for name, (s, c) in sums.items()}


def add_metric_sums(a: MetricSums, b: MetricSums) -> MetricSums:
  return jax.tree.map(jnp.add, a, b)
