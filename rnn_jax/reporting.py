"""Reporting: from a run's workdir files to summary.json, results.md and plots.

A training run's workdir holds (the trainer writes them; this module only reads them):

  config.json    the launched config as JSON: "name", "seeds", and optionally "num_train_steps" or
                 "num_epochs", "optimizer", "learning_rate" and a "schedule" dict.
  metrics.jsonl  one JSON object per line: {"seed": 0, "step": 100, "split": "train", "epoch": 1,
                 "loss": 0.61, ...}; "epoch" is optional. Final evaluations at the last step use the
                 splits "final/train", "final/valid", "final/test" or "final/eval".
  timing.json    optional: {"train_seconds", "timed_steps", "launches", "train_examples_per_s",
                 "examples_unit", "wall_clock_s", "first_step", "last_step"}: the training clock is
                 summed over every launch of the run; wall_clock_s covers the last launch only.
                 Older files have no train_seconds: their wall clock is one launch's.

Rules, the same everywhere in this module:

  * Duplicate (seed, step, split) lines: the last line in the file wins. A truncated last line (the
    run was killed while writing it) is skipped with a warning; a broken line elsewhere is an error.
  * Final metrics of a seed are keyed "<split>/<metric>" ("final/test/perplexity"). They come from
    the seed's "final/*" records when it has any; otherwise from the last logged value (largest
    step) of every metric of every split, train included ("eval/accuracy", "train/loss").
    Training diagnostics (learning_rate, lr, *_norm, *_per_s, *_per_sec) are plotted but are not
    final metrics.
  * Across seeds: the mean, and the sample standard deviation (ddof=1) with two or more seeds, 0.0
    with one. Each metric is aggregated over the seeds that have it; tables show that count.
  * Confidence intervals (95%) treat a run's seeds as independent draws of its outcome: the mean's
    interval is Student t, mean ± t(0.975, n-1)·std/√n. Two runs A and B are compared metric by
    metric on A − B of the seed means with Welch's t-test (unequal variances; two-sided p-value
    and the interval of the difference, as scipy.stats.ttest_ind(equal_var=False) gives them).
    Fewer than two seeds in a run (either run, for a comparison) give no interval and no p-value,
    and the report says so instead of printing a number that means nothing.
  * Learning curves use every non-final split and metric logged at two or more steps. The x-axis is
    "epoch" when every record of the curve carries an epoch that increases strictly with step
    (per seed), else "step". The mean and ±1 std band use only the x values all seeds logged.

Public API: `load_run`, `load_metrics`, `final_metrics`, `mean_and_std`, `seed_stats`,
`compare_seeds`, `summarize`, `write_summary`, `format_results_table`, `format_seed_stats_table`,
`format_comparison`, `write_results_md`, `learning_curves`,
`aggregate_curves`, `plot_learning_curves`, `plot_comparison`, and the two entry points
`report_run` (one finished run, for the trainer) and `report` (several runs, for
launch/report.py). Problems with the inputs raise `ReportError` with a one-line message.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

from absl import logging
import numpy as np
import scipy.stats
# The object-oriented Figure API renders with Agg and touches no global pyplot/backend state.
from matplotlib import ticker
from matplotlib.figure import Figure

from rnn_jax import schedule_kinds

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
TIMING_FILE = "timing.json"
SUMMARY_FILE = "summary.json"
RESULTS_FILE = "results.md"
PLOTS_DIR = "plots"


def run_ended(workdir: str | os.PathLike) -> bool:
  """Whether the run in ``workdir`` ended (all its steps, or stopped early): summary.json is written
  only then."""
  return (Path(workdir) / SUMMARY_FILE).is_file()


FINAL_PREFIX = "final/"

_DIAGNOSTIC_NAMES = frozenset({"learning_rate", "lr"})
_DIAGNOSTIC_SUFFIXES = ("_norm", "_per_s", "_per_sec")
# Table and plot order: the data pipeline's order, as papers print it.
_SPLIT_ORDER = {"train": 0, "valid": 1, "validation": 1, "eval": 2, "test": 3}
_METRIC_ORDER = {"perplexity": 0, "accuracy": 1, "loss": 2}

STD_FOOTNOTE = (
    "Cells are mean ± std over seeds (n seeds); std is the sample standard deviation (ddof=1), "
    "0.0 with a single seed. Final metrics come from the `final/*` evaluations when the run "
    "logged them, otherwise from the last logged value of each split (train included).")
CI_FOOTNOTE = (
    "The 95% CI is the Student-t interval of the mean over seeds, mean ± t(0.975, n−1)·std/√n: "
    "\"—\" with a single seed, wide with few (with 3 seeds it spans ±2.5 std), and not clipped to "
    "the metric's range.")
COMPARISON_FOOTNOTE = (
    "A − B is the difference of the seed means. Its 95% CI and the two-sided p-value are Welch's "
    "t-test (`scipy.stats.ttest_ind(equal_var=False)`): each run's seeds are independent samples, "
    "and the runs may vary differently over seeds. Verdict \"A higher\" or \"A lower\": the interval "
    "excludes 0 (p < 0.05); \"CI spans 0\": these seeds cannot tell the runs apart, which is not "
    "evidence that they are equal (more seeds narrow the interval).")


class ReportError(Exception):
  """A workdir cannot be reported on; the message names it and says how to fix it."""


@dataclasses.dataclass(frozen=True)
class Record:
  """One line of metrics.jsonl: the numeric metrics of one (seed, step, split)."""
  seed: int
  step: int
  split: str
  metrics: Mapping[str, float]
  epoch: float | None = None


@dataclasses.dataclass(frozen=True)
class Run:
  """Everything read from one workdir. `records` are deduplicated, sorted by (seed, split, step)."""
  workdir: Path
  config: Mapping[str, Any]
  records: Sequence[Record]
  timing: Mapping[str, Any] | None

  @property
  def name(self) -> str:
    return str(self.config.get("name") or self.workdir.name)

  @property
  def seeds(self) -> list[int]:
    """Seeds with at least one record (config seeds that never logged are left out)."""
    return sorted({r.seed for r in self.records})

  @property
  def last_step(self) -> int:
    return max(r.step for r in self.records)


RunLike = Union[Run, str, os.PathLike]
Curves = dict[int, tuple[np.ndarray, np.ndarray]]  # seed -> (x [points], y [points])


# ---------------------------------------------------------------------------------------------
# Reading a workdir.


def load_run(workdir: RunLike) -> Run:
  """Reads config.json, metrics.jsonl and timing.json; raises ReportError if there are no metrics.

  ``"A+B"`` joins the workdirs A and B -- the same config trained for other seeds (e.g. seed 0 in
  one launch, seeds 1 and 2 in another) -- into one run (``merge_runs``).
  """
  if isinstance(workdir, Run):
    return workdir
  if "+" in str(workdir) and not Path(workdir).is_dir():
    return merge_runs([load_run(part) for part in str(workdir).split("+")])
  workdir = Path(workdir)
  if not workdir.is_dir():
    raise ReportError(
        f"workdir {str(workdir)!r} does not exist; check the path: it must be the directory a "
        f"training run wrote (the one holding {METRICS_FILE})")
  records = load_metrics(workdir / METRICS_FILE)
  if not records:
    raise ReportError(
        f"workdir {str(workdir)!r} has no metrics ({METRICS_FILE} is missing or empty); check "
        "the path, or wait until the run has logged its first step")
  config = _read_json(workdir / CONFIG_FILE)
  if config is None:
    logging.warning("%s has no %s; naming the run after its directory.", workdir, CONFIG_FILE)
  return Run(workdir=workdir, config=config or {}, records=records,
             timing=_read_json(workdir / TIMING_FILE))


#: Config fields that may differ between runs joined by ``merge_runs`` (how seeds ran, not what;
#: ``rnn_implementation`` and ``hoist_inputs`` compute the same function, to float rounding).
_MERGE_IGNORED = ("seeds", "seed_batching", "max_devices", "rnn_implementation", "hoist_inputs")


def merge_runs(runs: Sequence[Run]) -> Run:
  """One run from runs of the same config with disjoint seeds; their training times add up."""
  first = runs[0]
  for run in runs[1:]:
    differ = sorted(k for k in set(first.config) | set(run.config)
                    if k not in _MERGE_IGNORED and first.config.get(k) != run.config.get(k))
    if differ:
      raise ReportError(f"cannot join {first.workdir} and {run.workdir}: their configs differ in "
                        f"{', '.join(differ)}; '+' joins seeds of one config")
  seen: dict[int, Path] = {}
  for run in runs:
    for seed in run.seeds:
      if seed in seen:
        raise ReportError(f"cannot join {seen[seed]} and {run.workdir}: both trained seed {seed}")
      seen[seed] = run.workdir
  timings = [run.timing for run in runs if run.timing and _is_number(run.timing.get("train_seconds"))]
  timing = None
  if timings and len(timings) == len(runs):
    seconds = sum(t["train_seconds"] for t in timings)
    examples = sum((t.get("train_examples_per_s") or 0.0) * t["train_seconds"] for t in timings)
    timing = {"train_seconds": seconds, "launches": sum(t.get("launches") or 1 for t in timings),
              "train_examples_per_s": examples / seconds if seconds else None,
              "examples_unit": timings[0].get("examples_unit")}
  records = sorted((r for run in runs for r in run.records), key=lambda r: (r.seed, r.split, r.step))
  config = {**first.config, "seeds": sorted(seen)}
  return Run(workdir=Path("+".join(str(run.workdir) for run in runs)), config=config, records=records,
             timing=timing)


def load_metrics(path: str | os.PathLike) -> list[Record]:
  """Parses a metrics.jsonl file (missing file: no records), keeping the last duplicate line."""
  path = Path(path)
  if not path.is_file():
    return []
  lines = path.read_text().splitlines()
  last_line = max((i for i, line in enumerate(lines, 1) if line.strip()), default=0)
  latest: dict[tuple[int, int, str], Record] = {}
  for lineno, line in enumerate(lines, 1):
    if not line.strip():
      continue
    try:
      obj = json.loads(line)
    except json.JSONDecodeError as e:
      if lineno == last_line:
        logging.warning("%s:%d: skipping a truncated last line.", path, lineno)
        continue
      raise ReportError(f"{path}:{lineno}: not valid JSON ({e.msg}); fix or delete that line")
    record = _parse_record(obj, f"{path}:{lineno}")
    latest[(record.seed, record.step, record.split)] = record
  return sorted(latest.values(), key=lambda r: (r.seed, r.split, r.step))


def _parse_record(obj: Any, where: str) -> Record:
  """Validates one metrics line; non-numeric values other than the keys are ignored."""
  if not isinstance(obj, dict) or not all(k in obj for k in ("seed", "step", "split")):
    raise ReportError(f"{where}: expected an object with 'seed', 'step' and 'split'")
  try:
    seed, step = _as_int(obj["seed"]), _as_int(obj["step"])
  except ValueError as e:
    raise ReportError(f"{where}: {e}") from None
  metrics = {k: float(v) for k, v in obj.items()
             if k not in ("seed", "step", "split", "epoch") and _is_number(v)}
  epoch = float(obj["epoch"]) if _is_number(obj.get("epoch")) else None
  return Record(seed=seed, step=step, split=str(obj["split"]), metrics=metrics, epoch=epoch)


def _as_int(value: Any) -> int:
  if _is_number(value) and float(value).is_integer():
    return int(value)
  raise ValueError(f"expected an integer seed/step, got {value!r}")


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_json(path: Path) -> Any:
  """The parsed file, or None when it does not exist."""
  if not path.is_file():
    return None
  try:
    return json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ReportError(f"{path}: not valid JSON ({e.msg}); fix or delete it") from None


# ---------------------------------------------------------------------------------------------
# Final metrics and summary.json.


def is_diagnostic(metric: str) -> bool:
  """Training diagnostics are plotted but are not final metrics."""
  return metric in _DIAGNOSTIC_NAMES or metric.endswith(_DIAGNOSTIC_SUFFIXES)


def final_metrics(records: Iterable[Record]) -> dict[int, dict[str, float]]:
  """Per seed, {"<split>/<metric>": value}: `final/*` records if the seed has any, else the
  last logged value of each metric of each split."""
  by_seed: dict[int, list[Record]] = collections.defaultdict(list)
  for record in records:
    by_seed[record.seed].append(record)
  return {seed: _final_metrics_of_seed(rs) for seed, rs in sorted(by_seed.items())}


def _final_metrics_of_seed(records: Sequence[Record]) -> dict[str, float]:
  finals = [r for r in records if r.split.startswith(FINAL_PREFIX)]
  values: dict[str, float] = {}
  for record in sorted(finals or records, key=lambda r: r.step):  # later steps overwrite
    for metric, value in record.metrics.items():
      if not is_diagnostic(metric):
        values[f"{record.split}/{metric}"] = value
  return dict(sorted(values.items(), key=lambda kv: metric_sort_key(kv[0])))


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
  """Mean and sample standard deviation (ddof=1); the std is 0.0 for a single value."""
  array = np.asarray(values, dtype=np.float64)
  if array.size == 0:
    raise ValueError("mean_and_std needs at least one value")
  std = float(np.std(array, ddof=1)) if array.size >= 2 else 0.0
  return float(np.mean(array)), std


# ---------------------------------------------------------------------------------------------
# Seed statistics: confidence intervals over seeds, and two runs compared.

CONFIDENCE = 0.95
TOO_FEW_SEEDS = "too few seeds"
NO_SPREAD = "no spread"


@dataclasses.dataclass(frozen=True)
class SeedStats:
  """One metric over the seeds of one run: count, mean, sample std (ddof=1; 0.0 for one seed)
  and the Student-t confidence interval of the mean, mean ± t((1+c)/2, n-1)·std/√n, or None
  with fewer than two seeds (one value says nothing about the spread)."""
  n: int
  mean: float
  std: float
  ci: tuple[float, float] | None


def seed_stats(values: Sequence[float], confidence: float = CONFIDENCE) -> SeedStats:
  """The `SeedStats` of `values` (one final value per seed)."""
  mean, std = mean_and_std(values)
  n = len(values)
  if n < 2:
    return SeedStats(n=n, mean=mean, std=std, ci=None)
  half_width = float(scipy.stats.t.ppf((1 + confidence) / 2, df=n - 1)) * std / math.sqrt(n)
  return SeedStats(n=n, mean=mean, std=std, ci=(mean - half_width, mean + half_width))


@dataclasses.dataclass(frozen=True)
class SeedDifference:
  """A − B for one metric, the seeds of each run being independent samples (seed 0 of A and seed
  0 of B are not a pair: different configs draw different initialisations and data orders).

  `ci`, `p_value` and `df` are Welch's t-test, two-sided (scipy.stats.ttest_ind with
  equal_var=False): it does not assume the runs vary equally over seeds. They are None, and
  `undecided` says why, when either run has fewer than two seeds (TOO_FEW_SEEDS) or every seed
  of both runs gave the same value (NO_SPREAD: the t statistic is then 0/0 or ±inf, a verdict
  on rounding rather than on the runs).
  """
  a: SeedStats
  b: SeedStats
  difference: float            # mean(A) - mean(B)
  ci: tuple[float, float] | None
  p_value: float | None
  df: float | None             # Welch–Satterthwaite degrees of freedom
  undecided: str | None = None

  @property
  def verdict(self) -> str:
    """"A higher" / "A lower" when the interval excludes 0 (equivalently p < 1 − confidence),
    "CI spans 0" when these seeds cannot tell the runs apart, else the reason there is none."""
    if self.ci is None:
      return self.undecided or TOO_FEW_SEEDS
    if self.ci[0] > 0:
      return "A higher"
    if self.ci[1] < 0:
      return "A lower"
    return "CI spans 0"


def compare_seeds(a_values: Sequence[float], b_values: Sequence[float],
                  confidence: float = CONFIDENCE) -> SeedDifference:
  """A − B of the seed means of one metric, with Welch's interval and p-value (see
  `SeedDifference`)."""
  a, b = seed_stats(a_values, confidence), seed_stats(b_values, confidence)
  difference = a.mean - b.mean
  if min(a.n, b.n) < 2:
    return SeedDifference(a, b, difference, ci=None, p_value=None, df=None, undecided=TOO_FEW_SEEDS)
  a_array, b_array = np.asarray(a_values, np.float64), np.asarray(b_values, np.float64)
  if np.ptp(a_array) == 0 and np.ptp(b_array) == 0:  # exact ties, not a std that rounds to 0
    return SeedDifference(a, b, difference, ci=None, p_value=None, df=None, undecided=NO_SPREAD)
  with warnings.catch_warnings():
    # One run with a single repeated value (a saturated accuracy) has an exact variance of 0 and
    # a valid test; scipy still warns of "precision loss" for nearly identical data.
    warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
    result = scipy.stats.ttest_ind(a_array, b_array, equal_var=False)
  interval = result.confidence_interval(confidence_level=confidence)
  return SeedDifference(a, b, difference, ci=(float(interval.low), float(interval.high)),
                        p_value=float(result.pvalue), df=float(result.df))


def metric_values(run: RunLike) -> dict[str, list[float]]:
  """{"<split>/<metric>": [final value of each seed that has it]}, in table order."""
  return _by_metric(final_metrics(load_run(run).records))


def _by_metric(per_seed: Mapping[int, Mapping[str, float]]) -> dict[str, list[float]]:
  """`final_metrics`' {seed: {key: value}} -> {key: [value of each seed that has it]}, in table order."""
  keys = sorted({k for values in per_seed.values() for k in values}, key=metric_sort_key)
  return {key: [v[key] for v in per_seed.values() if key in v] for key in keys}


def metric_sort_key(key: str) -> tuple:
  """Orders "<split>/<metric>" keys train, valid, eval, test, other splits; perplexity, accuracy,
  loss, other metrics."""
  split, _, metric = key.rpartition("/")
  base = split.removeprefix(FINAL_PREFIX)
  return (_SPLIT_ORDER.get(base, len(_SPLIT_ORDER)), base, split,
          _METRIC_ORDER.get(metric, len(_METRIC_ORDER)), metric)


def summarize(workdir: RunLike) -> dict[str, Any]:
  """The content of summary.json (see `write_summary`), without writing it."""
  run = load_run(workdir)
  per_seed = final_metrics(run.records)
  stats = {key: seed_stats(values) for key, values in metric_values(run).items()}
  summary: dict[str, Any] = {
      "name": run.name,
      "seeds": run.seeds,
      "per_seed": {str(seed): values for seed, values in per_seed.items()},
      "mean": {key: s.mean for key, s in stats.items()},
      "std": {key: s.std for key, s in stats.items()},
      "ci95": {key: list(s.ci) if s.ci else None for key, s in stats.items()},
      "steps": run.last_step,
  }
  configured = run.config.get("seeds")
  if isinstance(configured, list):
    missing = sorted(set(configured) - set(run.seeds))
    if missing:
      summary["missing_seeds"] = missing
  epochs = _epochs(run)
  if epochs is not None:
    summary["epochs"] = epochs
  if run.timing:
    summary["timing"] = dict(run.timing)
  return summary


def write_summary(workdir: RunLike) -> dict[str, Any]:
  """Writes workdir/summary.json and returns it.

  Keys: "name", "seeds" (seeds that logged), "per_seed" {seed: {"<split>/<metric>": value}},
  "mean" and "std" (sample std, ddof=1; 0.0 with one seed) per metric, "ci95" per metric ([low,
  high], the Student-t 95% interval of the mean; null with one seed), "steps" (the last logged
  step), and when known "epochs", "timing" (timing.json as is) and "missing_seeds" (in the config
  but never logged). Final metrics follow the rule in the module docstring.
  """
  run = load_run(workdir)
  summary = summarize(run)
  (run.workdir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
  return summary


def _epochs(run: Run) -> int | float | None:
  """The largest logged epoch; else config "num_epochs"; else None."""
  logged = [r.epoch for r in run.records if r.epoch is not None]
  if logged:
    epochs = max(logged)
    return int(epochs) if float(epochs).is_integer() else epochs
  return run.config.get("num_epochs")


# ---------------------------------------------------------------------------------------------
# results.md


def format_value(metric: str, value: float) -> str:
  """Perplexities with 1 decimal; accuracies, losses and everything else with 3."""
  if not math.isfinite(value):
    return str(value)
  name = metric.rpartition("/")[2].lower()
  decimals = 1 if ("perplexity" in name or name == "ppl") else 3
  text = f"{value:.{decimals}f}"
  return text[1:] if text.startswith("-") and float(text) == 0 else text  # -0.0002 -> "0.000"


def format_mean_std(metric: str, values: Sequence[float]) -> str:
  """"mean ± std (n seeds)", e.g. "0.950 ± 0.040 (3 seeds)"."""
  mean, std = mean_and_std(values)
  seeds = "seed" if len(values) == 1 else "seeds"
  return f"{format_value(metric, mean)} ± {format_value(metric, std)} ({len(values)} {seeds})"


def format_results_table(workdirs: Sequence[RunLike]) -> str:
  """A Markdown table with one row per workdir and one column per final metric (the union over
  workdirs; "—" where a run lacks one), then steps/epochs, optimizer/lr/schedule from config.json
  and throughput/wall clock from timing.json (those columns only when some run has them)."""
  runs = [load_run(w) for w in workdirs]
  summaries = [summarize(run) for run in runs]
  metric_keys = sorted({k for s in summaries for k in s["mean"]}, key=metric_sort_key)
  rows = [_table_row(label, run, summary, metric_keys)
          for label, run, summary in zip(_labels(runs), runs, summaries)]
  extra = ["steps", "epochs", "optimizer", "lr", "schedule", "train throughput", "training time"]
  columns = ["experiment", *metric_keys, *[c for c in extra if any(row.get(c) for row in rows)]]
  left_aligned = {"experiment", "optimizer", "schedule"}
  return _markdown_table(columns, rows, left_aligned)


def _table_row(label: str, run: Run, summary: Mapping[str, Any],
               metric_keys: Sequence[str]) -> dict[str, str]:
  row = {"experiment": label, "steps": f"{summary['steps']:,}"}
  for key in metric_keys:
    values = [v[key] for v in summary["per_seed"].values() if key in v]
    if values:
      row[key] = format_mean_std(key, values)
  if "epochs" in summary:
    row["epochs"] = _describe(summary["epochs"])
  for column, config_key in (("optimizer", "optimizer"), ("lr", "learning_rate")):
    if run.config.get(config_key) is not None:
      row[column] = _describe(run.config[config_key])
  if isinstance(run.config.get("schedule"), Mapping):
    row["schedule"] = _describe(_used_schedule_fields(run.config["schedule"]))
  row.update(_timing_cells(run.timing or {}))
  return row


def _timing_cells(timing: Mapping[str, Any]) -> dict[str, str]:
  cells = {}
  if _is_number(timing.get("train_examples_per_s")):
    unit = timing.get("examples_unit") or "examples"
    cells["train throughput"] = f"{timing['train_examples_per_s']:,.0f} {unit}/s"
  if _is_number(timing.get("train_seconds")):  # summed over launches (rnn_jax.train.Clock)
    launches = timing.get("launches") or 1
    cells["training time"] = _format_duration(timing["train_seconds"]) + (
        f" ({launches} launches)" if launches > 1 else "")
  elif _is_number(timing.get("wall_clock_s")):  # an older timing.json: one launch's wall clock
    cells["training time"] = _format_duration(timing["wall_clock_s"])
    if timing.get("first_step"):
      cells["training time"] += f" (steps {timing['first_step']:,}–{timing['last_step']:,}, last launch)"
  return cells


def _format_duration(seconds: float) -> str:
  if seconds < 120:
    return f"{seconds:.0f} s"
  if seconds < 2 * 3600:
    return f"{seconds / 60:.0f} min"
  return f"{seconds / 3600:.1f} h"


def _used_schedule_fields(schedule: Mapping[str, Any]) -> dict[str, Any]:
  """The schedule without the fields its kind ignores: a constant schedule reads as "constant"."""
  used = schedule_kinds.SCHEDULE_FIELDS.get(schedule.get("name"))
  if used is None:  # unknown kind (e.g. an older run): show everything
    return dict(schedule)
  return {k: v for k, v in schedule.items() if k == "name" or k in used}


def _describe(value: Any) -> str:
  """A short text for a config value: 0.001 -> "0.001"; {"name": "step", "decay": 0.5} ->
  "step(decay=0.5)"."""
  if isinstance(value, float):
    return f"{value:g}"
  if isinstance(value, Mapping):
    items = dict(value)
    head = next((str(items.pop(k)) for k in ("name", "type", "kind") if k in items), "")
    body = ", ".join(f"{k}={_describe(v)}" for k, v in items.items())
    return f"{head}({body})" if head and body else head or body
  if isinstance(value, (list, tuple)):
    return "[" + ", ".join(_describe(v) for v in value) + "]"
  return str(value)


def _labels(runs: Sequence[Run]) -> list[str]:
  """Run names, with the workdir's directory name added where two runs share a name."""
  counts = collections.Counter(run.name for run in runs)
  return [run.name if counts[run.name] == 1 else f"{run.name} ({run.workdir.name})"
          for run in runs]


def _markdown_table(columns: Sequence[str], rows: Sequence[Mapping[str, str]],
                    left_aligned: set[str]) -> str:
  """A pipe table padded to column width, so it also reads well as plain text."""
  cells = [[_escape(row.get(c) or "—") for c in columns] for row in rows]
  widths = [max(3, len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

  def line(values: Sequence[str]) -> str:
    return "| " + " | ".join(
        v.ljust(w) if c in left_aligned else v.rjust(w)
        for v, w, c in zip(values, widths, columns)) + " |"

  rule = "| " + " | ".join(
      ":" + "-" * (w - 1) if c in left_aligned else "-" * (w - 1) + ":"
      for w, c in zip(widths, columns)) + " |"
  return "\n".join([line(columns), rule, *(line(r) for r in cells)])


def _escape(text: str) -> str:
  return text.replace("|", "\\|")


def format_seed_stats_table(workdirs: Sequence[RunLike]) -> str:
  """A Markdown table with one row per (experiment, final metric): seeds, mean, std and the 95%
  confidence interval of the mean ("—" with one seed); see `seed_stats`."""
  runs = [load_run(w) for w in workdirs]
  rows = []
  for label, run in zip(_labels(runs), runs):
    per_seed = final_metrics(run.records)
    for key, values in _by_metric(per_seed).items():
      stats = seed_stats(values)
      rows.append({"experiment": label, "metric": key, "seeds": str(stats.n),
                   "mean": format_value(key, stats.mean), "std": format_value(key, stats.std),
                   "95% CI": _format_interval(key, stats.ci),
                   "each seed": ", ".join(f"{seed}: {format_value(key, v[key])}"
                                          for seed, v in sorted(per_seed.items()) if key in v)})
  columns = ["experiment", "metric", "seeds", "mean", "std", "95% CI", "each seed"]
  return _markdown_table(columns, rows, left_aligned={"experiment", "metric", "each seed"})


def format_comparison(a: RunLike, b: RunLike) -> str:
  """A Markdown section comparing run A with run B on every final metric both have: the two
  "mean ± std (n seeds)", A − B, its 95% confidence interval, Welch's p-value and a verdict (see
  `SeedDifference`), then plain sentences for what the table cannot say: too few seeds, no
  spread, metrics only one run has."""
  run_a, run_b = load_run(a), load_run(b)
  label_a, label_b = _labels([run_a, run_b])
  values_a, values_b = metric_values(run_a), metric_values(run_b)
  shared = [key for key in values_a if key in values_b]
  parts = [f"## A − B: {label_a} vs {label_b}", "",
           f"A = {label_a} (`{run_a.workdir}`), B = {label_b} (`{run_b.workdir}`); final metrics, "
           "one value per seed.", ""]
  if not shared:
    parts.append(f"A and B share no final metric, so there is nothing to compare (A has "
                 f"{', '.join(values_a)}; B has {', '.join(values_b)}).")
    return "\n".join(parts)
  differences = {key: compare_seeds(values_a[key], values_b[key]) for key in shared}
  rows = [{"metric": key, "A": format_mean_std(key, values_a[key]),
           "B": format_mean_std(key, values_b[key]), "A − B": _format_signed(key, d.difference),
           "95% CI of A − B": _format_interval(key, d.ci),
           "p (Welch)": _format_p_value(d.p_value), "verdict": d.verdict}
          for key, d in differences.items()]
  columns = ["metric", "A", "B", "A − B", "95% CI of A − B", "p (Welch)", "verdict"]
  parts += [_markdown_table(columns, rows, left_aligned={"metric", "verdict"}), "", COMPARISON_FOOTNOTE]
  for sentence in _undecided_sentences(differences):
    parts += ["", sentence]
  only_a, only_b = [k for k in values_a if k not in values_b], [k for k in values_b if k not in values_a]
  if only_a or only_b:
    sides = [f"only in {side}: {', '.join(keys)}" for side, keys in (("A", only_a), ("B", only_b)) if keys]
    parts += ["", f"Not compared ({'; '.join(sides)})."]
  return "\n".join(parts)


def _undecided_sentences(differences: Mapping[str, SeedDifference]) -> list[str]:
  """One plain sentence per reason (and per seed counts) why some metrics have no interval."""
  groups: dict[tuple, list[str]] = collections.defaultdict(list)
  for key, d in differences.items():
    if d.undecided is not None:
      groups[(d.undecided, d.a.n, d.b.n)].append(key)
  sentences = []
  for (reason, n_a, n_b), keys in groups.items():
    which = "every shared metric" if len(keys) == len(differences) else ", ".join(keys)
    if reason == TOO_FEW_SEEDS:
      who = " and ".join(f"{side} has {_count_seeds(n)}" for side, n in (("A", n_a), ("B", n_b)) if n < 2)
      sentences.append(
          f"**Too few seeds to tell** ({which}): {who}; a confidence interval and a p-value need at "
          "least 2 seeds in each run, so A − B alone says nothing about which config is better. "
          "Train more seeds (e.g. `--config.seeds='(0,1,2)'`).")
    else:
      sentences.append(
          f"**No spread** ({which}): every seed of both runs gave the same value, so there is no "
          "seed-to-seed variation to weigh A − B against.")
  return sentences


def _count_seeds(n: int) -> str:
  return f"{n} seed" if n == 1 else f"{n} seeds"


def _format_interval(metric: str, interval: tuple[float, float] | None) -> str | None:
  """"[low, high]" at the metric's precision; None (a "—" cell) without an interval."""
  if interval is None:
    return None
  return f"[{format_value(metric, interval[0])}, {format_value(metric, interval[1])}]"


def _format_signed(metric: str, value: float) -> str:
  text = format_value(metric, value)
  return f"+{text}" if value > 0 else text


def _format_p_value(p: float | None) -> str | None:
  """Three decimals, "< 0.001" below that (more digits would claim a precision that 3-seed
  t-tests do not have); None (a "—" cell) without a test."""
  if p is None:
    return None
  return "< 0.001" if p < 0.001 else f"{p:.3f}"


def write_results_md(workdirs: Sequence[RunLike], out_path: str | os.PathLike,
                     command: str | None = None, sections: Sequence[str] = ()) -> str:
  """Writes the results table of `workdirs` to `out_path` (a footnote states the std rule), then
  the seed-statistics table (95% confidence intervals), the source workdirs, if given the command
  that made the file, then `sections`; returns the Markdown."""
  runs = [load_run(w) for w in workdirs]
  parts = ["# Results", "", format_results_table(runs), "", STD_FOOTNOTE, "",
           "## Final metrics over seeds: 95% confidence intervals", "",
           format_seed_stats_table(runs), "", CI_FOOTNOTE, "", "Workdirs:"]
  parts += [f"- {label}: `{run.workdir}`" for label, run in zip(_labels(runs), runs)]
  if command:
    parts += ["", f"Made by: `{command}`"]
  for section in sections:
    parts += ["", section]
  text = "\n".join(parts) + "\n"
  out_path = Path(out_path)
  out_path.parent.mkdir(parents=True, exist_ok=True)
  out_path.write_text(text)
  return text


# ---------------------------------------------------------------------------------------------
# Learning curves.


def learning_curves(records: Iterable[Record], split: str, metric: str,
                    x_axis: str = "auto") -> tuple[str, Curves]:
  """One (split, metric) per seed: returns (x label, {seed: (x, y)}), sorted by step.

  x_axis "auto" picks "epoch" when every record of the curve has an epoch increasing strictly
  with step (per seed), else "step"; "step" or "epoch" force it.
  """
  by_seed: dict[int, list[Record]] = collections.defaultdict(list)
  for record in records:
    if record.split == split and metric in record.metrics:
      by_seed[record.seed].append(record)
  for seed_records in by_seed.values():
    seed_records.sort(key=lambda r: r.step)
  if x_axis == "auto":
    x_axis = "epoch" if by_seed and all(map(_epochs_increase, by_seed.values())) else "step"
  curves = {}
  for seed, seed_records in sorted(by_seed.items()):
    x = [r.epoch if x_axis == "epoch" else r.step for r in seed_records]
    y = [r.metrics[metric] for r in seed_records]
    curves[seed] = (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
  return x_axis, curves


def per_epoch_perplexity(records: Iterable[Record], split: str) -> Curves:
  """{seed: (epochs 1..E, perplexity)}: exp of the mean logged loss of the windows that end in
  each epoch (end epoch in (e-1, e]). Training logs one mean-per-token loss per equal-sized window
  of steps, so this is the epoch's training perplexity up to the windows that straddle an epoch
  boundary. Records without an epoch or a loss are ignored."""
  losses: dict[int, dict[int, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
  for record in records:
    if record.split == split and record.epoch is not None and "loss" in record.metrics:
      losses[record.seed][max(1, math.ceil(record.epoch - 1e-9))].append(record.metrics["loss"])
  return {seed: (np.asarray(sorted(by_epoch), dtype=np.float64),
                 np.exp([np.mean(by_epoch[e]) for e in sorted(by_epoch)]))
          for seed, by_epoch in sorted(losses.items())}


def _epochs_increase(records: Sequence[Record]) -> bool:
  epochs = [r.epoch for r in records]
  return None not in epochs and all(a < b for a, b in zip(epochs, epochs[1:]))


def aggregate_curves(curves: Curves) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(x, mean, std) over seeds at the x values every seed logged; sample std (ddof=1), zeros
  for a single seed."""
  if not curves:
    empty = np.zeros(0)
    return empty, empty, empty
  common = functools.reduce(np.intersect1d, (x for x, _ in curves.values()))
  ys = np.stack([y[np.searchsorted(x, common)] for x, y in curves.values()])  # [seeds, points]
  std = np.std(ys, axis=0, ddof=1) if len(curves) >= 2 else np.zeros_like(common)
  return common, np.mean(ys, axis=0), std


def curve_keys(records: Iterable[Record]) -> list[tuple[str, str]]:
  """(split, metric) pairs of non-final splits that some seed logged at two or more steps."""
  steps: dict[tuple[str, str, int], set[int]] = collections.defaultdict(set)
  for r in records:
    if not r.split.startswith(FINAL_PREFIX):
      for metric in r.metrics:
        steps[(r.split, metric, r.seed)].add(r.step)
  keys = {(split, metric) for (split, metric, _), s in steps.items() if len(s) >= 2}
  return sorted(keys, key=lambda k: metric_sort_key(f"{k[0]}/{k[1]}"))


def plot_learning_curves(workdir: RunLike) -> list[Path]:
  """Writes workdir/plots/<split>_<metric>.png for every curve (see `curve_keys`), plus
  plots/perplexity_train_valid.png when train and valid perplexity both exist. Each plot: every
  seed a thin line, the mean a thick line with a ±1 std band. Returns the files written."""
  run = load_run(workdir)
  out_dir = run.workdir / PLOTS_DIR
  out_dir.mkdir(parents=True, exist_ok=True)
  keys = curve_keys(run.records)
  written = []
  for split, metric in keys:
    x_label, curves = learning_curves(run.records, split, metric)
    fig, ax = _new_axes()
    _draw_seeds_and_mean(ax, curves, color="C0", label="mean", seed_label="seeds", metric=metric)
    _finish_axes(ax, x_label, metric, f"{run.name}: {split} {metric}")
    written.append(save_figure(fig, out_dir / f"{_file_part(split)}_{_file_part(metric)}.png"))
  if ("train", "perplexity") in keys and ("valid", "perplexity") in keys:
    written.append(_plot_train_valid_perplexity(run, out_dir / "perplexity_train_valid.png"))
  return written


def _plot_train_valid_perplexity(run: Run, out_path: Path) -> Path:
  """Train vs valid perplexity; per epoch when both curves have epochs (train: each epoch's
  logging windows pooled, see `per_epoch_perplexity`), else per logged step."""
  x_axis = _shared_x_axis([run], ["train", "valid"], "perplexity")
  fig, ax = _new_axes()
  for split, color in (("train", "C0"), ("valid", "C1")):
    if x_axis == "epoch" and split == "train":
      curves, label = per_epoch_perplexity(run.records, split), "train (each epoch's mean loss)"
    else:
      _, curves = learning_curves(run.records, split, "perplexity", x_axis)
      label = split
    _draw_seeds_and_mean(ax, curves, color=color, label=label, metric="perplexity")
  _finish_axes(ax, x_axis, "perplexity", f"{run.name}: train and valid perplexity")
  return save_figure(fig, out_path)


def plot_comparison(workdirs: Sequence[RunLike], metric: str, split: str,
                    out_path: str | os.PathLike) -> Path:
  """Several experiments' `split` `metric` on one figure: per experiment, in its own colour, the
  mean line with a ±1 std band and lighter thin seed lines; legend by experiment name.
  Experiments that did not log the curve are left out with a warning; none → ReportError."""
  present, x_axis = _runs_with_curve(workdirs, split, metric)
  fig, ax = _new_axes()
  for i, (label, run) in enumerate(present):
    _, curves = learning_curves(run.records, split, metric, x_axis)
    _draw_seeds_and_mean(ax, curves, color=f"C{i % 10}", label=label, metric=metric)
  _finish_axes(ax, x_axis, metric, f"{split} {metric}")
  return save_figure(fig, Path(out_path))


def format_curve_table(workdirs: Sequence[RunLike], metric: str, split: str, every: float = 0) -> str:
  """The comparison plot's numbers: one row per step (or epoch), one column per experiment,
  cells "mean ± std" over the seeds that logged that point (as the plotted mean and band).

  every > 0 keeps only the rows whose x is a multiple of it (plus the last row).
  """
  present, x_axis = _runs_with_curve(workdirs, split, metric)
  columns: dict[str, dict[float, str]] = {}
  for label, run in present:
    x, mean, std = aggregate_curves(learning_curves(run.records, split, metric, x_axis)[1])
    columns[label] = {float(a): f"{format_value(metric, m)} ± {format_value(metric, s)}"
                      for a, m, s in zip(x, mean, std)}
  return _curve_markdown(columns, x_axis, every)


def format_seed_curve_table(workdirs: Sequence[RunLike], metric: str, split: str, every: float = 0) -> str:
  """As `format_curve_table`, but one column per (experiment, seed): each seed's own value."""
  present, x_axis = _runs_with_curve(workdirs, split, metric)
  columns: dict[str, dict[float, str]] = {}
  for label, run in present:
    for seed, (x, y) in sorted(learning_curves(run.records, split, metric, x_axis)[1].items()):
      columns[f"{label} seed {seed}"] = {float(a): format_value(metric, b) for a, b in zip(x, y)}
  return _curve_markdown(columns, x_axis, every)


def _curve_markdown(columns: Mapping[str, Mapping[float, str]], x_axis: str, every: float) -> str:
  """One row per x any column has (with every > 0 only multiples of it, plus the last), one column each."""
  xs = sorted(set().union(*columns.values()))
  if every > 0:
    xs = sorted({a for a in xs if math.isclose(a / every, round(a / every))} | ({xs[-1]} if xs else set()))
  rows = [{x_axis: f"{a:g}" if x_axis == "epoch" else f"{int(a):,}", **{label: col.get(a) for label, col in columns.items()}}
          for a in xs]
  return _markdown_table([x_axis, *columns], rows, left_aligned=set())


def _runs_with_curve(workdirs: Sequence[RunLike], split: str, metric: str) -> tuple[list[tuple[str, Run]], str]:
  """(label, run) of the runs that logged `split`/`metric` over steps, and their shared x axis.
  Runs without the curve are left out with a warning; none → ReportError naming what exists."""
  runs = [load_run(w) for w in workdirs]
  present = [(label, run) for label, run in zip(_labels(runs), runs)
             if (split, metric) in curve_keys(run.records)]
  if not present:
    available = sorted({f"{s}/{m}" for run in runs for s, m in curve_keys(run.records)})
    raise ReportError(
        f"no workdir logged {split}/{metric} over steps; choose --split/--metric from: "
        f"{', '.join(available) or 'nothing (no curves logged)'}")
  for label, run in zip(_labels(runs), runs):
    if all(run is not r for _, r in present):
      logging.warning("%s (%s) has no %s/%s curve; left out of the comparison.",
                      label, run.workdir, split, metric)
  return present, _shared_x_axis([run for _, run in present], [split], metric)


def _shared_x_axis(runs: Sequence[Run], splits: Sequence[str], metric: str) -> str:
  """"epoch" only if every curve to be drawn together would use epochs on its own."""
  auto = [learning_curves(run.records, split, metric)[0] for run in runs for split in splits]
  return "epoch" if all(a == "epoch" for a in auto) else "step"


def _new_axes():
  fig = Figure(figsize=(6.4, 4.2), dpi=110, layout="constrained")
  return fig, fig.add_subplot()


def _metric_range(metric: str) -> tuple[float, float]:
  """The values a metric can take, to which a mean ± std band is clipped (an accuracy band
  never reaches above 1, a perplexity band never below 1)."""
  if "accuracy" in metric.lower():
    return 0.0, 1.0
  if _is_perplexity(metric):
    return 1.0, math.inf
  return -math.inf, math.inf


def _draw_seeds_and_mean(ax, curves: Curves, color: str, label: str, *, metric: str,
                         seed_label: str | None = None) -> None:
  for i, (x, y) in enumerate(curves.values()):
    ax.plot(x, y, color=color, linewidth=0.8, alpha=0.35,
            label=f"{seed_label} ({len(curves)})" if seed_label and i == 0 else None)
  x, mean, std = aggregate_curves(curves)
  if x.size == 0:
    return
  ax.plot(x, mean, color=color, linewidth=2.2,
          label=f"{label} ± 1 std" if len(curves) >= 2 else label)
  if len(curves) >= 2:
    low, high = _metric_range(metric)
    ax.fill_between(x, np.clip(mean - std, low, high), np.clip(mean + std, low, high),
                    color=color, alpha=0.2, linewidth=0)


def _finish_axes(ax, x_label: str, metric: str, title: str) -> None:
  if _is_perplexity(metric):
    ax.set_yscale("log")  # the ±std band is clipped at 1 (`_metric_range`), so it stays positive
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.ScalarFormatter())  # 200, not 2×10²
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
  ax.set_xlabel(x_label)
  ax.set_ylabel(metric)
  ax.set_title(title)
  ax.grid(True, which="major", alpha=0.3)
  ax.legend(fontsize="small")


def _is_perplexity(metric: str) -> bool:
  return "perplexity" in metric.lower() or metric.lower() == "ppl"


def save_figure(fig: Figure, path: str | Path) -> Path:
  """Write ``fig`` to ``path`` (its folder created); returns the path."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path)
  return path


def write_json(result: Mapping[str, Any], path: str | Path) -> Path:
  """Write ``result`` as indented JSON to ``path`` (its folder created); returns the path."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(result, indent=1) + "\n")
  return path


def _file_part(text: str) -> str:
  return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


# ---------------------------------------------------------------------------------------------
# Entry points.


def report_run(workdir: RunLike) -> dict[str, Any]:
  """Everything for one finished run: summary.json, results.md and plots/ in its workdir.
  Returns the summary."""
  run = load_run(workdir)
  summary = write_summary(run)
  write_results_md([run], run.workdir / RESULTS_FILE)
  plot_learning_curves(run)
  return summary


def report(workdirs: Sequence[RunLike], out_dir: str | os.PathLike, metric: str = "accuracy",
           split: str = "eval", command: str | None = None, curve_every: float = 0,
           compare: Sequence[RunLike] = ()) -> str:
  """Collates runs: out_dir/results.md (the results table, the seed-statistics table, with
  `compare` = (A, B) the A − B section of `format_comparison`, then the compared curve as a table
  of mean ± std) and out_dir/comparison_<split>_<metric>.png. The runs are `workdirs` followed by
  A and B where not already among them. All workdirs are read before anything is written.
  Returns the Markdown of results.md."""
  if len(compare) not in (0, 2):
    raise ReportError(f"--compare takes exactly two workdirs, A and B, got {len(compare)}: "
                      f"{', '.join(map(str, compare))}")
  if not workdirs and not compare:
    raise ReportError("no workdirs given; pass --workdirs DIR [DIR ...] or --compare A B")
  runs = [load_run(w) for w in workdirs]
  compared = [load_run(w) for w in compare]
  for run in compared:
    if all(r.workdir.resolve() != run.workdir.resolve() for r in runs):
      runs.append(run)
  sections = [format_comparison(*compared)] if compared else []
  out_dir = Path(out_dir)
  comparison = out_dir / f"comparison_{_file_part(split)}_{_file_part(metric)}.png"
  curve = (f"## {split} {metric} (mean ± std over seeds; {comparison.name})\n\n"
           + format_curve_table(runs, metric, split, curve_every))
  seed_curve = f"## {split} {metric}, each seed\n\n" + format_seed_curve_table(runs, metric, split, curve_every)
  plot_comparison(runs, metric, split, comparison)
  return write_results_md(runs, out_dir / RESULTS_FILE, command=command, sections=[*sections, curve, seed_curve])
