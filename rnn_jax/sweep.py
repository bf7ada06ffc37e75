"""A grid of training runs: every combination of config files, config arguments and config field values,
each point a normal run of ``launch/main.py`` in its own workdir under one parent directory.

The grid (``launch/sweep.py`` flags):

* ``--configs=PATH[:ARG],...``: config files, an axis of their own (a point's name starts with its
  file's stem). ``PATH:ARG`` fixes that file's config argument.
* ``--grid=FIELD=V1,V2,...``: one more axis, repeatable. ``FIELD`` is a dotted config field
  (``model.cell``) or ``arg``, the config argument (``palindrome_lstm.py:<arg>``).
* ``--set=FIELD=VALUE``: a value every point gets, repeatable; not part of the point names.

Values are written as on ``main.py``'s command line (``--config.FIELD=VALUE``) and parsed by the
same ``ml_collections`` flag code, so a sweep point and its printed command build the same config.
A value list splits at commas outside brackets and quotes: ``data.bucket_lengths=(),(8,14)`` is two
values, ``arg='10,smoke','20,smoke'`` too.

Points are the product of the configs and the ``--grid`` axes, in the order given. A point's name is
its config's stem followed by ``__FIELD=VALUE`` per ``--grid`` axis (the value made file-name safe:
``(8,14)`` -> ``8-14``, ``()`` -> ``none``), e.g. ``palindrome_gru__arg=20``; its workdir is
``PARENT/NAME``.

Running (``run_points``): one subprocess of ``launch/main.py`` per point, one after another, its
output appended to ``PARENT/logs/NAME.log``. A subprocess rather than ``train_and_evaluate`` in this
process: a point that fails (a diverged seed, a killed process) leaves the others running; every
point starts with fresh memory (JAX keeps compiled programs and device buffers of earlier runs
alive); and what runs here is exactly the command ``--dry_run`` prints for a cluster. Its cost, a
few seconds of start-up per point, is nothing beside a training run.

Resuming, point by point: a point whose workdir holds ``summary.json`` (written when a run ends,
an early stop included) is finished and skipped; any other is launched, and ``main.py`` resumes it
from its latest checkpoint or starts it.

Checks first (``check_points``): every point's config is built and checked
(``rnn_jax.train.validate_config``; an existing workdir must hold a run of the same config) before
anything runs or is written. The first problem -- an unknown field, a value that does not parse, a
value the config checks refuse (an unknown cell, an odd palindrome length) -- ends the sweep with one
line that names the point.

Collating: ``grid_report`` tabulates a parent directory: one row per value of one key (``config``,
``arg``, or any dotted config field), one column per value of another.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from rnn_jax import config_checks, reporting
from rnn_jax.errors import UserError

ARG = "arg"  # the --grid / --set key of the config argument
NAME_SEPARATOR = "__"
MANIFEST_FILE = "sweep.json"
MAIN = Path(__file__).resolve().parents[1] / "launch" / "main.py"


class SweepError(UserError):
  """The grid cannot be built, checked or reported on; the message is one line with the fix."""


# --- the grid --------------------------------------------------------------------------------------

def split_values(text: str) -> list[str]:
  """``"(),(8,14)"`` -> ``["()", "(8,14)"]``: commas inside brackets or quotes do not split; one
  level of surrounding quotes is removed (``"'10,smoke',20"`` -> ``["10,smoke", "20"]``)."""
  values, current, depth, quote = [], "", 0, None
  for char in text:
    if quote:
      if char == quote:
        quote = None
      current += char
    elif char in "'\"":
      quote = char
      current += char
    elif char in "([{":
      depth += 1
      current += char
    elif char in ")]}":
      depth -= 1
      current += char
    elif char == "," and depth == 0:
      values.append(current)
      current = ""
    else:
      current += char
  if quote or depth:
    raise SweepError(f"unbalanced brackets or quotes in {text!r}")
  values.append(current)
  values = [v.strip() for v in values]
  if any(v == "" for v in values):
    raise SweepError(f"an empty value in {text!r}; write an empty tuple as () and an empty string as ''")
  return [v[1:-1] if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"" else v for v in values]


def parse_assignment(text: str, flag: str) -> tuple[str, list[str]]:
  """``"model.cell=rnn,lstm"`` -> ``("model.cell", ["rnn", "lstm"])``; ``flag`` names the flag in errors."""
  field, has_value, values = text.partition("=")
  field = field.strip()
  if field.startswith("config."):
    field = field[len("config."):]
  if not has_value or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", field):
    raise SweepError(f"--{flag}={text!r} not understood; write --{flag}=FIELD=VALUE{',VALUE...' if flag == 'grid' else ''} "
                     "with FIELD a dotted config field (model.cell) or arg")
  return (ARG if field.lower() == ARG else field), split_values(values)


def name_part(value: str) -> str:
  """A value as it appears in a point's name: ``(8,14)`` -> ``8-14``, ``eval/accuracy`` ->
  ``eval_accuracy``, ``()`` -> ``none``."""
  text = re.sub(r"[()\[\]{}'\"\s]", "", value).replace(",", "-")
  return re.sub(r"[^A-Za-z0-9._=-]+", "_", text) or "none"


@dataclasses.dataclass(frozen=True)
class Point:
  """One run of the grid: ``main.py --config=CONFIG[:ARG] --config.FIELD=VALUE... --workdir=WORKDIR``."""

  name: str
  config: str
  arg: str | None
  overrides: tuple[tuple[str, str], ...]
  workdir: str
  #: this point's value of every --grid axis (``arg`` included), for reports
  axes: tuple[tuple[str, str], ...] = ()

  @property
  def config_flag(self) -> str:
    return f"--config={self.config}" + (f":{self.arg}" if self.arg is not None else "")

  def main_flags(self) -> list[str]:
    return [self.config_flag, *(f"--config.{field}={value}" for field, value in self.overrides),
            f"--workdir={self.workdir}"]

  def command(self, python: str = "python", main: str | os.PathLike | None = None) -> list[str]:
    """The launch command; ``main`` defaults to ``launch/main.py`` relative to the current directory."""
    main = os.path.relpath(MAIN) if main is None else str(main)
    return [python, main, *self.main_flags()]

  @property
  def finished(self) -> bool:
    return reporting.run_ended(self.workdir)

  @property
  def started(self) -> bool:
    return (Path(self.workdir) / "checkpoints").is_dir()


def make_points(configs: Sequence[str], grid: Sequence[str] = (), sets: Sequence[str] = (),
                parent: str | os.PathLike = "runs/sweep") -> list[Point]:
  """The grid's points (configs outermost, then each ``--grid`` axis in order); checks the syntax
  only (``check_points`` builds the configs)."""
  if not configs:
    raise SweepError("no config files; pass --configs=experiments/palindrome_lstm.py[,...]")
  axes = [parse_assignment(text, "grid") for text in grid]
  fixed = []
  for text in sets:
    field, values = parse_assignment(text, "set")
    if len(values) != 1:
      raise SweepError(f"--set={text!r} gives {len(values)} values; a --set takes one (use --grid for several)")
    fixed.append((field, values[0]))
  fields = [field for field, _ in fixed] + [field for field, _ in axes]
  repeated = sorted({field for field in fields if fields.count(field) > 1})
  if repeated:
    raise SweepError(f"{repeated[0]} is given more than once in --grid/--set; give each field once")
  for field, values in axes:
    if len(set(values)) != len(values):
      raise SweepError(f"--grid {field} repeats a value: {values}")
  parent = str(parent)
  points, names = [], {}
  for entry in configs:
    path, has_arg, own_arg = entry.partition(":")
    if has_arg and ARG in fields:
      raise SweepError(f"{entry}: the config argument is given both after ':' and as {ARG} in --grid/--set; keep one")
    stem = Path(path).stem
    for combination in itertools.product(*(values for _, values in axes)):
      chosen = list(zip([field for field, _ in axes], combination))
      assignments = fixed + chosen
      arg = own_arg if has_arg else dict(assignments).get(ARG)
      overrides = tuple((field, value) for field, value in assignments if field != ARG)
      name = NAME_SEPARATOR.join([stem, *(f"{field}={name_part(value)}" for field, value in chosen)])
      if name in names:
        raise SweepError(f"two grid points share the name {name!r} ({names[name]} and {entry}); give the config "
                         "files distinct names or values that differ after removing brackets and quotes")
      names[name] = entry
      points.append(Point(name, path, arg, overrides, os.path.join(parent, name), tuple(chosen)))
  return points


# --- checks before anything is written ----------------------------------------------------------------

def _one_line(message: str) -> str:
  """The last non-empty line of a multi-line error (a config file's own ValueError after its traceback)."""
  lines = [line.strip() for line in str(message).splitlines() if line.strip()]
  return lines[-1] if lines else str(message)


def _parse_config(argv: list[str]):
  """The config that ``main.py`` builds from ``argv`` (``--config=...`` and its overrides)."""
  from absl import flags
  from ml_collections import config_flags

  values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "Experiment config file.", flag_values=values,
                                  lock_config=True, sys_argv=["sweep", *argv])
  values(["sweep", *argv])
  config = values.config
  config.name  # a config file that failed to load raises here (ml_collections defers the error)
  return config


def _missing_field(config, field: str) -> str | None:
  """None if ``field`` (dotted) exists in ``config``, else the fields its deepest existing parent has."""
  node, path = config, []
  for part in field.split("."):
    if not hasattr(node, "keys") or part not in node:
      where = "config" + "".join(f".{p}" for p in path)
      known = ", ".join(sorted(node.keys())) if hasattr(node, "keys") else "none (it is a value)"
      return f"{where} has no field {part!r} (its fields: {known})"
    node, path = node[part], [*path, part]
  return None


def load_base_config(point: Point):
  """``point``'s config file with its argument, without the overrides; ``SweepError`` if it does not load."""
  from absl import flags

  try:
    return _parse_config([point.config_flag])
  except (OSError, flags.Error) as e:
    raise SweepError(f"point {point.name}: cannot load {point.config_flag[len('--config='):]}: {_one_line(e)}") from None


def load_config(point: Point, base=None):
  """Builds ``point``'s config as ``main.py`` would; ``SweepError`` (one line) on an unknown field,
  an unparsable value or a config file that does not load. ``base``: ``load_base_config(point)``."""
  from absl import flags

  base = load_base_config(point) if base is None else base
  for field, value in point.overrides:
    missing = _missing_field(base, field)
    if missing:
      raise SweepError(f"point {point.name}: {field}={value}: {missing}")
  try:
    return _parse_config(point.main_flags()[:-1])
  except flags.Error as e:
    raise SweepError(f"point {point.name}: cannot parse the value: {_one_line(e)}") from None
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    raise SweepError(f"point {point.name}: {_one_line(e)}") from None


def check_points(points: Sequence[Point], parent: str | os.PathLike) -> dict[str, Any]:
  """Builds and checks every point's config; returns ``{name: config}``. Writes nothing."""
  from rnn_jax import train

  parent = Path(parent)
  for folder in (parent, *parent.parents):
    if folder.exists():
      if not (folder.is_dir() and os.access(folder, os.W_OK)):
        raise SweepError(f"cannot write under {parent} ({folder} is not a writable directory); pass another --parent")
      break
  bases, configs = {}, {}
  for point in points:
    if point.config_flag not in bases:  # each config file and argument is loaded once
      bases[point.config_flag] = load_base_config(point)
    config = load_config(point, bases[point.config_flag])
    try:
      train.validate_config(config)
      if (Path(point.workdir) / "config.json").exists():
        train.prepare_workdir(point.workdir, config, is_writer=False)
    except UserError as e:
      raise SweepError(f"point {point.name}: {e}") from None
    configs[point.name] = config
  return configs


# --- running -----------------------------------------------------------------------------------------

def write_manifest(parent: str | os.PathLike, points: Sequence[Point], command: str) -> Path:
  """``PARENT/sweep.json``: the sweep commands that filled the parent and each point's launch command
  (points of earlier sweeps into the same parent are kept)."""
  path = Path(parent) / MANIFEST_FILE
  manifest = json.loads(path.read_text()) if path.exists() else {"sweeps": [], "points": {}}
  if command not in manifest["sweeps"]:
    manifest["sweeps"].append(command)
  for point in points:
    manifest["points"][point.name] = {"command": shlex.join(point.command()), "config": point.config,
                                      "arg": point.arg, "axes": dict(point.axes)}
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(".tmp")
  tmp.write_text(json.dumps(manifest, indent=2) + "\n")
  os.replace(tmp, path)
  return path


def run_points(points: Sequence[Point], parent: str | os.PathLike, python: str = sys.executable,
               say: Callable[[str], None] = print) -> list[str]:
  """Runs every unfinished point, one subprocess after another; returns the names of those that failed."""
  logs = Path(parent) / "logs"
  logs.mkdir(parents=True, exist_ok=True)
  failed = []
  for i, point in enumerate(points, 1):
    where = f"[{i}/{len(points)}] {point.name}"
    if point.finished:
      say(f"{where}: finished, skipped")
      continue
    log = logs / f"{point.name}.log"
    say(f"{where}: {'resuming' if point.started else 'starting'} (log: {log})")
    with open(log, "a") as out:
      out.write(f"$ {shlex.join(point.command(python))}\n")
      out.flush()
      code = subprocess.run(point.command(python, MAIN), stdout=out, stderr=subprocess.STDOUT).returncode
    if code:
      lines = [line for line in log.read_text().splitlines() if line.strip()]
      say(f"{where}: failed (exit {code}): {lines[-1] if lines else 'no output'}")
      failed.append(point.name)
    else:
      say(f"{where}: done")
  return failed


# --- collating -----------------------------------------------------------------------------------------

def _lookup(config: dict, field: str):
  node = config
  for part in field.split("."):
    if not isinstance(node, dict) or part not in node:
      return None
    node = node[part]
  return node


def _sort_key(value: str):
  try:
    return (0, float(value), value)
  except ValueError:
    return (1, 0.0, value)


def point_key(name: str, config: dict, key: str, manifest_entry: dict | None = None) -> str | None:
  """A point's value of ``key``: ``config`` (the config file's stem), a ``--grid`` axis of its name
  (``arg``, ``model.cell``...), the config argument (``arg``, from ``sweep.json`` when it was not an
  axis), or any dotted field of its ``config.json``; None when it has none."""
  stem, *parts = name.split(NAME_SEPARATOR)
  if key == "config":
    return stem
  axes = dict(part.split("=", 1) for part in parts if "=" in part)
  if key in axes:
    return axes[key]
  if key == ARG:
    return (manifest_entry or {}).get(ARG)
  value = _lookup(config, key)
  return None if value is None else (json.dumps(value) if isinstance(value, (list, dict)) else str(value))


def find_points(parent: str | os.PathLike) -> list[Path]:
  """The point workdirs under ``parent``: its subdirectories holding a ``config.json``."""
  parent = Path(parent)
  if not parent.is_dir():
    raise SweepError(f"no sweep directory {str(parent)!r}; pass the --parent a sweep wrote to")
  found = sorted(p for p in parent.iterdir() if (p / "config.json").is_file())
  if not found:
    raise SweepError(f"{parent} holds no runs (no subdirectory with a config.json); has the sweep started?")
  return found


def _point_cell(workdir: Path, split: str, metric: str) -> tuple[str, str]:
  """``(result, time)`` cells of one point: ``mean ± std`` of the final metric with the steps to the
  early-stop threshold, and the steps trained with their training time."""
  try:
    run = reporting.load_run(workdir)
  except reporting.ReportError:
    return "not started", "—"
  finished = any(r.split.startswith(reporting.FINAL_PREFIX) for r in run.records)
  steps = run.last_step
  timing = run.timing or {}
  seconds = timing.get("train_seconds")
  time_cell = f"{steps:,} steps" + (f", {reporting._format_duration(seconds)}" if finished and seconds else "")
  if not finished:
    evaluated = [r for r in run.records if r.split == split and metric in r.metrics]
    last = max((r.step for r in evaluated), default=None)
    latest = [r.metrics[metric] for r in evaluated if r.step == last]
    seen = f", {split} {metric} {reporting.format_value(metric, sum(latest) / len(latest))}" if latest else ""
    return f"running (step {steps:,}{seen})", time_cell
  finals = reporting.final_metrics(run.records)
  key = f"{reporting.FINAL_PREFIX}{split}/{metric}"
  values = [m[key] for m in finals.values() if key in m]
  if not values:
    return f"no {key}", time_cell
  mean, std = reporting.mean_and_std(values)
  text = f"{reporting.format_value(metric, mean)} ± {reporting.format_value(metric, std)}"
  if (run.config or {}).get("early_stop_metric"):
    reached = [m[f"{reporting.FINAL_PREFIX}{split}/steps_to_threshold"] for m in finals.values()
               if f"{reporting.FINAL_PREFIX}{split}/steps_to_threshold" in m]
    if reached:
      mean_steps, std_steps = reporting.mean_and_std(reached)
      text += f"; {mean_steps:,.0f} ± {std_steps:,.0f} steps ({len(reached)}/{len(values)})"
    else:
      text += f"; never ({0}/{len(values)})"
  return text, time_cell


def grid_report(parent: str | os.PathLike, rows: str = "config", columns: str = ARG, split: str = "eval",
                metric: str = "accuracy", where: Sequence[str] = (), command: str | None = None) -> str:
  """Markdown: the grid under ``parent`` as a table of ``rows`` x ``columns`` (keys as ``point_key``);
  each cell the final ``split/metric`` (mean ± std over seeds) and, when the run stopped early on a
  threshold, the steps to it; then the same table of steps trained and training time.

  ``where``: ``KEY=VALUE`` filters (e.g. ``model.features=128``). Two points in one cell are refused:
  the message names the key they differ in. ``command``: the report's own command, shown at the top.
  """
  filters = [parse_assignment(text, "where") for text in where]
  manifest_path = Path(parent) / MANIFEST_FILE
  manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"sweeps": [], "points": {}}
  cells: dict[tuple[str, str], Path] = {}
  for workdir in find_points(parent):
    config = json.loads((workdir / "config.json").read_text())
    key_of = lambda key: point_key(workdir.name, config, key, manifest["points"].get(workdir.name))
    if any(key_of(key) not in values for key, values in filters):
      continue
    row, column = key_of(rows), key_of(columns)
    if row is None or column is None:
      missing = rows if row is None else columns
      raise SweepError(f"point {workdir.name} has no {missing!r}: use config, arg, a --grid axis or a config field")
    if (row, column) in cells:
      other = cells[(row, column)]
      differ = _differing_key(other, workdir)
      raise SweepError(f"points {other.name} and {workdir.name} both fall in row {row}, column {column}; they differ in "
                       f"{differ}: pick it as --rows/--cols or filter with --where={differ}=VALUE")
    cells[(row, column)] = workdir
  if not cells:
    raise SweepError(f"no point under {parent} matches --where {' '.join(where)}")
  row_values = sorted({r for r, _ in cells}, key=_sort_key)
  column_values = sorted({c for _, c in cells}, key=_sort_key)
  results = {key: _point_cell(workdir, split, metric) for key, workdir in cells.items()}
  header = [f"{rows} \\ {columns}", *column_values]

  def table(index):
    lines = [{header[0]: r, **{c: results[(r, c)][index] for c in column_values if (r, c) in results}}
             for r in row_values]
    return reporting._markdown_table(header, lines, left_aligned={header[0]})

  text = [f"# Sweep {parent}", ""]
  if manifest["sweeps"]:
    text += ["Trained by:", "", *(f"    {s}" for s in manifest["sweeps"]), ""]
  if command:
    text += ["Reported by:", "", f"    {command}", ""]
  text += [f"## final {split} {metric}", "", table(0), "",
           f"Cells: final {split} {metric}, mean ± std over seeds; with early stopping also the step at which the "
           "seeds first reached the threshold (mean ± std over the seeds that did, and how many did). "
           "\"running\": no final evaluation yet (the latest evaluation's mean is shown).", "",
           "## steps trained and training time", "", table(1), ""]
  return "\n".join(text)


def _differing_key(a: Path, b: Path) -> str:
  """The first dotted config field (or grid axis) in which two points differ."""
  parts = lambda p: dict(part.split("=", 1) for part in p.name.split(NAME_SEPARATOR)[1:] if "=" in part)
  axes_a, axes_b = parts(a), parts(b)
  for key in sorted(set(axes_a) | set(axes_b)):
    if axes_a.get(key) != axes_b.get(key):
      return key
  flat = lambda p: config_checks.flat(json.loads((p / "config.json").read_text()))
  config_a, config_b = flat(a), flat(b)
  for key in sorted(set(config_a) | set(config_b)):
    if key != "name" and config_a.get(key) != config_b.get(key):
      return key
  return "config"


