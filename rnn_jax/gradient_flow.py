"""Gradient flow through time in a sequence classifier: how ∂L_T/∂(state) shrinks or grows with distance.

For a one-layer, unidirectional ``models.SequenceClassifier`` (the palindrome model) with loss
``L_T`` on the final step's output, this module measures for every step ``t = 1..T``:

* ``‖∂L_T/∂s_t‖`` -- the gradient with respect to the recurrent state ``s_t`` that step ``t`` passes on
  (``h_t`` for ``rnn`` and ``gru``, ``[c_t; h_t]`` for ``lstm`` and ``peephole_lstm``), and its ``h``
  and ``c`` parts separately. The theory's product of Jacobians:
  ``∂L_T/∂s_t = ∂L_T/∂s_T · J_T · J_{T-1} ··· J_{t+1}`` with ``J_k = ∂s_k/∂s_{k-1}``. The whole state
  is the primary quantity because the peephole LSTM's gates read ``c_{t-1}``, not ``h_{t-1}``: its
  ``∂L_T/∂h_t`` is exactly 0 for ``t < T`` and the gradient flows through ``c`` alone. Equally, an
  LSTM's ``∂L_T/∂c_T`` is 0 (the loss reads ``h_T``, computed before ``c_T`` is passed on).
* each step's contribution to ``∂L_T/∂W_hh`` (``W_hh`` = the cell's ``recurrent_kernel``, every gate
  block): the textbook's sum ``∂L_T/∂W_hh = Σ_t ∂L_T/∂s_t · ∂⁺s_t/∂W_hh``, where ``∂⁺`` holds
  ``s_{t-1}`` fixed. Its Frobenius norm per step; the contributions sum to the full gradient.

How: the state after every step gets an additive perturbation ``ε_t`` (zeros) and every step uses its
own copy ``W_hh + Δ_t`` (``Δ_t`` zeros); one reverse pass gives ``∂L/∂ε_t = ∂L/∂s_t`` and
``∂L/∂Δ_t`` = step t's contribution. This runs its own scan over ``cell.step`` (the training layers
stay untouched); a test checks its loss against ``model.apply`` and its gradients against an explicit
product of ``jax.jacobian`` step Jacobians.

Reductions: state-gradient norms are per example (``L_T`` of that example), then averaged over the
batch (a mean of norms, not the norm of a mean). ``W_hh`` contributions are those of the batch-mean
loss (the gradient training uses). Distances are ``T - t`` (0 = the final step).

Decay rate: the least-squares slope of ``ln ‖∂L_T/∂s_t‖`` against the distance ``T - t`` over the
distances ``>= 1`` whose norm is positive (distance 0 is left out: there the LSTMs' state gradient is
``h`` alone, a different quantity than further back). Negative = vanishing, positive = exploding;
``e^slope`` is the mean factor per step.

``gradient_flow.json`` (``write_json``)::

  {"config": name, "task": ..., "length": T_param, "steps": T, "batch_size": B, "seeds": [...],
   "cells": [...], "cell_kwargs": {...}, "distance": [T-1, ..., 0],          # index i <-> t = i + 1
   "init": {"state_grad_norm":  {cell: {seed: [norm per t]}},
            "h_grad_norm":      {cell: {seed: [...]}},
            "c_grad_norm":      {cell: {seed: [...]}},                   # LSTMs only
            "w_hh_contribution_norm": {cell: {seed: [norm per t]}},
            "w_hh_grad_norm":   {cell: {seed: ‖∂L/∂W_hh‖}},
            "loss":             {cell: {seed: mean L_T}},
            "decay_rate":       {cell: {"per_seed": {seed: slope}, "mean": m, "std": s}},
            "w_hh_decay_rate":  {cell: {...}}},
   "trained": {... the same ..., "checkpoint_step": N, "parameters": "latest" | "best",  # with a workdir
               "finished": the run ended (its summary.json exists: all steps, or stopped early)},
   "command": the launch command}
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import linen as nn
from matplotlib.figure import Figure
from ml_collections import ConfigDict

from rnn_jax import cells as cells_lib
from rnn_jax import layers, models, train
from rnn_jax.errors import ConfigError
from rnn_jax import reporting
from rnn_jax.reporting import mean_and_std
from rnn_jax.tasks import toy_data

Array = jax.Array
JSON_FILE = "gradient_flow.json"


# ------------------------------------------------------------------------------------------ measure

def classifier_cell(model: models.SequenceClassifier) -> cells_lib.RecurrentCell:
  """The cell of ``model``'s single recurrent layer (for ``apply`` only: initialisers do not matter)."""
  if model.num_layers != 1 or model.bidirectional:
    raise ConfigError(f"gradient flow needs a one-layer unidirectional model; this one has num_layers="
                      f"{model.num_layers}, bidirectional={model.bidirectional}")
  return cells_lib.make_cell(model.cell_type, model.features, **dict(model.cell_kwargs or {}))


def _cell_params(params):
  return params["rnn"]["layer_0"]["cell"]


def perturbed_losses(model: models.SequenceClassifier, params, tokens: Array, labels: Array,
                     state_eps, w_eps: Array) -> Array:
  """Per-example losses ``L_T`` ``[batch]`` of ``model`` with ``state_eps`` added to the state after
  every step and ``W_hh + w_eps[t]`` used at step t.

  ``tokens`` ``[batch, time]``; ``state_eps``: the carry's structure with leaves ``[time, batch, n]``;
  ``w_eps`` ``[time, *recurrent_kernel.shape]``. With zeros it is the model's own loss.
  """
  cell = classifier_cell(model)
  cell_params = _cell_params(params)
  x = nn.Embed(model.vocab_size, model.embed_dim).apply({"params": params["embed"]}, tokens)  # [batch, time, embed]
  projected = cell.apply({"params": cell_params}, jnp.swapaxes(x, 0, 1),
                         method=lambda m, x: m.project_inputs(x))  # [time, batch, blocks*n]

  def body(carry, inputs):
    projected_t, eps_t, dw_t = inputs
    step_params = {**cell_params, "recurrent_kernel": cell_params["recurrent_kernel"] + dw_t}
    carry, _ = cell.apply({"params": step_params}, carry, projected_t, method=lambda m, c, z: m.step(c, z))
    return jax.tree.map(jnp.add, carry, eps_t), None

  carry0 = cell.initialize_carry(None, x[:, 0].shape)
  final, _ = jax.lax.scan(body, carry0, (projected, state_eps, w_eps))
  logits = nn.Dense(model.num_classes).apply({"params": params["head"]}, layers.final_hidden(final))
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)  # [batch]


def state_gradients(model: models.SequenceClassifier, params, tokens: Array, labels: Array):
  """``(losses [batch], ∂L_b/∂s_t, contributions)``: per-example state gradients with the carry's
  structure (leaves ``[time, batch, n]``) and each step's contribution to the batch-mean loss's
  ``∂L/∂W_hh`` (``[time, *recurrent_kernel.shape]``)."""
  cell = classifier_cell(model)
  batch, time = tokens.shape
  carry = cell.initialize_carry(None, (batch, model.embed_dim))
  state_eps = jax.tree.map(lambda a: jnp.zeros((time, *a.shape), a.dtype), carry)
  w = _cell_params(params)["recurrent_kernel"]
  w_eps = jnp.zeros((time, *w.shape), w.dtype)
  losses, vjp = jax.vjp(lambda e, d: perturbed_losses(model, params, tokens, labels, e, d), state_eps, w_eps)
  # Cotangent 1 per example: the examples are independent, so d_state holds each example's own gradient.
  d_state, d_w = vjp(jnp.ones_like(losses))
  return losses, d_state, d_w / batch


def _norms(model, params, tokens, labels) -> dict[str, Array]:
  losses, d_state, d_w = state_gradients(model, params, tokens, labels)
  sq = lambda a: jnp.sum(a * a, axis=-1)  # [time, batch]
  parts = {"h_grad_norm": jnp.sqrt(sq(layers.final_hidden(d_state))).mean(1)}
  if isinstance(d_state, tuple):
    parts["c_grad_norm"] = jnp.sqrt(sq(d_state[0])).mean(1)
  state_sq = sum(sq(a) for a in jax.tree.leaves(d_state))
  return {"state_grad_norm": jnp.sqrt(state_sq).mean(1), **parts,  # [time] each
          "w_hh_contribution_norm": jnp.sqrt(jnp.sum(d_w.reshape(d_w.shape[0], -1) ** 2, -1)),
          "w_hh_grad_norm": jnp.linalg.norm(d_w.sum(0)), "loss": losses.mean()}


def flow_norms_fn(model: models.SequenceClassifier):
  """``fn(params, tokens, labels) -> {name: np.ndarray}``, the per-step norms of one parameter set on
  one batch (names: see the module docstring); compiled once per model and batch shape."""
  jitted = jax.jit(functools.partial(_norms, model))
  return lambda *args: {k: np.asarray(v, np.float64) for k, v in jitted(*args).items()}


def flow_norms(model: models.SequenceClassifier, params, tokens: Array, labels: Array) -> dict[str, np.ndarray]:
  """``flow_norms_fn(model)(params, tokens, labels)`` for a single call."""
  return flow_norms_fn(model)(params, tokens, labels)


def decay_rate(norms: Sequence[float]) -> float:
  """Slope of ``ln norm`` vs distance ``T - t`` over distances >= 1 with positive norms (NaN if < 2)."""
  norms = np.asarray(norms, np.float64)
  distance = np.arange(len(norms))[::-1]
  keep = (distance >= 1) & np.isfinite(norms) & (norms > 0)
  if keep.sum() < 2:
    return math.nan
  return float(np.polyfit(distance[keep], np.log(norms[keep]), 1)[0])


# --------------------------------------------------------------------------- configs and parameters

def cell_config(config: ConfigDict, cell: str) -> ConfigDict:
  """A copy of ``config`` with ``model.cell = cell``; ``cell_kwargs`` must all apply to that cell."""
  if cell not in cells_lib.CELLS:
    raise ConfigError(f"unknown cell {cell!r}; choose from {', '.join(cells_lib.CELLS)}")
  fields = {f.name for f in dataclasses.fields(cells_lib.CELLS[cell])}
  for key in config.model.cell_kwargs:
    if key not in fields:
      raise ConfigError(f"config.model.cell_kwargs.{key} does not apply to cell {cell!r}; "
                        "leave that cell out of --cells")
  c = copy.deepcopy(config)
  c.model.cell = cell
  return c


def check_config(config: ConfigDict) -> None:
  """The config must be a toy classification task with a one-layer unidirectional model."""
  if config.get("task") != "toy":
    raise ConfigError(f"gradient flow works on the toy sequence tasks (config.task 'toy'), not {config.get('task')!r}")
  if config.model.num_layers != 1 or config.model.bidirectional:
    raise ConfigError("gradient flow needs config.model.num_layers=1 and bidirectional=False; got "
                      f"{config.model.num_layers} and {config.model.bidirectional}")
  if not config.batch_size > 0:
    raise ConfigError(f"config.batch_size must be positive, got {config.batch_size}")
  if not config.seeds or any(not isinstance(s, int) or s < 0 for s in config.seeds):
    raise ConfigError(f"config.seeds must be non-negative ints, got {tuple(config.seeds)}")


def init_params_fn(task):
  """``fn(seed) -> params``: the parameters the trainer starts seed ``seed`` from -- its key stream,
  jitted as it is (eager sampling can differ in the last bit); compiled once for all seeds. Checked
  bit-identical to ``train.Steps.init`` for ``palindrome_lstm.py:10``; other shapes may compile
  differently and agree to float rounding."""
  init = jax.jit(task.init_params)
  return lambda seed: init(jax.random.fold_in(jax.random.key(seed), train.INIT_STREAM))


def probe_batch(config: ConfigDict, seed: int) -> tuple[Array, Array]:
  """Seed ``seed``'s first training batch: ``(tokens [batch, time], labels [batch])``."""
  key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), train.DATA_STREAM), 0)
  return toy_data.TOY_TASKS[config.data.task].batch_fn(key, int(config.batch_size), int(config.data.length))


def check_workdir(config: ConfigDict, workdir: Path) -> None:
  """``workdir`` holds checkpoints of a run of ``config`` (placement fields may differ)."""
  saved = workdir / "config.json"
  if not saved.is_file():
    raise ConfigError(f"--workdir {workdir} holds no run (no config.json); pass the workdir of a training run")
  previous, current = json.loads(saved.read_text()), json.loads(config.to_json_best_effort())
  changed = sorted(k for k in set(previous) | set(current)
                   if k not in train.PLACEMENT_KEYS and previous.get(k) != current.get(k))
  if changed:
    raise ConfigError(f"--workdir {workdir} holds a run of another config (differs in {', '.join(changed)}); "
                      "pass the --config it was trained with")
  checkpoints = workdir / "checkpoints"
  if not checkpoints.is_dir() or not any(p.name.isdigit() for p in checkpoints.iterdir()):
    raise ConfigError(f"--workdir {workdir} has no checkpoint yet; wait for the run's first checkpoint")


def trained_params(config: ConfigDict, workdir: Path) -> tuple[dict[int, Any], int, str]:
  """``({seed: params}, checkpoint step, "best" | "latest")`` from the latest checkpoint of ``workdir``.

  The best-by-validation parameters when the checkpoint holds them, else the latest ones. Only that
  subtree is read (an Orbax partial restore located through the checkpoint's metadata), so neither
  the optimizer nor the rest of the train state's layout matters.
  """
  manager = ocp.CheckpointManager((workdir / "checkpoints").resolve(), item_handlers=ocp.PyTreeCheckpointHandler())
  try:
    step = manager.latest_step()
    metadata = manager.item_metadata(step)
    path, which = _find_params(metadata)
    if path is None:
      raise ConfigError(f"the checkpoint of step {step} in {workdir / 'checkpoints'} holds no 'params'")
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = _get(metadata, path)
    target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), target)
    for key in reversed(path):
      target = {key: target}
    restored = manager.restore(step, args=ocp.args.PyTreeRestore(
        item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target), partial_restore=True))
  finally:
    manager.close()
  stacked = _get(restored, path)  # leading axis: the (padded) seed slots, config.seeds first, in order
  return ({seed: jax.tree.map(lambda a, i=i: np.asarray(a[i]), stacked) for i, seed in enumerate(config.seeds)},
          step, which)


def _find_params(tree, prefix=()) -> tuple[tuple[str, ...] | None, str]:
  """Path of the ``best_params`` (preferred) or ``params`` subtree, at any depth of nested dicts."""
  if not hasattr(tree, "keys"):
    return None, ""
  for name, which in (("best_params", "best"), ("params", "latest")):
    if name in tree.keys():
      return (*prefix, name), which
  for key in tree.keys():
    path, which = _find_params(tree[key], (*prefix, key))
    if path is not None:
      return path, which
  return None, ""


def _get(tree, path):
  for key in path:
    tree = tree[key]
  return tree


def measure(config: ConfigDict, cells: Sequence[str], params_by_cell: Mapping[str, Mapping[int, Any]] | None = None
            ) -> dict[str, Any]:
  """The JSON block of one parameter set for every cell and seed; ``params_by_cell=None``: at init."""
  out: dict[str, Any] = {}
  for cell in cells:
    c = cell_config(config, cell)
    task = train.make_task(c)
    norms_fn = flow_norms_fn(task.model)
    init = init_params_fn(task)
    for seed in c.seeds:
      params = init(seed) if params_by_cell is None else params_by_cell[cell][seed]
      norms = norms_fn(params, *probe_batch(c, seed))
      for key, value in norms.items():
        out.setdefault(key, {}).setdefault(cell, {})[str(seed)] = value.tolist() if value.ndim else float(value)
    for key, rate_key in (("state_grad_norm", "decay_rate"), ("w_hh_contribution_norm", "w_hh_decay_rate")):
      per_seed = {s: decay_rate(v) for s, v in out[key][cell].items()}
      mean, std = mean_and_std(list(per_seed.values()))
      out.setdefault(rate_key, {})[cell] = {"per_seed": {s: _json_number(v) for s, v in per_seed.items()},
                                            "mean": _json_number(mean), "std": _json_number(std)}
  return out


def _json_number(value: float) -> float | None:
  """JSON has no NaN: an undefined rate (fewer than two positive norms) is written as null."""
  return None if math.isnan(value) else value


def resolve_cells(config: ConfigDict, cells: Sequence[str] | None, workdir: Path | None) -> list[str]:
  """Every check before any work (``ConfigError`` on bad input); the cells to measure.

  ``cells=None``: the config's ``model.cell``. With ``workdir`` only that cell can be measured.
  """
  cells = [config.model.cell] if cells is None else list(cells)
  if not cells or not all(cells):
    raise ConfigError("--cells is empty; name one or more of " + ",".join(cells_lib.CELLS))
  if len(set(cells)) != len(cells):
    raise ConfigError(f"--cells names a cell twice: {','.join(cells)}")
  check_config(config)
  for cell in cells:
    cell_config(config, cell)
  if workdir is not None:
    check_workdir(config, workdir)
    if cells != [config.model.cell]:
      raise ConfigError(f"--workdir holds a trained {config.model.cell!r} model; leave out --cells or pass "
                        f"--cells={config.model.cell}")
  return cells


def default_out_dir(config: ConfigDict, cells: Sequence[str], workdir: Path | None) -> Path:
  """``<workdir>/gradient_flow``, else ``reports/gradient_flow/<config name, or task_T<length>_<cells>>``."""
  if workdir is not None:
    return workdir / "gradient_flow"
  if list(cells) == [config.model.cell]:
    return Path("reports", "gradient_flow", config.name)
  return Path("reports", "gradient_flow", f"{config.data.task}_T{config.data.length}_{'_'.join(cells)}")


def run(config: ConfigDict, cells: Sequence[str], workdir: Path | None = None) -> dict[str, Any]:
  """The content of ``gradient_flow.json`` (module docstring): at init, and trained with ``workdir``."""
  blocks = {"init": measure(config, cells)}
  if workdir is not None:
    params, step, which = trained_params(config, workdir)
    blocks["trained"] = {**measure(config, cells, {cells[0]: params}), "checkpoint_step": step,
                         "parameters": which, "finished": reporting.run_ended(workdir)}
  steps = len(next(iter(blocks["init"]["state_grad_norm"][cells[0]].values())))
  return {"config": config.name, "task": config.data.task, "length": int(config.data.length), "steps": steps,
          "batch_size": int(config.batch_size), "seeds": list(config.seeds), "cells": list(cells),
          "cell_kwargs": config.model.cell_kwargs.to_dict(), "distance": list(range(steps - 1, -1, -1)), **blocks}


def write_outputs(result: Mapping[str, Any], out_dir: Path) -> tuple[str, list[Path]]:
  """Writes ``gradient_flow.json`` and one plot per parameter set; returns (the tables as text, paths)."""
  paths, text = [write_json(result, out_dir)], []
  steps = result["steps"]
  for kind in ("init", "trained"):
    if kind not in result:
      continue
    block = result[kind]
    if kind == "init":
      when = "at initialisation"
    else:
      when = f"trained ({block['parameters']} parameters of step {block['checkpoint_step']}"
      when += ")" if block["finished"] else ", an unfinished run)"
    what = f"{result['task']} of length {result['length']} (T = {steps} input steps)"
    paths.append(plot(block, f"{what}, {when}", out_dir / f"gradient_flow_{kind}.png"))
    text.append(f"Gradient flow {when}: {what}, batch {result['batch_size']}, seeds {tuple(result['seeds'])}; "
                f"L_T = cross-entropy at step T\n\n{format_table(block, steps)}")
  return "\n".join(text), paths


# ---------------------------------------------------------------------------------- table and plot

def format_table(block: Mapping[str, Any], steps: int) -> str:
  """Markdown table of one parameter set: decay rates (mean ± std over seeds) and end-point norms."""
  header = ["cell", "seeds", "slope of ln‖∂L_T/∂s_t‖ per step", "factor per step",
            "‖∂L_T/∂s_t‖ at distance 1", f"at distance {steps - 1}", "W_hh part: slope per step"]
  rows = []
  for cell, rate in block["decay_rate"].items():
    norms = np.array(list(block["state_grad_norm"][cell].values()))  # [seeds, time]
    w_rate = block["w_hh_decay_rate"][cell]
    factor = "n/a" if rate["mean"] is None else f"{math.exp(rate['mean']):.4f}"
    rows.append([cell, str(len(norms)), _format_rate(rate), factor, f"{_geometric_mean(norms[:, -2]):.3g}",
                 f"{_geometric_mean(norms[:, 0]):.3g}", _format_rate(w_rate)])
  lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
  return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def _format_rate(rate: Mapping[str, Any]) -> str:
  if rate["mean"] is None:
    return "n/a"
  return f"{rate['mean']:+.4f} ± {rate['std']:.4f}" if rate["std"] is not None else f"{rate['mean']:+.4f}"


def _geometric_mean(values) -> float:
  values = np.asarray(values, np.float64)
  return float(np.exp(np.mean(np.log(values)))) if np.all(values > 0) else float(np.mean(values))


def plot(block: Mapping[str, Any], title: str, path: Path) -> Path:
  """Two log-scale panels against distance T - t: ‖∂L_T/∂s_t‖ and ‖step t's part of ∂L_T/∂W_hh‖.

  Per cell: thin lines per seed, the geometric mean over seeds (thick) and a band of ×/÷ one
  standard deviation of ``ln norm`` (a ± std band of the logarithms, which a log axis shows
  symmetrically). Zero norms (e.g. step 1's ``W_hh`` part, which multiplies ``h_0 = 0``) are not drawn.
  """
  fig = Figure(figsize=(11.0, 4.2), dpi=110, layout="constrained")
  axes = fig.subplots(1, 2)
  for ax, key, label in ((axes[0], "state_grad_norm", "‖∂L_T/∂s_t‖ (mean over the batch)"),
                         (axes[1], "w_hh_contribution_norm", "‖step t's part of ∂L_T/∂W_hh‖")):
    for i, (cell, per_seed) in enumerate(block[key].items()):
      color = f"C{i % 10}"
      norms = np.array(list(per_seed.values()), np.float64)  # [seeds, time]
      distance = np.arange(norms.shape[1])[::-1]
      logs = np.log(np.where(norms > 0, norms, np.nan))
      for row in logs:
        ax.plot(distance, np.exp(row), color=color, linewidth=0.8, alpha=0.35)
      mean = np.mean(logs, 0)
      several = len(norms) >= 2
      rate = block["decay_rate" if key == "state_grad_norm" else "w_hh_decay_rate"][cell]["mean"]
      ax.plot(distance, np.exp(mean), color=color, linewidth=2.2,
              label=f"{cell} (slope {rate:+.3f}/step)" + (" ± 1 std" if several else ""))
      if several:
        std = np.std(logs, 0, ddof=1)
        ax.fill_between(distance, np.exp(mean - std), np.exp(mean + std), color=color, alpha=0.2, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlabel("distance T − t (steps before the loss)")
    ax.set_ylabel(label)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
  fig.suptitle(title)
  return reporting.save_figure(fig, path)


def write_json(result: Mapping[str, Any], out_dir: Path) -> Path:
  return reporting.write_json(result, out_dir / JSON_FILE)
