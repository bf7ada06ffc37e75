"""What a run writes while it trains: ``metrics.jsonl``, TensorBoard events (one run per seed), and
what a person watching sees: the progress bar or lines, and the format of the console's log lines.

``metrics.jsonl`` holds one JSON object per seed per logging step and per evaluation:
``{"seed": 0, "step": 100, "split": "train", "loss": ..., ...}``. When a run resumes from a
checkpoint at step S, records after S are removed first, so the file reads as one uninterrupted run.
"""
from __future__ import annotations

import json
import logging as python_logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from absl import logging
from tqdm import tqdm


def _clean(value: Any) -> Any:
  value = np.asarray(value).item()
  return value if not isinstance(value, float) or math.isfinite(value) else str(value)


def truncate_jsonl(path: Path, last_step: int) -> None:
  """Drop records with ``step > last_step`` (atomically: write a copy, then rename)."""
  if not path.exists():
    return
  kept = []
  for line in path.read_text().splitlines():
    try:
      if json.loads(line)["step"] <= last_step:
        kept.append(line)
    except (ValueError, KeyError):
      continue  # a line cut by a kill mid-write
  tmp = path.with_suffix(".tmp")
  tmp.write_text("".join(line + "\n" for line in kept))
  os.replace(tmp, path)


class MetricsWriter:
  """Appends per-seed records to ``metrics.jsonl`` and TensorBoard (``tensorboard/seed_<s>``)."""

  def __init__(self, workdir: Path, seeds: Sequence[int], resume_step: int, is_writer: bool = True):
    self.path = workdir / "metrics.jsonl"
    self.seeds = list(seeds)
    self.is_writer = is_writer
    self._tb = {}
    if not is_writer:
      return
    truncate_jsonl(self.path, resume_step)
    self._file = open(self.path, "a")
    from tensorboardX import SummaryWriter  # TensorBoard event files without TensorFlow
    for seed in self.seeds:
      # purge_step hides events a killed run wrote after its last checkpoint.
      self._tb[seed] = SummaryWriter(str(workdir / "tensorboard" / f"seed_{seed}"),
                                     purge_step=resume_step if resume_step else None)

  def write(self, step: int, split: str, per_seed: Mapping[str, np.ndarray], extra: Mapping[str, Any] = ()):
    """``per_seed[name]`` is an array (or list) over seeds, in ``self.seeds`` order; a ``None`` entry
    leaves that metric out of the seed's record (e.g. a threshold the seed never reached)."""
    if not self.is_writer:
      return
    for i, seed in enumerate(self.seeds):
      values_i = {name: values[i] for name, values in per_seed.items() if values[i] is not None}
      record = {"seed": seed, "step": int(step), "split": split, **dict(extra)}
      record.update({name: _clean(value) for name, value in values_i.items()})
      self._file.write(json.dumps(record) + "\n")
      for name, value in values_i.items():
        self._tb[seed].add_scalar(f"{split}/{name}", float(value), int(step))
    self._file.flush()

  def close(self):
    if not self.is_writer:
      return
    self._file.close()
    for writer in self._tb.values():
      writer.close()


def _duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Progress:
  """Step, loss, task metric (mean over seeds), steps/s and ETA, for a person watching.

  When stderr is a terminal: a tqdm bar, redrawn at each report, whose tail carries the ETA, the
  rate and the latest metrics. While it is shown, every other write to stderr (log lines,
  warnings) goes through tqdm, so it prints above the bar instead of into it; `close()` gives
  stderr back. Otherwise (a log file, a pipe, CI): one INFO line per report,
  "step 200/3000 | loss 0.6931 | accuracy 0.5 | 2.10 steps/s | ETA 22m13s".

  Rate and ETA come from the steps since the previous report (`steps_per_second`), never from
  the compiling first step; tqdm's own rate would average both, so the bar shows ours instead.
  """

  BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} steps [{elapsed}{postfix}]"

  def __init__(self, start_step: int, total_steps: int, shown: bool = True):
    """``shown=False`` (the other processes of a multi-process run): no bar and no lines."""
    self.total = total_steps
    self.start_step = start_step
    self.shown = shown
    self.t0 = None
    self.bar = None
    self._stderr = self._above_bar = self._handler = None
    if shown and sys.stderr.isatty():
      self._stderr = sys.stderr
      self.bar = tqdm(total=total_steps, initial=start_step, file=self._stderr, dynamic_ncols=True,
                      bar_format=self.BAR_FORMAT)
      self.bar.set_postfix_str("compiling the training step")
      self._above_bar = _AboveBar(self._stderr)
      sys.stderr = self._above_bar
      handler = logging.get_absl_handler().python_handler
      if handler.stream is self._stderr:  # absl kept its own reference to stderr
        self._handler = handler
        handler.setStream(self._above_bar)

  def started(self, step: int):
    """Call after the first (compiling) step, so steps/s excludes compilation."""
    self.t0, self.t0_step = time.perf_counter(), step
    if self.bar is not None:
      self.bar.set_postfix_str("measuring speed")

  def steps_per_second(self, step: int, now: float | None = None) -> float:
    """The rate since the previous report (evaluations included), so that a change of machine
    load or a paused process shows in the next report instead of skewing the whole run's mean."""
    if self.t0 is None or step <= self.t0_step:
      return float("nan")
    now = time.perf_counter() if now is None else now
    return (step - self.t0_step) / (now - self.t0) if now > self.t0 else float("nan")

  def report(self, step: int, metrics: Mapping[str, float]):
    if not self.shown:
      return
    now = time.perf_counter()
    rate = self.steps_per_second(step, now)
    if not math.isnan(rate):  # measured: the next report's rate starts here
      self.t0, self.t0_step = now, step
    eta = (self.total - step) / rate if rate > 0 else float("nan")  # nan > 0 is False
    eta_text = "?" if math.isnan(eta) else _duration(eta)
    shown = [f"{k} {v:.4g}" for k, v in metrics.items()]
    if self.bar is not None:
      # ETA first: a terminal narrower than the line cuts its tail.
      self.bar.n = step
      self.bar.set_postfix_str(" | ".join([f"ETA {eta_text}", f"{rate:.2f} steps/s", *shown]))  # redraws
    else:
      line = [f"step {step}/{self.total}", *shown, f"{rate:.2f} steps/s", f"ETA {eta_text}"]
      logging.info(" | ".join(line))

  def close(self):
    """Closes the bar and gives stderr back (a no-op without a bar; safe to call twice)."""
    if self.bar is None:
      return
    self.bar.close()
    if self._handler is not None and self._handler.stream is self._above_bar:
      self._handler.setStream(self._stderr)
    if sys.stderr is self._above_bar:
      sys.stderr = self._stderr
    self._above_bar.write_partial_line()
    self.bar = None


class _AboveBar:
  """A text stream that prints whole lines above the tqdm bars on `stream` (tqdm.write clears the
  bars, writes, then redraws them). A line's start waits for its newline, since a redraw between
  the two would split the line around the bar."""

  def __init__(self, stream):
    self._stream = stream
    self._partial = ""

  def write(self, text: str) -> int:
    lines, newline, self._partial = (self._partial + text).rpartition("\n")
    if newline:
      tqdm.write(lines, file=self._stream)
    return len(text)

  def write_partial_line(self):
    """Writes a started line that never got its newline (called once the bars are gone)."""
    if self._partial:
      self._stream.write(self._partial)
      self._partial = ""

  def __getattr__(self, name):  # flush, isatty, fileno, encoding, ... of the real stream
    return getattr(self._stream, name)


class ConsoleFormatter(python_logging.Formatter):
  """Log lines for a person at a console: INFO lines from this project's own files (those under
  `own_dirs`) are the bare message; all other lines keep absl's prefix
  ("W1201 20:36:58.676669 140153966340992 train.py:281] "), so warnings, errors and other
  libraries' lines still say how severe they are and where they came from.

  Install it on absl's handler (launch/main.py does):
    logging.get_absl_handler().setFormatter(ConsoleFormatter([rnn_jax_dir, launch_dir]))
  """

  def __init__(self, own_dirs: Sequence[str | os.PathLike]):
    super().__init__()
    self._own_dirs = tuple(os.path.join(os.path.realpath(d), "") for d in own_dirs)
    self._is_own_file: dict[str, bool] = {}  # realpath touches the disk; a run logs from few files

  def _is_own(self, pathname: str) -> bool:
    if pathname not in self._is_own_file:
      self._is_own_file[pathname] = os.path.realpath(pathname).startswith(self._own_dirs)
    return self._is_own_file[pathname]

  def format(self, record: python_logging.LogRecord) -> str:
    message = super().format(record)  # the message, then any traceback or stack
    if record.levelno == python_logging.INFO and self._is_own(record.pathname):
      return message
    return logging.get_absl_log_prefix(record) + message
