"""Optimizers and learning-rate schedules from the config (``config.optimizer``, ``config.schedule``).

Schedules (``config.schedule.name``):

* ``constant``: ``learning_rate`` throughout.
* ``step_decay``: ``learning_rate`` for the first ``hold`` steps, then multiplied by ``gamma`` every
  ``every`` steps: ``lr(s) = lr * gamma ** k`` with ``k = 0`` for ``s < hold`` and
  ``k = (s - hold) // every + 1`` after. Zaremba et al.'s "lr 1 for 4 epochs, then halved every
  epoch" is ``hold = 4 epochs, every = 1 epoch, gamma = 0.5``; "decay 0.96 every 5000 steps" is
  ``hold = every = 5000 steps``. ``hold``/``every`` are given in the run's duration unit: epochs
  for epoch-based tasks, steps otherwise (``unit`` below).
* ``exponential``: smooth ``lr * gamma ** (s / every)``.

The optimizer is ``clip_by_global_norm(grad_clip_norm)`` (if > 0) followed by ``sgd``, ``adam`` or
``adamw`` (``weight_decay``).
"""
from __future__ import annotations

import jax.numpy as jnp
import optax
from ml_collections import ConfigDict

from rnn_jax import schedule_kinds

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = schedule_kinds.SCHEDULES


def make_schedule(config: ConfigDict, steps_per_unit: int) -> optax.Schedule:
  """The learning-rate schedule; ``steps_per_unit`` converts ``hold``/``every`` to steps."""
  lr = float(config.learning_rate)
  spec = config.schedule
  if spec.name == "constant":
    return optax.constant_schedule(lr)
  hold = int(round(spec.hold * steps_per_unit))
  every = max(1, int(round(spec.every * steps_per_unit)))
  gamma = float(spec.gamma)
  if spec.name == "step_decay":
    def step_decay(count):
      k = jnp.where(count < hold, 0, (count - hold) // every + 1)
      return lr * gamma ** k
    return step_decay
  if spec.name == "exponential":
    return lambda count: lr * gamma ** (jnp.maximum(count - hold, 0) / every)
  raise ValueError(f"unknown schedule {spec.name!r}; choose one of {SCHEDULES}")


def make_optimizer(config: ConfigDict, schedule: optax.Schedule) -> optax.GradientTransformation:
  name = config.optimizer
  if name == "sgd":
    base = optax.sgd(schedule)
  elif name == "adam":
    base = optax.adam(schedule)
  elif name == "adamw":
    base = optax.adamw(schedule, weight_decay=config.weight_decay)
  else:
    raise ValueError(f"unknown optimizer {name!r}; choose one of {OPTIMIZERS}")
  if config.grad_clip_norm and config.grad_clip_norm > 0:
    return optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), base)
  return base
