"""What a run writes while it trains: ``metrics.jsonl``, TensorBoard events (one run per seed), progress.

``metrics.jsonl`` holds one JSON object per seed per logging step and per evaluation:
``{"seed": 0, "step": 100, "split": "train", "loss": ..., ...}``. When a run resumes from a
checkpoint at step S, records after S are removed first, so the file reads as one uninterrupted run.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from absl import logging


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
    """``per_seed[name]`` is an array over seeds (in ``self.seeds`` order)."""
    if not self.is_writer:
      return
    for i, seed in enumerate(self.seeds):
      record = {"seed": seed, "step": int(step), "split": split, **dict(extra)}
      record.update({name: _clean(values[i]) for name, values in per_seed.items()})
      self._file.write(json.dumps(record) + "\n")
      for name, values in per_seed.items():
        self._tb[seed].add_scalar(f"{split}/{name}", float(values[i]), int(step))
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
  """Step, loss, task metric (mean over seeds), steps/s and ETA; a tqdm bar on a terminal."""

  def __init__(self, start_step: int, total_steps: int):
    self.total = total_steps
    self.start_step = start_step
    self.t0 = None
    self.bar = None
    if sys.stderr.isatty():
      from tqdm import tqdm
      self.bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True)

  def started(self, step: int):
    """Call after the first (compiling) step, so steps/s excludes compilation."""
    self.t0, self.t0_step = time.perf_counter(), step

  def steps_per_second(self, step: int, now: float | None = None) -> float:
    """The rate since the previous report (evaluations included), so that a change of machine
    load or a paused process shows in the next report instead of skewing the whole run's mean."""
    if self.t0 is None or step <= self.t0_step:
      return float("nan")
    now = time.perf_counter() if now is None else now
    return (step - self.t0_step) / (now - self.t0) if now > self.t0 else float("nan")

  def report(self, step: int, metrics: Mapping[str, float]):
    now = time.perf_counter()
    rate = self.steps_per_second(step, now)
    if not math.isnan(rate):  # measured: the next report's rate starts here
      self.t0, self.t0_step = now, step
    eta = (self.total - step) / rate if rate > 0 else float("nan")  # nan > 0 is False
    shown = " | ".join(f"{k} {v:.4g}" for k, v in metrics.items())
    message = f"step {step}/{self.total} | {shown} | {rate:.2f} steps/s | ETA {'?' if math.isnan(eta) else _duration(eta)}"
    if self.bar is not None:
      self.bar.n = step
      self.bar.set_postfix_str(shown)
      self.bar.refresh()
    logging.info(message)

  def close(self):
    if self.bar is not None:
      self.bar.close()
