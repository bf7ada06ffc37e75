"""The generic training loop: all seeds of a config in one compiled program, checkpointed and logged.

``train_and_evaluate(config, workdir)`` is the single entry point (``launch/main.py`` calls it).

* Seeds: the train state has a leading seed axis sharded over a ``'seed'`` mesh axis
  (``rnn_jax.seed_mesh``). Seed ``s`` derives everything from ``jax.random.key(s)``: its
  initialisation, its data stream (``fold_in(data_key, step)``) and its dropout masks, so its
  numbers do not depend on which other seeds run or on how many devices there are.
* Steps: ``step`` counts completed training steps. Logging, evaluation and checkpoints fire every
  ``*_every_steps`` and always on the last step. ``eval_every_steps = 0`` means: every epoch for
  epoch-based tasks, only at the end otherwise.
* Non-finite loss or gradients: that update is skipped (the parameters stay as they were), the
  first bad step is recorded per seed, and at the next logging point the run stops with a
  ``TrainingError`` naming the seed and step; no checkpoint is written after it.
* Resuming: relaunching with the same config and workdir restores the latest checkpoint; since
  data are a function of (seed, step), the resumed run is bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from ml_collections import ConfigDict

from rnn_jax import checkpointing, optim, platform, reporting, run_outputs, seed_mesh
from rnn_jax import config_checks as checks
from rnn_jax.errors import ConfigError, TrainingError
from rnn_jax.rng_streams import DATA_STREAM, DROPOUT_STREAM, EVAL_STREAM, INIT_STREAM
from rnn_jax.seed_mesh import SeedMesh
from rnn_jax.tasks import base

#: ``config.task`` -> "module:class" of its ``Task``; imported lazily so a toy run never loads TFDS.
TASKS = {
    "toy": "rnn_jax.tasks.toy:ToyClassificationTask",
    "ptb": "rnn_jax.tasks.language_model:WordLanguageModelTask",
    "chars": "rnn_jax.tasks.language_model:CharLanguageModelTask",
    "ngram": "rnn_jax.tasks.ngram:NgramLanguageModelTask",
}



def task_class(config: ConfigDict) -> type[base.Task]:
  try:
    module_name, class_name = TASKS[config.task].split(":")
  except KeyError:
    raise ConfigError(f"unknown task {config.task!r} in config.task; choose one of {sorted(TASKS)}") from None
  return getattr(importlib.import_module(module_name), class_name)


def make_task(config: ConfigDict) -> base.Task:
  return task_class(config)(config)


# --- config and workdir checks (before anything is written) ---------------------------------------

def validate_config(config: ConfigDict) -> None:
  """Every field's value, before data are loaded or anything is written: the run-level fields here,
  then the task's own (``Task.check_config``). Raises ``ConfigError``: one line with the fix."""
  seeds = config.seeds
  if not isinstance(seeds, (tuple, list)) or not seeds:
    raise ConfigError("config.seeds must be a non-empty tuple of ints, e.g. --config.seeds='(0,1,2)'")
  if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
    raise ConfigError(f"config.seeds must hold non-negative ints, got {tuple(seeds)}")
  if len(set(seeds)) != len(seeds):
    raise ConfigError(f"config.seeds has duplicates: {tuple(seeds)}")
  checks.check(bool(config.name) and "/" not in config.name,
               f"config.name must be a non-empty name without '/', got {config.name!r}")
  checks.one_of(config, "task", TASKS, required=True)
  duration = "num_epochs" if "num_epochs" in config else "num_train_steps"
  for name in (duration, "batch_size", "log_every_steps", "checkpoint_every_steps", "keep_checkpoints"):
    checks.positive(config, name, required=True)
  checks.positive(config, "learning_rate", integer=False, required=True)
  checks.non_negative(config, "max_devices", integer=True)
  checks.non_negative(config, "eval_every_steps", integer=True)
  checks.non_negative(config, "weight_decay")
  checks.non_negative(config, "grad_clip_norm")
  metric, threshold = config.get("early_stop_metric"), config.get("early_stop_threshold")
  checks.check((metric is None) == (threshold is None),
               "config.early_stop_metric and config.early_stop_threshold go together: set both or neither")
  if metric is not None:
    checks.check(metric.count("/") == 1, f"config.early_stop_metric must read '<split>/<metric>' "
                 f"(e.g. 'eval/accuracy'), got {metric!r}")
    if metric.endswith("/accuracy"):
      checks.check(0.0 <= threshold <= 1.0, f"config.early_stop_threshold must be in [0, 1] for an accuracy, "
                   f"got {threshold}")
  checks.one_of(config, "seed_batching", seed_mesh.BATCHING, required=True)
  checks.one_of(config, "optimizer", optim.OPTIMIZERS, required=True)
  checks.one_of(config, "schedule.name", optim.SCHEDULES, required=True)
  unit = "epochs" if "num_epochs" in config else "steps"
  other = "steps" if unit == "epochs" else "epochs"
  if any(f"{field}_{other}" in config.schedule for field in ("hold", "every")):
    raise ConfigError(f"config.schedule has hold_{other}/every_{other} but the run is measured in {unit}; "
                      f"name them hold_{unit}/every_{unit}")
  if config.schedule.name in ("step_decay", "exponential"):
    checks.non_negative(config, f"schedule.hold_{unit}", required=True)
    checks.positive(config, f"schedule.every_{unit}", integer=False, required=True)
    checks.positive(config, "schedule.gamma", integer=False, required=True)
  if config.schedule.name == "plateau":
    if not config.schedule.divide_by > 1:
      raise ConfigError(f"config.schedule.divide_by must be > 1 (the learning rate is divided by it), "
                        f"got {config.schedule.divide_by}")
    checks.non_negative(config, "schedule.patience_evals", integer=True, required=True)
    checks.check(task_class(config).validation_split is not None,
                 f"config.schedule.name 'plateau' needs a validation split, and task {config.task!r} has none; "
                 "choose another schedule")
  platform.resolve_choices(config)  # a bad per-platform choice fails here, before data are loaded
  task_class(config).check_config(config)


#: Config fields that only say how a run executes, not what it computes (rnn_jax.platform): a run may
#: be resumed with other values (the numbers agree to float rounding). Not max_devices (it can change
#: the number of padded seed slots, so the checkpoint's shapes), nor matmul_dtype (it changes numbers).
PLACEMENT_KEYS = ("seed_batching", "rnn_implementation", "hoist_inputs")


_MISSING = object()
#: A field the suite gained after a run started resumes that run when set to one of these ("off").
_OFF_VALUES = (None, [], {}, False, "")


def prepare_workdir(workdir: str | os.PathLike, config: ConfigDict, is_writer: bool) -> Path:
  """Creates the workdir, checks it is writable and holds no run of another config; writes config.json.

  The check ignores ``PLACEMENT_KEYS`` and fields the suite gained after the run started when they
  are at their off value (``_OFF_VALUES``); config.json is rewritten with this launch's values.
  """
  path = Path(workdir)
  config_json = config.to_json_best_effort(sort_keys=True, indent=2)
  saved = path / "config.json"
  if saved.exists():
    previous, current = checks.flat(json.loads(saved.read_text())), checks.flat(json.loads(config_json))
    changed = sorted(k for k in set(previous) | set(current)
                     if k not in PLACEMENT_KEYS and previous.get(k, _MISSING) != current.get(k, _MISSING)
                     and not (k not in previous and current[k] in _OFF_VALUES))
    if changed:
      raise ConfigError(f"workdir {path} holds a run of a different config (differs in {', '.join(changed)}); "
                        "pass a new --workdir, or delete that directory to start over")
  if not is_writer:
    return path
  try:
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / "config.json.tmp"
    tmp.write_text(config_json + "\n")
    os.replace(tmp, saved)
  except OSError as e:
    raise ConfigError(f"cannot write to workdir {path}: {e.strerror}; pass --workdir=<a writable directory>") from None
  return path


# --- the jitted per-seed functions ----------------------------------------------------------------

@dataclasses.dataclass
class Steps:
  """The compiled functions of a run, built from the task, optimizer and seed mesh."""

  task: base.Task
  tx: optax.GradientTransformation
  schedule: optax.Schedule
  mesh: SeedMesh
  #: the ``plateau`` schedule's validation-driven scale (``optim.make_plateau``), or None
  plateau: optax.GradientTransformationExtraArgs | None = None

  def __post_init__(self):
    sharded, replicated = self.mesh.sharded, self.mesh.replicated
    self.init = jax.jit(self.mesh.per_seed(self._init_one), out_shardings=sharded)
    self.data = jax.device_put(self.task.device_data(), replicated)
    self._one_step_sharded = self.mesh.per_seed(self._train_one, num_shared=2)
    self._train = jax.jit(self._train_and_accumulate, donate_argnums=(0, 1),
                          in_shardings=(sharded, sharded, sharded, replicated, replicated),
                          out_shardings=(sharded, sharded))
    self.update_best = jax.jit(self.mesh.per_seed(self._update_best_one), donate_argnums=(0,),
                               out_shardings=sharded)
    self._evals = {}

  def _init_one(self, seed):
    # Seeds sharing a device are initialised one after the other (sequential_vmap): batched over
    # seeds, the orthogonal init's QR decompositions become batched LAPACK calls that deadlock
    # jaxlib 0.10's CPU thread pool (measured: 3 seeds of a 2x128 LSTM never finished their first
    # step). Each seed's parameters are bit-identical to an init of that seed alone.
    init = jax.custom_batching.sequential_vmap(self.task.init_params)
    params = init(jax.random.fold_in(jax.random.key(seed), INIT_STREAM))
    state = {"params": params, "opt_state": self.tx.init(params), "extra": self.task.init_extra(),
             "nonfinite_step": jnp.asarray(-1, jnp.int32)}
    if self.plateau is not None:
      state["plateau"] = self.plateau.init(jnp.zeros((), jnp.float32))
    if self.task.validation_split:
      state["best_params"] = params
      worst = jnp.inf if self.task.best_metric[1] == "min" else -jnp.inf
      state["best_value"] = jnp.asarray(worst, jnp.float32)
    return state

  def train(self, state, acc, seeds, step: int):
    """One training step of every seed; ``acc`` accumulates the metric sums between log points."""
    return self._train(state, acc, seeds, jnp.int32(step), self.data)

  def _train_one(self, state, seed, step, data):
    key = jax.random.key(seed)
    data_key = jax.random.fold_in(key, DATA_STREAM)
    dropout_key = jax.random.fold_in(jax.random.fold_in(key, DROPOUT_STREAM), step)
    grad_fn = jax.value_and_grad(self.task.train_loss, has_aux=True)
    (loss, (sums, extra)), grads = grad_fn(state["params"], state["extra"], data, data_key, dropout_key, step)
    updates, opt_state = self.tx.update(grads, state["opt_state"], state["params"])
    lr_scale = state["plateau"].scale if self.plateau is not None else jnp.asarray(1.0, jnp.float32)
    if self.plateau is not None:
      updates = jax.tree.map(lambda u: u * lr_scale.astype(u.dtype), updates)
    params = optax.apply_updates(state["params"], updates)
    finite = jnp.isfinite(loss) & jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    keep_if_bad = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
    new_state = dict(state)
    new_state.update(
        params=keep_if_bad(params, state["params"]),
        opt_state=keep_if_bad(opt_state, state["opt_state"]),
        extra=keep_if_bad(extra, state["extra"]),
        nonfinite_step=jnp.where(~finite & (state["nonfinite_step"] < 0), step, state["nonfinite_step"]),
    )
    one = jnp.asarray(1.0, jnp.float32)
    sums = dict(sums)
    sums.update(grad_norm=(optax.tree.norm(grads), one), param_norm=(optax.tree.norm(params), one),
                learning_rate=(jnp.asarray(self.schedule(step), jnp.float32) * lr_scale, one))
    return new_state, sums

  #: how often the training step was traced: 1 in a healthy run (a retrace would recompile)
  train_traces: int = 0

  def _train_and_accumulate(self, state, acc, seeds, step, data):
    self.train_traces += 1  # Python runs here only while JAX traces
    state, sums = self._one_step_sharded(state, seeds, step, data)
    return state, base.add_metric_sums(acc, sums)

  def zero_accumulator(self, state, seeds):
    """Zeroed metric sums with the train step's structure (traced once, then reused)."""
    if not hasattr(self, "_sum_shapes"):
      self._sum_shapes = jax.eval_shape(self._one_step_sharded, state, seeds, jnp.int32(0), self.data)[1]
    return jax.tree.map(lambda s: jax.device_put(jnp.zeros(s.shape, s.dtype), self.mesh.sharded), self._sum_shapes)

  def _update_best_one(self, state, value, improved):
    """After a validation: keep the best parameters, and step the plateau schedule (if any)."""
    state = dict(state)
    state["best_params"] = jax.tree.map(lambda p, b: jnp.where(improved, p, b),
                                        state["params"], state["best_params"])
    state["best_value"] = jnp.where(improved, value, state["best_value"])
    if self.plateau is not None:
      lower_is_better = value if self.task.best_metric[1] == "min" else -value
      _, state["plateau"] = self.plateau.update({}, state["plateau"], value=lower_is_better)
    return state

  def evaluate(self, split: str, params, seeds, step: int):
    if split not in self._evals:
      def one(params, seed, step, data):
        key = jax.random.fold_in(jax.random.key(seed), EVAL_STREAM)
        return self.task.evaluate(params, data, key, split, step)
      self._evals[split] = jax.jit(self.mesh.per_seed(one, num_shared=2))
    return self._evals[split](params, seeds, jnp.int32(step), self.data)


def make_steps(config: ConfigDict, task: base.Task) -> Steps:
  """The compiled functions of ``config``: its schedule, optimizer and seed mesh."""
  steps_per_unit = task.steps_per_epoch if "num_epochs" in config else 1
  schedule = optim.make_schedule(config, steps_per_unit)
  devices = jax.devices()[:config.max_devices] if config.max_devices > 0 else None
  mesh = SeedMesh.create(tuple(config.seeds), devices, config.seed_batching)
  return Steps(task, optim.make_optimizer(config, schedule), schedule, mesh, optim.make_plateau(config))


# --- the loop ---------------------------------------------------------------------------------------

def _fires(done: int, every: int, total: int) -> bool:
  return done == total or (every > 0 and done % every == 0)


class _Run:
  """One launch of a config: set-up, resume, the step loop and the final evaluation."""

  def __init__(self, config: ConfigDict, workdir: Path, task: base.Task):
    self.config, self.workdir, self.task = config, workdir, task
    self.is_writer = jax.process_index() == 0
    self.total = task.num_train_steps
    self.steps = make_steps(config, task)
    self.mesh = self.steps.mesh
    self.seeds = self.mesh.seed_array()
    self.eval_every = config.eval_every_steps or (task.steps_per_epoch or 0)  # 0: every epoch / at the end
    self.checkpoints = checkpointing.Checkpoints(workdir / "checkpoints", config.keep_checkpoints)

  def _epoch_extra(self, done: int) -> dict:
    spe = self.task.steps_per_epoch
    return {"epoch": round(done / spe, 4)} if spe else {}

  def _restore_or_init(self):
    """``(train state, metric sums of the unfinished logging window, clock, step)`` to start from.

    The checkpoint holds the window's sums too, so a run resumed from a checkpoint between two
    logging points logs exactly the window an uninterrupted run logs.
    """
    state = self.steps.init(self.seeds)
    fresh = {"state": state, "acc": self.steps.zero_accumulator(state, self.seeds)}
    latest = self.checkpoints.latest_step()
    if latest is None:
      return fresh["state"], fresh["acc"], Clock(), 0
    logging.info("Resuming from the checkpoint at step %d in %s", latest, self.workdir / "checkpoints")
    restored = self.checkpoints.restore(latest, fresh)
    return restored["state"], restored["acc"], Clock.load(self.workdir, latest), latest

  def _check_finite(self, state, done: int):
    bad = self.mesh.to_host(state["nonfinite_step"])
    for seed, step in zip(self.mesh.seeds, bad):
      if step >= 0:
        last = self.checkpoints.latest_step()
        kept = f"the last good checkpoint (step {last}) is kept" if last is not None else "no checkpoint was written"
        raise TrainingError(f"seed {seed}: non-finite loss or gradient at step {int(step) + 1}; training stopped at "
                            f"step {done} and {kept} in {self.workdir / 'checkpoints'}. Lower the learning rate "
                            "or tighten grad_clip_norm, then relaunch with a new --workdir")

  def _log_train(self, writer, progress, acc, done):
    values = self.task.reduce_metrics(self.mesh.to_host(acc))
    writer.write(done, "train", values, self._epoch_extra(done))
    shown = {k: float(np.mean(v)) for k, v in values.items() if k not in ("param_norm",)}
    progress.report(done, shown)

  def _evaluate(self, writer, state, done: int, final: bool, extra: dict | None = None):
    """Evaluates every split; ``extra`` ({split: {metric: per-seed values}}) joins the final records."""
    params = state["best_params"] if final and "best_params" in state else state["params"]
    results = {}
    for split in self.task.eval_splits(final):
      values = self.task.reduce_metrics(self.mesh.to_host(self.steps.evaluate(split, params, self.seeds, done)))
      name = f"final/{split}" if final else split
      writer.write(done, name, {**values, **(extra or {}).get(split, {})}, self._epoch_extra(done))
      logging.info("%s at step %d (mean over seeds): %s", name, done,
                   ", ".join(f"{k} {np.mean(v):.4f}" for k, v in values.items()))
      results[split] = values
    return results

  def _track_best(self, state, results):
    split = self.task.validation_split
    if split is None or split not in results:
      return state
    metric, mode = self.task.best_metric
    value = np.asarray(results[split][metric], np.float32)
    best = self.mesh.to_host(state["best_value"])
    improved = value < best if mode == "min" else value > best
    pad = self.mesh.padded_num_seeds - len(value)
    value, improved = np.pad(value, (0, pad), mode="edge"), np.pad(improved, (0, pad), mode="edge")
    put = lambda a: jax.device_put(a, self.mesh.sharded)
    return self.steps.update_best(state, put(value), put(improved))

  def run(self):
    state, acc, clock, start = self._restore_or_init()
    writer = run_outputs.MetricsWriter(self.workdir, self.mesh.seeds, start, self.is_writer)
    progress = run_outputs.Progress(start, self.total, shown=self.is_writer)  # one bar: process 0's
    logging.info("Training %d seeds %s on %d device(s) (%d seed slots), steps %d -> %d",
                 len(self.mesh.seeds), self.mesh.seeds, self.mesh.num_devices,
                 self.mesh.padded_num_seeds, start, self.total)
    c = self.config
    t_start = None
    milestones = self.task.milestones(self.total)
    early_stop = EarlyStop.from_config(c, self.mesh.seeds, self.workdir, start)
    if early_stop.stopped:  # a relaunch of a run that had stopped early: its outputs are complete
      logging.info("This run stopped early at step %d (%s); nothing to train", start, early_stop.describe())
      writer.close()
      progress.close()
      self.checkpoints.close()
      return state, clock, start
    last = self.total
    evals = [0.0, 0]  # this launch's timed evaluations: seconds, count
    evaluated = False  # the launch's first evaluation compiles: not timed
    try:
      for step in range(start, self.total):
        state, acc = self.steps.train(state, acc, self.seeds, step)
        done = step + 1
        if t_start is None:  # the first call compiled; time from here
          jax.block_until_ready(acc)
          t_start, t_start_step = time.perf_counter(), done
          progress.started(done)
        if _fires(done, c.log_every_steps, self.total):
          if self.steps.train_traces > 1:
            logging.warning("the training step was compiled %d times (a changed input shape or dtype?): each "
                            "recompilation costs a first step's time", self.steps.train_traces)
          self._check_finite(state, done)
          self._log_train(writer, progress, acc, done)
          acc = self.steps.zero_accumulator(state, self.seeds)
        stop = False
        if _fires(done, self.eval_every, self.total):
          t_eval = time.perf_counter()
          results = self._evaluate(writer, state, done, final=False)
          if evaluated:
            evals = [evals[0] + time.perf_counter() - t_eval, evals[1] + 1]
          evaluated = True
          state = self._track_best(state, results)
          stop = early_stop.update(done, results)
        if done in milestones:
          host_params = self.mesh.to_host(state["params"])  # every process takes part in the gather
          if self.is_writer:
            self.task.at_milestone(self.workdir, done, host_params, self.mesh.seeds)
        if stop or _fires(done, c.checkpoint_every_steps, self.total):
          self._check_finite(state, done)
          self.checkpoints.save(done, {"state": state, "acc": acc})
          if self.is_writer:
            clock.advanced(time.perf_counter() - t_start, done - t_start_step, evals).save(self.workdir, done)
        if stop:
          logging.info("Early stop at step %d: %s", done, early_stop.describe())
          last = done
          break
      if t_start is not None:
        clock = clock.advanced(time.perf_counter() - t_start, last - t_start_step, evals)
      self._evaluate(writer, state, last, final=True, extra=early_stop.final_fields())
      self.checkpoints.wait()
    finally:
      writer.close()
      progress.close()
      self.checkpoints.close()
    return state, clock, start

  def write_timing(self, clock: "Clock", wall_clock: float, first_step: int):
    """timing.json: the training clock summed over every launch, and this launch's wall clock."""
    if not self.is_writer:
      return
    per_s = (clock.timed_steps * self.task.examples_per_step * len(self.mesh.seeds) / clock.train_seconds
             if clock.train_seconds > 0 else None)
    timing = {"train_seconds": round(clock.train_seconds, 1), "timed_steps": clock.timed_steps,
              "train_examples_per_s": per_s, "examples_unit": self.task.examples_unit,
              "seeds": len(self.mesh.seeds), "devices": self.mesh.num_devices,
              "platform": jax.devices()[0].platform, "launches": clock.launches + 1,
              "wall_clock_s": round(wall_clock, 1), "first_step": first_step, "last_step": self.total,
              "eval_seconds": round(clock.eval_seconds, 1), "timed_evals": clock.timed_evals,
              "eval_share": round(clock.eval_seconds / clock.train_seconds, 4) if clock.train_seconds > 0 else None}
    (self.workdir / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")


#: Metrics for which lower is better (an early-stop threshold is then an upper bound).
LOWER_IS_BETTER = ("loss", "perplexity")


class EarlyStop:
  """``config.early_stop_metric`` (``"<split>/<metric>"``, e.g. ``"eval/accuracy"``) at or beyond
  ``config.early_stop_threshold`` for every seed at two consecutive evaluations ends training there.

  "Beyond" is ``>=`` for accuracy-like metrics and ``<=`` for ``LOWER_IS_BETTER``. The evaluations
  before a resume are read back from ``metrics.jsonl``, so a relaunched run decides as an
  uninterrupted one; a run that had already stopped trains no further. Each seed's first step at the
  threshold is added to its final record of that split as ``steps_to_threshold`` (absent for a seed
  that never got there).
  """

  def __init__(self, key: str | None, threshold: float | None, seeds, history=None):
    self.key, self.threshold, self.seeds = key, threshold, list(seeds)
    self.split, _, self.metric = (key or "/").partition("/")
    self.history = history or {}  # {step: [value per seed]}
    self.stopped = self._met_twice()

  @classmethod
  def from_config(cls, config, seeds, workdir: Path, start: int) -> "EarlyStop":
    key, threshold = config.get("early_stop_metric"), config.get("early_stop_threshold")
    stop = cls(key, threshold, seeds)
    if key and start > 0 and (workdir / "metrics.jsonl").exists():
      by_step = {}
      for line in (workdir / "metrics.jsonl").read_text().splitlines():
        try:
          record = json.loads(line)
        except ValueError:
          continue
        if record.get("split") == stop.split and record["step"] <= start and stop.metric in record:
          by_step.setdefault(record["step"], {})[record["seed"]] = record[stop.metric]
      stop.history = {step: [v.get(s, float("nan")) for s in stop.seeds] for step, v in sorted(by_step.items())}
      stop.stopped = stop._met_twice()
    return stop

  def _reached(self, values) -> list[bool]:
    lower = self.metric in LOWER_IS_BETTER
    return [(v <= self.threshold) if lower else (v >= self.threshold) for v in values]

  def _met_twice(self) -> bool:
    if not self.key or len(self.history) < 2:
      return False
    last_two = [self.history[s] for s in sorted(self.history)[-2:]]
    return all(all(self._reached(values)) for values in last_two)

  def update(self, step: int, results) -> bool:
    """Records this evaluation; True when training should stop here."""
    if not self.key or self.split not in results or self.metric not in results[self.split]:
      return False
    self.history[step] = [float(v) for v in np.asarray(results[self.split][self.metric])]
    self.stopped = self._met_twice()
    return self.stopped

  def first_reached(self) -> list[int | None]:
    first = [None] * len(self.seeds)
    for step in sorted(self.history):
      for i, ok in enumerate(self._reached(self.history[step])):
        if ok and first[i] is None:
          first[i] = step
    return first

  def final_fields(self) -> dict:
    if not self.key:
      return {}
    return {self.split: {"steps_to_threshold": self.first_reached()}}

  def describe(self) -> str:
    return (f"{self.key} {'<=' if self.metric in LOWER_IS_BETTER else '>='} {self.threshold:g} for every seed at two "
            f"consecutive evaluations; first reached at steps {self.first_reached()}")


@dataclasses.dataclass(frozen=True)
class Clock:
  """Training time summed over launches, kept beside the checkpoints (``clock.json``, one entry per
  checkpoint step), so a resumed run's throughput and total time cover the whole run.

  ``train_seconds`` counts the step loop (training, logging, evaluations, checkpoints) up to the
  checkpoint, without each launch's first, compiling step; ``timed_steps`` are the steps it covers;
  ``launches`` the launches before this one. ``eval_seconds`` is the part of ``train_seconds`` spent
  in the periodic evaluations after each launch's first one (which compiles), ``timed_evals`` their
  number.
  """

  train_seconds: float = 0.0
  timed_steps: int = 0
  launches: int = 0
  eval_seconds: float = 0.0
  timed_evals: int = 0

  FILE = "clock.json"

  def advanced(self, seconds: float, steps: int, evals: tuple[float, int] = (0.0, 0)) -> "Clock":
    """This clock plus ``seconds`` of the step loop over ``steps`` steps, ``evals`` = (seconds, count)
    of the timed evaluations among them."""
    return dataclasses.replace(self, train_seconds=self.train_seconds + seconds, timed_steps=self.timed_steps + steps,
                               eval_seconds=self.eval_seconds + evals[0], timed_evals=self.timed_evals + evals[1])

  def save(self, workdir: Path, step: int) -> None:
    path = workdir / self.FILE
    entries = json.loads(path.read_text()) if path.exists() else {}
    entries = {k: v for k, v in entries.items() if int(k) < step}  # later ones belong to a killed launch
    entries[str(step)] = dataclasses.asdict(self)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries) + "\n")
    os.replace(tmp, path)

  @classmethod
  def load(cls, workdir: Path, step: int) -> "Clock":
    """The clock at checkpoint ``step``, counting the launch that wrote it; zero if none was kept."""
    path = workdir / cls.FILE
    entry = (json.loads(path.read_text()) if path.exists() else {}).get(str(step))
    if entry is None:
      return cls()
    known = {f.name for f in dataclasses.fields(cls)}  # an entry from older code lacks the later fields
    values = {k: v for k, v in entry.items() if k in known}
    return cls(**{**values, "launches": values["launches"] + 1})


def train_and_evaluate(config: ConfigDict, workdir: str | os.PathLike) -> dict[str, Any]:
  """Trains every seed of ``config``, evaluates, and writes all outputs to ``workdir``.

  Returns the run's summary (``summary.json``'s content).
  """
  t0 = time.perf_counter()
  validate_config(config)
  host_malloc = platform.keep_host_buffers()  # before the first large buffer
  task = make_task(config)  # loads data: a missing file fails here, before anything is written
  unmatched = optim.unmatched_patterns(tuple(config.get("frozen_params") or ()),
                                       jax.eval_shape(task.init_params, jax.random.key(0)))
  if unmatched:
    raise ConfigError(f"config.frozen_params: {unmatched[0]!r} matches no parameter; parameter paths look like "
                      "'rnn/layer_0/cell/recurrent_kernel' (glob patterns: * ? [...])")
  logging.info("Derived values (not part of the config): %s", dict(task.derived()))
  logging.info("Platform choices: %s; host malloc %s", platform.resolve_choices(config).describe(), host_malloc)
  is_writer = jax.process_index() == 0
  workdir = prepare_workdir(workdir, config, is_writer)
  if is_writer:
    task.write_artifacts(workdir)
  run = _Run(config, workdir, task)
  _, clock, first_step = run.run()
  run.write_timing(clock, time.perf_counter() - t0, first_step)
  if not is_writer:
    return {}
  return reporting.report_run(workdir)
