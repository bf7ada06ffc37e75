"""Value checks for config fields, each failing with one ``ConfigError`` line that names the field and the fix.

The locked ``ml_collections`` config already refuses unknown keys and wrong types; these checks
cover the values. ``rnn_jax.train.validate_config`` runs the run-level ones and then the task's
``check_config`` (``rnn_jax.tasks.base.Task``), all before any data is loaded or anything is written.

Usage: ``positive(config, "model.features")`` reads ``config.model.features`` and raises if it is
not > 0. Fields that a config does not define are skipped (``model.embed_dim`` is optional for
some models), unless ``required=True``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

from rnn_jax.errors import ConfigError

_MISSING = object()


def _get(config, dotted: str, required: bool):
  value = config
  for part in dotted.split("."):
    if value is None or part not in value:
      if required:
        raise ConfigError(f"config.{dotted} is missing; add it to the config file")
      return _MISSING
    value = value[part]
  return value


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive(config, dotted: str, *, integer: bool = True, required: bool = False) -> None:
  """``> 0`` (an int unless ``integer=False``)."""
  value = _get(config, dotted, required)
  if value is _MISSING:
    return
  kind = "a positive integer" if integer else "a positive number"
  if not _is_number(value) or value <= 0 or (integer and value != int(value)):
    raise ConfigError(f"config.{dotted} must be {kind}, got {value!r}; e.g. --config.{dotted}="
                      f"{1 if integer else 0.1}")


def non_negative(config, dotted: str, *, integer: bool = False, required: bool = False) -> None:
  value = _get(config, dotted, required)
  if value is _MISSING:
    return
  if not _is_number(value) or value < 0 or (integer and value != int(value)):
    raise ConfigError(f"config.{dotted} must be >= 0, got {value!r}")


def rate(config, dotted: str, *, required: bool = False) -> None:
  """A probability in [0, 1) (dropout rates: 1 would drop everything)."""
  value = _get(config, dotted, required)
  if value is _MISSING:
    return
  if not _is_number(value) or not 0.0 <= value < 1.0:
    raise ConfigError(f"config.{dotted} must be in [0, 1), got {value!r}")


def one_of(config, dotted: str, choices: Iterable[str], *, required: bool = False) -> None:
  value = _get(config, dotted, required)
  if value is _MISSING:
    return
  choices = sorted(choices)
  if value not in choices:
    raise ConfigError(f"config.{dotted} {value!r} is not one of {', '.join(choices)}; "
                      f"e.g. --config.{dotted}={choices[0]}")


def existing_path(config, dotted: str, *, kind: str = "file") -> None:
  """Unset (None / placeholder) or a path that exists (``kind``: ``file`` or ``folder``)."""
  value = _get(config, dotted, False)
  if value is _MISSING or value is None:
    return
  path = Path(str(value)).expanduser()
  ok = path.is_file() if kind == "file" else path.is_dir()
  if not ok:
    raise ConfigError(f"config.{dotted}: no {kind} {str(value)!r}; pass an existing {kind} or leave the field unset")


def cell_kwargs(config, dotted_cell: str, dotted_kwargs: str) -> None:
  """The cell name is known and every ``cell_kwargs`` key is an attribute of that cell."""
  from rnn_jax import cells  # imported here: flax is not needed for the run-level checks
  one_of(config, dotted_cell, cells.CELLS, required=True)
  kwargs = _get(config, dotted_kwargs, False)
  if kwargs is _MISSING or kwargs is None:
    return
  cls = cells.CELLS[_get(config, dotted_cell, True)]
  known = set(cls.__dataclass_fields__) - {"parent", "name"}
  for key in kwargs:
    if key not in known:
      raise ConfigError(f"config.{dotted_kwargs}.{key} is not an attribute of the {cls.__name__} cell; "
                        f"choose from {', '.join(sorted(known))}")
  try:  # the cell checks its own values when built (e.g. forget_gate), before any tracing
    cls(features=1, parent=None, **dict(kwargs))
  except (ConfigError, ValueError, TypeError) as e:
    raise ConfigError(f"config.{dotted_kwargs}: {e}") from None


def check(condition: bool, message: str) -> None:
  """A check that does not fit the helpers above: ``message`` says what is wrong and the fix."""
  if not condition:
    raise ConfigError(message)


def value(config, dotted: str) -> Any:
  """The field's value, or None when the config does not define it."""
  found = _get(config, dotted, False)
  return None if found is _MISSING else found


def flat(tree: dict, prefix: str = "") -> dict:
  """A config as dotted fields: ``{"model": {"cell": "lstm"}}`` -> ``{"model.cell": "lstm"}`` (empty dicts kept)."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict) and value:
      out.update(flat(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out
