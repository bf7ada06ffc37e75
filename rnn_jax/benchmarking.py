"""Speed of one training-step-like forward+backward of a recurrent layer, ours next to its peers.

``run_benchmark`` times, for every shape and cell, the gradient of a scalar loss with respect to the
parameters *and* the inputs of

* ``ours``  -- ``rnn_jax.layers.RNNLayer`` (default implementation: the fused loop for LSTM/GRU, see
  ``rnn_jax.cells``; input projection inside the loop on CPU, hoisted on GPU/TPU);
* ``flax``  -- Flax's stock ``nn.RNN(nn.OptimizedLSTMCell)`` / ``nn.RNN(nn.GRUCell)``;
* ``torch`` -- ``torch.nn.LSTM`` / ``torch.nn.GRU`` (batch_first, ``torch.set_num_threads(cores)``),
  only when PyTorch is installed.

All three compute the same function for the same weights (the GRU is the reset-after variant, the
one Flax and PyTorch implement; ``map_params_to_flax`` gives the weight correspondence). The loss is
``sum(outputs * cotangent)`` with a fixed random cotangent, so the backward pass is a full one.

Times are the median of ``repeats`` calls after compilation and warm-up (compile time excluded);
throughput is sequences/s and tokens (= batch * steps) per second. ``ratio`` is the implementation's
time divided by ours (> 1: ours is faster).
"""
from __future__ import annotations

import dataclasses
import json
import os
import statistics
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from rnn_jax import cells as cells_lib
from rnn_jax import layers as layers_lib


@dataclasses.dataclass(frozen=True)
class Shape:
  batch: int
  steps: int
  inputs: int
  hidden: int


SHAPES: dict[str, Shape] = {
    # The palindrome task: batch 256, 81 steps, 256 units; inputs are a 256-wide embedding.
    "palindrome": Shape(batch=256, steps=81, inputs=256, hidden=256),
    # PTB-small (Zaremba et al.): batch 20, 20 unrolled steps, 200 units, 200-wide embedding.
    "ptb_small": Shape(batch=20, steps=20, inputs=200, hidden=200),
    # Toy size for the smoke test.
    "toy": Shape(batch=3, steps=5, inputs=4, hidden=6),
}
CELLS = ("lstm", "gru")
IMPLEMENTATIONS = ("ours", "flax", "torch")


@dataclasses.dataclass
class Result:
  shape: str
  cell: str
  implementation: str
  median_ms: float
  min_ms: float
  sequences_per_s: float
  tokens_per_s: float
  ratio_vs_ours: float | None = None  # this implementation's time / ours


def torch_available() -> bool:
  try:
    import torch  # noqa: F401
  except ImportError:
    return False
  return True


# ----------------------------------------------------------------------------------- models


def our_layer(cell: str, hidden: int, unroll: int = 1) -> layers_lib.RNNLayer:
  if cell == "lstm":
    return layers_lib.RNNLayer(cells_lib.LSTM(hidden), unroll=unroll)
  if cell == "gru":
    return layers_lib.RNNLayer(cells_lib.GRU(hidden, reset_after=True), unroll=unroll)
  raise ValueError(f"unknown benchmark cell {cell!r}; choose from {CELLS}")


def flax_layer(cell: str, hidden: int) -> nn.RNN:
  if cell == "lstm":
    return nn.RNN(nn.OptimizedLSTMCell(hidden))
  if cell == "gru":
    return nn.RNN(nn.GRUCell(hidden))
  raise ValueError(f"unknown benchmark cell {cell!r}; choose from {CELLS}")


def map_params_to_flax(cell: str, ours: dict[str, Any]) -> dict[str, Any]:
  """Our ``RNNLayer`` params (``{'cell': ...}``) as the params of the stock ``nn.RNN`` layer.

  LSTM: our fused (i, f, g, o) blocks go to ``i{i,f,g,o}`` (input kernels) and ``h{i,f,g,o}``
  (recurrent kernels, which carry Flax's bias). GRU: our (z, r, g) blocks go to Flax's ``z, r, n``;
  the input biases to ``i{z,r,n}`` and ``h_bias_g`` to ``hn``'s bias.
  """
  p = ours["cell"]
  wx, b, wh = p["x_proj"]["kernel"], p["x_proj"]["bias"], p["recurrent_kernel"]
  n = wh.shape[0]
  block = lambda a, k: a[..., k * n:(k + 1) * n]  # noqa: E731
  out = {}
  if cell == "lstm":
    for k, gate in enumerate("ifgo"):
      out[f"i{gate}"] = {"kernel": block(wx, k)}
      out[f"h{gate}"] = {"kernel": block(wh, k), "bias": block(b, k)}
  elif cell == "gru":
    for k, gate in enumerate("zrn"):
      out[f"i{gate}"] = {"kernel": block(wx, k), "bias": block(b, k)}
      out[f"h{gate}"] = {"kernel": block(wh, k)}
    out["hn"]["bias"] = p["h_bias_g"]
  else:
    raise ValueError(cell)
  return {"cell": out}


def _loss_grad_fn(layer: nn.Module) -> Callable:
  """jit(grad of sum(outputs * cotangent)) w.r.t. (params, inputs)."""

  def loss(params, xs, cotangent):
    outputs = layer.apply({"params": params}, xs)
    if isinstance(outputs, tuple):  # ours: (carry, outputs); nn.RNN returns outputs only
      outputs = outputs[1]
    return jnp.sum(outputs * cotangent)

  return jax.jit(jax.grad(loss, argnums=(0, 1)))


def _inputs(shape: Shape, seed: int = 0):
  kx, kc, kp = jax.random.split(jax.random.key(seed), 3)
  xs = jax.random.normal(kx, (shape.batch, shape.steps, shape.inputs), jnp.float32)
  cot = jax.random.normal(kc, (shape.batch, shape.steps, shape.hidden), jnp.float32)
  return xs, cot, kp


def jax_grad_setup(impl: str, cell: str, shape: Shape, unroll: int = 1):
  """``(fn, args)`` with ``fn(*args)`` the jitted fwd+bwd of ``impl`` (``ours`` or ``flax``)."""
  xs, cot, kp = _inputs(shape)
  ours = our_layer(cell, shape.hidden, unroll)
  params = ours.init(kp, xs)["params"]
  if impl == "ours":
    layer = ours
  elif impl == "flax":
    layer = flax_layer(cell, shape.hidden)
    params = map_params_to_flax(cell, params)
  else:
    raise ValueError(impl)
  return _loss_grad_fn(layer), (params, xs, cot)


def torch_grad_setup(cell: str, shape: Shape, threads: int | None = None):
  """``(fn, ())`` running one forward+backward of ``torch.nn.LSTM``/``GRU`` (batch_first)."""
  import torch

  torch.set_num_threads(threads or os.cpu_count() or 1)
  torch.manual_seed(0)
  module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
      shape.inputs, shape.hidden, batch_first=True)
  xs = torch.randn(shape.batch, shape.steps, shape.inputs, requires_grad=True)
  cot = torch.randn(shape.batch, shape.steps, shape.hidden)
  wrt = [xs, *module.parameters()]

  def fn():
    outputs, _ = module(xs)
    return torch.autograd.grad((outputs * cot).sum(), wrt)

  return fn, ()


# ----------------------------------------------------------------------------------- timing


def _block(out):
  if isinstance(out, (tuple, list)) and out and hasattr(out[0], "detach"):
    return out  # torch: synchronous on CPU
  return jax.block_until_ready(out)


def time_interleaved(fns: dict[str, tuple[Callable, Sequence[Any]]], repeats: int,
                     warmup: int = 2, block: int = 1) -> dict[str, list[float]]:
  """Seconds per call of every ``fn(*args)``: ``repeats`` timed calls each, after ``warmup`` untimed ones.

  The implementations take turns (in a rotating order) in blocks of ``block`` consecutive timed
  calls, so a change in machine load during the run hits all of them alike instead of whichever
  happened to run then. With ``block > 1`` each block starts with one untimed call: the call right
  after a switch pays for the previous implementation's leftovers (measured: PyTorch's OpenMP
  threads keep spinning after a call and slowed the next JAX call on 2 cores).
  """
  names = list(fns)
  for name in names:
    fn, args = fns[name]
    for _ in range(warmup):  # the first call compiles
      _block(fn(*args))
  times = {name: [] for name in names}
  for i in range(-(-repeats // block)):
    for name in names[i % len(names):] + names[:i % len(names)]:
      fn, args = fns[name]
      if block > 1:
        _block(fn(*args))
      for _ in range(min(block, repeats - len(times[name]))):
        start = time.perf_counter()
        _block(fn(*args))
        times[name].append(time.perf_counter() - start)
  return times


def run_benchmark(shapes: Sequence[str], cells: Sequence[str], repeats: int,
                  implementations: Sequence[str] = IMPLEMENTATIONS, unroll: int = 1,
                  torch_threads: int | None = None, block: int = 1,
                  log: Callable[[str], None] | None = None) -> list[Result]:
  """Times every (shape, cell, implementation); ``torch`` is skipped when it is not installed.

  ``block``: consecutive timed calls per turn (``time_interleaved``).
  """
  results = []
  for shape_name in shapes:
    if shape_name not in SHAPES:
      raise ValueError(f"unknown shape {shape_name!r}; choose from {sorted(SHAPES)}")
    shape = SHAPES[shape_name]
    for cell in cells:
      if cell not in CELLS:
        raise ValueError(f"unknown benchmark cell {cell!r}; choose from {CELLS}")
      fns = {}
      for impl in implementations:
        if impl == "torch":
          if torch_available():
            fns[impl] = torch_grad_setup(cell, shape, torch_threads)
        elif impl in ("ours", "flax"):
          fns[impl] = jax_grad_setup(impl, cell, shape, unroll=unroll)
        else:
          raise ValueError(f"unknown implementation {impl!r}; choose from {IMPLEMENTATIONS}")
      times = time_interleaved(fns, repeats, block=block)
      rows = []
      for impl, ts in times.items():
        med = statistics.median(ts)
        rows.append(Result(shape_name, cell, impl, med * 1e3, min(ts) * 1e3,
                           shape.batch / med, shape.batch * shape.steps / med))
        if log:
          log(f"{shape_name} {cell} {impl}: median {med * 1e3:.2f} ms, min {min(ts) * 1e3:.2f} ms "
              f"({repeats} repeats)")
      ours = next((r for r in rows if r.implementation == "ours"), None)
      for r in rows:
        r.ratio_vs_ours = r.median_ms / ours.median_ms if ours else None
      results.extend(rows)
  return results


def format_table(results: Sequence[Result]) -> str:
  """A Markdown table of ``results``."""
  head = ("| shape | cell | implementation | median ms / fwd+bwd | min ms | sequences/s | tokens/s "
          "| time / ours |")
  lines = [head, "|" + "---|" * 8]
  for r in results:
    ratio = "" if r.ratio_vs_ours is None else f"{r.ratio_vs_ours:.2f}"
    lines.append(f"| {r.shape} | {r.cell} | {r.implementation} | {r.median_ms:.2f} | {r.min_ms:.2f} "
                 f"| {r.sequences_per_s:,.0f} | {r.tokens_per_s:,.0f} | {ratio} |")
  return "\n".join(lines)


def environment() -> dict[str, Any]:
  info = {"jax": jax.__version__, "backend": jax.default_backend(), "cpu_count": os.cpu_count(),
          "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}
  try:
    info["loadavg"] = os.getloadavg()
  except OSError:
    pass
  if torch_available():
    import torch
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
  return info


def write_json(path: str, results: Sequence[Result], extra: dict[str, Any] | None = None) -> None:
  payload = {"environment": environment(), **(extra or {}),
             "results": [dataclasses.asdict(r) for r in results]}
  with open(path, "w") as f:
    json.dump(payload, f, indent=2)


# --- whole training steps of a config ------------------------------------------------------------

def time_train_steps(config, batchings: Sequence[str], repeats: int) -> dict[str, list[float]]:
  """Seconds per training step of ``config`` (all its seeds) under each seed batching.

  Builds the run's own compiled step (``rnn_jax.train.make_steps``, data included) once per
  batching from fresh parameters and times the steps interleaved (``time_interleaved``); nothing
  is written. ``config`` is not modified. Raises ``ConfigError`` (before loading any data) when a
  batching or the config is invalid.
  """
  from rnn_jax import train

  configs = {}
  for batching in batchings:
    configs[batching] = config.copy_and_resolve_references()
    configs[batching].seed_batching = batching
    train.validate_config(configs[batching])
  task = train.make_task(config)
  fns = {}
  for batching, c in configs.items():
    steps = train.make_steps(c, task)
    seeds = steps.mesh.seed_array()
    state = steps.init(seeds)
    box = {"state": state, "acc": steps.zero_accumulator(state, seeds), "step": 0}

    def one_step(steps=steps, seeds=seeds, box=box):
      box["state"], box["acc"] = steps.train(box["state"], box["acc"], seeds, box["step"])
      box["step"] += 1
      return box["acc"]

    fns[f"{batching} ({steps.mesh.batching})" if batching == "auto" else batching] = (one_step, ())
  return time_interleaved(fns, repeats)
