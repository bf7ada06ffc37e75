"""Optimizers and learning-rate schedules from the config (``config.optimizer``, ``config.schedule``).

Schedules (``config.schedule.name``):

* ``constant``: ``learning_rate`` throughout.
* ``step_decay``: ``learning_rate`` for the first ``hold`` steps, then multiplied by ``gamma`` every
  ``every`` steps: ``lr(s) = lr * gamma ** k`` with ``k = 0`` for ``s < hold`` and
  ``k = (s - hold) // every + 1`` after. Zaremba et al.'s "lr 1 for 4 epochs, then halved every
  epoch" is ``hold_epochs = 4, every_epochs = 1, gamma = 0.5``; "decay 0.96 every 5000 steps" is
  ``hold_steps = every_steps = 5000``. The fields carry the run's duration unit in their names:
  ``hold_epochs``/``every_epochs`` for epoch-based configs, ``hold_steps``/``every_steps`` otherwise.
* ``exponential``: smooth ``lr * gamma ** (s / every)``.
* ``plateau``: validation-driven (the PyTorch ``word_language_model`` recipe): ``learning_rate``
  until a validation stalls, then divided by ``divide_by`` each time the validation metric has not
  improved for ``patience_evals + 1`` evaluations in a row (``patience_evals = 0``: at the first
  evaluation without improvement, as PyTorch's ``ReduceLROnPlateau(patience=0)``). "Improved" means
  better than the best so far by more than ``PLATEAU_RTOL`` (relative). Evaluations run every epoch
  for the language models. Built on ``optax.contrib.reduce_on_plateau``: its state lives in each
  seed's train state (``plateau``), so it is checkpointed and a resumed run takes the same steps.

The optimizer is ``clip_by_global_norm(grad_clip_norm)`` (if > 0) followed by ``sgd``, ``adam`` or
``adamw`` (``weight_decay``); parameters matching ``frozen_params`` are left out of it (``make_optimizer``).
"""
from __future__ import annotations

import fnmatch

import jax
import optax
from ml_collections import ConfigDict

from rnn_jax import schedule_kinds

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = schedule_kinds.SCHEDULES


def make_schedule(config: ConfigDict, steps_per_unit: int) -> optax.Schedule:
  """The learning-rate schedule; ``steps_per_unit`` converts ``hold_*``/``every_*`` to steps (1 for ``*_steps``)."""
  lr = float(config.learning_rate)
  spec = config.schedule
  if spec.name in ("constant", "plateau"):  # plateau: the validation-driven scale multiplies it
    return optax.constant_schedule(lr)
  unit = "epochs" if "hold_epochs" in spec else "steps"
  hold = int(round(spec[f"hold_{unit}"] * steps_per_unit))
  every = max(1, int(round(spec[f"every_{unit}"] * steps_per_unit)))
  gamma = float(spec.gamma)
  # optax's own schedules: the rate for the first `hold` steps, then a decay that starts counting at
  # `hold` (join_schedules passes count - hold); step_decay's first factor gamma applies at `hold`.
  if spec.name == "step_decay":
    decay = optax.exponential_decay(lr * gamma, transition_steps=every, decay_rate=gamma, staircase=True)
  elif spec.name == "exponential":
    decay = optax.exponential_decay(lr, transition_steps=every, decay_rate=gamma)
  else:
    raise ValueError(f"unknown schedule {spec.name!r}; choose one of {SCHEDULES}")
  return optax.join_schedules([optax.constant_schedule(lr), decay], boundaries=[hold])


#: Relative margin by which a validation metric must beat the best so far to count as improved
#: (optax.contrib.reduce_on_plateau needs one > 0; PyTorch's ReduceLROnPlateau uses the same default).
PLATEAU_RTOL = 1e-4


def make_plateau(config: ConfigDict) -> optax.GradientTransformationExtraArgs | None:
  """The validation-driven scale of the ``plateau`` schedule, or None for the other kinds.

  ``update(updates, state, value=v)`` with the validation metric ``v`` (lower is better) once per
  evaluation; the learning rate is then ``make_schedule(...)(step) * state.scale``.
  """
  spec = config.schedule
  if spec.name != "plateau":
    return None
  return optax.contrib.reduce_on_plateau(factor=1.0 / float(spec.divide_by), patience=int(spec.patience_evals) + 1,
                                         rtol=PLATEAU_RTOL, atol=0.0, cooldown=0)


def param_path(path) -> str:
  """A parameter's path as ``"rnn/layer_0/cell/recurrent_kernel"`` (the names ``frozen_params`` matches)."""
  return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def frozen_labels(patterns) -> callable:
  """``params -> labels``: ``"frozen"`` where the path matches one of the glob ``patterns``, else ``"trained"``."""
  def labels(params):
    return jax.tree_util.tree_map_with_path(
        lambda path, _: "frozen" if any(fnmatch.fnmatchcase(param_path(path), p) for p in patterns) else "trained",
        params)
  return labels


def unmatched_patterns(patterns, params) -> list[str]:
  """The patterns of ``patterns`` that match no parameter path of ``params`` (a typo freezes nothing)."""
  paths = [param_path(path) for path, _ in jax.tree_util.tree_leaves_with_path(params)]
  return [p for p in patterns if not any(fnmatch.fnmatchcase(path, p) for path in paths)]


def make_optimizer(config: ConfigDict, schedule: optax.Schedule) -> optax.GradientTransformation:
  """Clipping and the optimizer for the trained parameters; ``config.frozen_params`` (glob patterns
  over parameter paths, e.g. ``"rnn/*/recurrent_kernel"``) get no update and no optimizer state
  (``optax.multi_transform`` with ``set_to_zero``); clipping sees only the trained gradients."""
  trained = _trained_optimizer(config, schedule)
  patterns = tuple(config.get("frozen_params") or ())
  if not patterns:
    return trained
  return optax.multi_transform({"trained": trained, "frozen": optax.set_to_zero()}, frozen_labels(patterns))


def _trained_optimizer(config: ConfigDict, schedule: optax.Schedule) -> optax.GradientTransformation:
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
