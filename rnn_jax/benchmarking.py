"""Speed of recurrent layers and of whole training steps, ours next to its peers, in one process.

Every row (``Result``) has a ``kind``:

* ``layer`` -- one training-step-like forward+backward of a recurrent layer: the gradient of
  ``sum(outputs * cotangent)`` (a fixed random cotangent, so the backward pass is a full one) with
  respect to the parameters *and* the inputs of

  * ``ours``  -- ``rnn_jax.layers.RNNLayer`` (implementation and input hoisting as ``rnn_jax.platform``
    chooses them for this machine);
  * ``flax``  -- Flax's stock ``nn.RNN(nn.OptimizedLSTMCell)`` / ``nn.RNN(nn.GRUCell)``;
  * ``torch`` -- ``torch.nn.LSTM`` / ``torch.nn.GRU`` (batch_first).

  All three compute the same function for the same weights (the GRU is the reset-after variant, the
  one Flax and PyTorch implement; ``map_params_to_flax`` gives the weight correspondence).

* ``step`` -- a whole training step: data, forward, loss, backward, global-norm clipping, update.

  * ``ours``  -- the run's own compiled step (``rnn_jax.train.make_steps``) of an experiment config
    with one seed (``step_config``): ``experiments/ptb_{lstm,gru}.py`` for ``ptb_small``,
    ``experiments/palindrome_{lstm,gru}.py:20`` for ``palindrome``, their ``:smoke`` variants for
    ``ptb_smoke`` and ``toy``. The GRU runs with ``model.cell_kwargs.reset_after=True`` here -- the
    configs train the reset-before GRU, but PyTorch's is reset-after, and only so do both compute
    the same function with the same FLOPs. Ours also computes what a run logs (accuracy, gradient
    and parameter norms) and keeps the old parameters after a non-finite step.
  * ``torch`` -- the same model in PyTorch, starting from a copy of our initial parameters
    (``torch_language_model`` / ``torch_classifier``) and training the same ones (PyTorch's second bias
    per gate stays at zero, ``_train_like_ours``). PTB: ``nn.Embedding`` -> ``nn.LSTM``/``nn.GRU``
    (``num_layers``, batch_first) -> a decoder tied to the embedding (its own bias); loss = cross-entropy
    summed over time and averaged over the batch; ``backward``; ``clip_grad_norm_``; SGD; over the same
    PTB windows, the hidden state carried from window to window and detached (truncated BPTT), reset
    at each epoch start as ours. Palindrome: ``nn.Embedding`` -> ``nn.LSTM``/``nn.GRU`` -> final hidden
    state -> ``nn.Linear`` to the classes; mean cross-entropy; clipping; Adam; cycling through the
    batches of ours' first ``TORCH_BATCHES`` steps, drawn beforehand (ours draws a fresh batch on the
    device in every step, which is part of its time). Over those first steps both train on the same
    data from the same parameters, so their losses agree step by step (tests/test_benchmark.py).

Timing: for every (kind, shape, cell) the implementations take turns in one process
(``time_interleaved``); times are the median (and minimum) of ``repeats`` calls after compilation and
warm-up. Throughput is sequences/s and tokens (= batch * time steps) per second. ``ratio_vs_ours`` is
the implementation's time divided by ours (> 1: ours is faster). The peer runs on the GPU when JAX
does and PyTorch sees one (``torch_device``), else on the CPU with ``torch_threads`` threads.

FLOPs (``flops``): the matmul FLOPs of forward + backward, counted analytically. A product of an
``[m, k]`` and a ``[k, n]`` matrix costs ``2mkn`` FLOPs forward and ``4mkn`` backward (one product for
the gradient of each operand), ``6mkn`` in all. With batch B, T time steps, input (embedding) width E,
H units, L layers, G gate blocks (LSTM 4, GRU 3) and V outputs::

    recurrent layers   6·B·T·G·H·(E + H)  +  (L - 1)·6·B·T·G·H·2H     (input and recurrent path, every step)
    output layer       6·B·T·H·V  (language model: logits at every step)  or  6·B·H·V  (classifier: final state)

A ``layer`` row is the first term with L = 1 (``recurrent_flops``); a ``step`` row is both
(``step_flops``). Not counted: elementwise work (gates, softmax, loss), the embedding gather and the
optimizer, all linear in the sizes. PTB small LSTM: 6·400·4·200·400·2 + 6·400·200·10,000 = 6.34
GFLOP per step (GRU 5.95).

``floor_ms`` is the time those FLOPs take at the speed of a plain float32 ``jnp.dot`` of
``GEMM_SHAPE`` (400x200 @ 200x10,000, the PTB softmax product), timed as one more member of the
row's interleaved group (``gemm_gflops``): a bound no implementation reaches, since it counts the
matmuls alone, at the speed of one large one.
"""
from __future__ import annotations

import dataclasses
import importlib
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
from rnn_jax import platform
from rnn_jax.rng_streams import DATA_STREAM


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


@dataclasses.dataclass(frozen=True)
class StepShape:
  """A whole training step: ``experiments/<experiment>_<cell>.py`` with config argument ``arg``."""
  experiment: str  # "ptb" or "palindrome"
  arg: str | None


STEP_SHAPES: dict[str, StepShape] = {
    # embedding 200, 2 x 200 units, tied 10k softmax, batch 20, 20 steps, SGD (needs PTB)
    "ptb_small": StepShape("ptb", None),
    # T = 20: batch 256, 81 steps, 256 units, final state -> 2 classes, Adam
    "palindrome": StepShape("palindrome", "20"),
    # 16 units, windows of 35 over the real PTB (10k softmax): seconds (needs PTB)
    "ptb_smoke": StepShape("ptb", "smoke"),
    # T = 10, batch 8, 41 steps, 8 units: seconds, no data
    "toy": StepShape("palindrome", "smoke"),
}
CELLS = ("lstm", "gru")
KINDS = ("layer", "step")
IMPLEMENTATIONS = ("ours", "flax", "torch")
STEP_IMPLEMENTATIONS = ("ours", "torch")  # Flax has no whole-step peer
GATE_BLOCKS = {"lstm": 4, "gru": 3}
GEMM_SHAPE = (400, 200, 10_000)  # [m, k] @ [k, n]: PTB small's logits, h [400, 200] @ E^T [200, 10k]
TORCH_BATCHES = 4  # palindrome batches the PyTorch peer cycles through


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
  kind: str = "layer"                 # "layer" or "step"
  flops: int | None = None            # matmul FLOPs of one call, forward + backward (module docstring)
  gemm_gflops: float | None = None    # float32 GEMM speed measured in this row's group
  floor_ms: float | None = None       # flops at that speed


def torch_available() -> bool:
  try:
    import torch  # noqa: F401
  except ImportError:
    return False
  return True


def torch_device() -> str:
  """``cuda`` when JAX runs on a GPU and this PyTorch build sees one, else ``cpu``: the peer runs where ours does."""
  import torch
  return "cuda" if platform.platform_name() == "gpu" and torch.cuda.is_available() else "cpu"


def _set_torch_threads(threads: int | None) -> None:
  import torch
  torch.set_num_threads(threads or os.cpu_count() or 1)


def _torch_sync(device: str) -> None:
  if device == "cuda":
    import torch
    torch.cuda.synchronize()


# ----------------------------------------------------------------------------------- FLOPs


def recurrent_flops(batch: int, steps: int, inputs: int, hidden: int, blocks: int, num_layers: int = 1) -> int:
  """Matmul FLOPs of forward + backward through ``num_layers`` stacked layers (module docstring).

  ``6·B·T·G·H·(E + H)`` for the first layer, ``6·B·T·G·H·2H`` for each further one.
  """
  first = 6 * batch * steps * blocks * hidden * (inputs + hidden)
  return first + (num_layers - 1) * 6 * batch * steps * blocks * hidden * 2 * hidden


def step_flops(batch: int, steps: int, embed: int, hidden: int, num_layers: int, outputs: int, blocks: int,
               outputs_every_step: bool) -> int:
  """Matmul FLOPs of a training step: the recurrent layers plus the output layer (module docstring)."""
  output_rows = batch * (steps if outputs_every_step else 1)
  return recurrent_flops(batch, steps, embed, hidden, blocks, num_layers) + 6 * output_rows * hidden * outputs


def config_step_flops(config, task) -> int:
  """``step_flops`` of a PTB or palindrome config (its task gives the vocabulary / input length)."""
  m = config.model
  if m.get("bidirectional"):
    raise NotImplementedError("step FLOPs of a bidirectional model are not counted")
  blocks = GATE_BLOCKS[m.cell]
  if config.task == "ptb":
    return step_flops(int(config.batch_size), int(config.data.window_tokens), m.embed_dim, m.features,
                      m.num_layers, len(task.vocab), blocks, outputs_every_step=True)
  return step_flops(int(config.batch_size), task.input_length, m.embed_dim, m.features, m.num_layers,
                    task.spec.num_classes(task.length), blocks, outputs_every_step=False)


# ----------------------------------------------------------------------------------- layer rows


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


def _blocks(a, n: int, count: int) -> list:
  return [a[..., k * n:(k + 1) * n] for k in range(count)]


def map_params_to_flax(cell: str, ours: dict[str, Any]) -> dict[str, Any]:
  """Our ``RNNLayer`` params (``{'cell': ...}``) as the params of the stock ``nn.RNN`` layer.

  LSTM: our fused (i, f, g, o) blocks go to ``i{i,f,g,o}`` (input kernels) and ``h{i,f,g,o}``
  (recurrent kernels, which carry Flax's bias). GRU: our (z, r, g) blocks go to Flax's ``z, r, n``;
  the input biases to ``i{z,r,n}`` and ``h_bias_g`` to ``hn``'s bias.
  """
  p = ours["cell"]
  wx, b, wh = p["x_proj"]["kernel"], p["x_proj"]["bias"], p["recurrent_kernel"]
  n = wh.shape[0]
  out = {}
  if cell == "lstm":
    for gate, x_k, h_k, b_k in zip("ifgo", _blocks(wx, n, 4), _blocks(wh, n, 4), _blocks(b, n, 4)):
      out[f"i{gate}"] = {"kernel": x_k}
      out[f"h{gate}"] = {"kernel": h_k, "bias": b_k}
  elif cell == "gru":
    for gate, x_k, h_k, b_k in zip("zrn", _blocks(wx, n, 3), _blocks(wh, n, 3), _blocks(b, n, 3)):
      out[f"i{gate}"] = {"kernel": x_k, "bias": b_k}
      out[f"h{gate}"] = {"kernel": h_k}
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

  _set_torch_threads(threads)
  device = torch_device()
  torch.manual_seed(0)
  module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
      shape.inputs, shape.hidden, batch_first=True).to(device)
  xs = torch.randn(shape.batch, shape.steps, shape.inputs, device=device, requires_grad=True)
  cot = torch.randn(shape.batch, shape.steps, shape.hidden, device=device)
  wrt = [xs, *module.parameters()]

  def fn():
    outputs, _ = module(xs)
    grads = torch.autograd.grad((outputs * cot).sum(), wrt)
    _torch_sync(device)
    return grads

  return fn, ()


# ----------------------------------------------------------------------------------- step rows: ours


def step_config(shape: str, cell: str):
  """The experiment config of a ``step`` row: one seed (0), a reset-after GRU (module docstring).

  Imports ``experiments/`` (the repository root must be on ``sys.path``, as the launch scripts and
  the tests have it).
  """
  if shape not in STEP_SHAPES:
    raise ValueError(f"unknown step shape {shape!r}; choose from {sorted(STEP_SHAPES)}")
  if cell not in CELLS:
    raise ValueError(f"unknown benchmark cell {cell!r}; choose from {CELLS}")
  spec = STEP_SHAPES[shape]
  config = importlib.import_module(f"experiments.{spec.experiment}_{cell}").get_config(spec.arg)
  config.seeds = (0,)
  if cell == "gru":
    config.model.cell_kwargs.reset_after = True  # PyTorch's GRU: same function, same FLOPs
  return config


def missing_data(config) -> str | None:
  """Why ``config``'s data cannot be loaded here without a download (a message), or None."""
  if config.task != "ptb":
    return None
  from rnn_jax.data import ptb
  missing = ptb.ptb_missing_offline(config.data.manual_dir or None, config.data.tfds_dir or None)
  if not missing:
    return None
  return (f"no PTB data ({', '.join(missing)} not found and no prepared dataset): set RNN_JAX_DATA_DIR to a "
          "folder holding ptb/ptb.{train,valid,test}.txt (here: RNN_JAX_DATA_DIR=../shared/data)")


@dataclasses.dataclass
class OurStep:
  """A run's compiled training step, ready to time: each ``fn()`` runs the next step of every seed."""
  fn: Callable[[], Any]
  params: Any      # the first seed's initial parameters (NumPy), copied before any step
  task: Any
  batching: str    # how the seeds ran ("vmap" / "sequential"; a lone seed runs as it is)


def our_train_step(config, task=None) -> OurStep:
  """The run's own step (``rnn_jax.train.make_steps``, data included) from fresh parameters.

  Nothing is written; ``config`` is not modified. Raises ``ConfigError`` for an invalid config.
  """
  from rnn_jax import train

  train.validate_config(config)
  task = task if task is not None else train.make_task(config)
  steps = train.make_steps(config, task)
  seeds = steps.mesh.seed_array()
  state = steps.init(seeds)
  params = jax.tree.map(lambda a: np.asarray(a)[0], state["params"])  # before the step donates them
  box = {"state": state, "acc": steps.zero_accumulator(state, seeds), "step": 0}

  def one_step():
    box["state"], box["acc"] = steps.train(box["state"], box["acc"], seeds, box["step"])
    box["step"] += 1
    return box["acc"]

  return OurStep(one_step, params, task, steps.mesh.batching)


# ----------------------------------------------------------------------------------- step rows: PyTorch


def _torch_rnn_weights(cell: str, params: dict[str, Any], index: int) -> dict[str, np.ndarray]:
  """Our cell parameters as ``torch.nn.LSTM``/``GRU``'s ``{weight,bias}_{ih,hh}_l<index>``.

  LSTM: both order the gate blocks (i, f, g, o); our single bias goes to ``bias_ih``, ``bias_hh`` is
  zero. GRU (reset-after only): our blocks (z, r, g) are PyTorch's (z, r, n), which it orders
  (r, z, n); ``h_bias_g`` is ``n``'s ``bias_hh``, the other two ``bias_hh`` blocks are zero. Both
  GRUs keep the old state with weight z: ``h' = z h + (1 - z) n``.
  """
  wx, wh = np.asarray(params["x_proj"]["kernel"]), np.asarray(params["recurrent_kernel"])
  b = np.asarray(params["x_proj"]["bias"])
  n = wh.shape[0]
  zeros = np.zeros(n, np.float32)
  if cell == "lstm":
    ih, hh, b_ih, b_hh = wx.T, wh.T, b, np.zeros_like(b)
  elif cell == "gru":
    if "h_bias_g" not in params:
      raise ValueError("PyTorch's GRU is reset-after: the benchmark needs GRU(reset_after=True, use_bias=True)")
    order = (1, 0, 2)  # ours (z, r, g) -> PyTorch (r, z, n)
    reorder = lambda a: np.concatenate([_blocks(a, n, 3)[k] for k in order], -1)  # noqa: E731
    ih, hh, b_ih = reorder(wx).T, reorder(wh).T, reorder(b)
    b_hh = np.concatenate([zeros, zeros, np.asarray(params["h_bias_g"])])
  else:
    raise ValueError(f"unknown benchmark cell {cell!r}; choose from {CELLS}")
  return {f"weight_ih_l{index}": ih, f"weight_hh_l{index}": hh, f"bias_ih_l{index}": b_ih,
          f"bias_hh_l{index}": b_hh}


def _train_like_ours(rnn, cell: str) -> None:
  """Makes PyTorch's second bias per gate, which ours does not have, stay at zero during training.

  ``torch.nn.LSTM``/``GRU`` add ``bias_ih + bias_hh``; each receives the full gradient, so SGD would move
  their sum twice as fast as our single bias (measured on the toy LSTM, SGD lr 0.5: the losses 4% apart
  after three steps, against 1e-7 with this). The LSTM's ``bias_hh`` is frozen; the GRU's keeps the
  gradient of its ``n`` block only, which is our ``h_bias_g``.
  """
  def n_block_only(grad):
    grad = grad.clone()
    grad[:2 * (grad.shape[0] // 3)] = 0.0  # the r and z blocks (PyTorch's order r, z, n)
    return grad

  for name, param in rnn.named_parameters():
    if name.startswith("bias_hh"):
      if cell == "lstm":
        param.requires_grad_(False)
      else:
        param.register_hook(n_block_only)


def _copy_into(module, values: dict[str, np.ndarray]) -> None:
  import torch
  with torch.no_grad():
    for name, value in values.items():
      target = module.get_parameter(name)
      if tuple(target.shape) != value.shape:
        raise ValueError(f"{name}: PyTorch shape {tuple(target.shape)}, ours {value.shape}")
      target.copy_(torch.from_numpy(np.array(value, np.float32)))  # a writable copy


def _num_layers(params: dict[str, Any]) -> int:
  return sum(1 for name in params["rnn"] if name.startswith("layer_"))


def torch_language_model(cell: str, params: dict[str, Any]):
  """PyTorch twin of our tied ``models.LanguageModel``, holding a copy of ``params``.

  ``nn.Embedding(V, E)`` -> ``nn.LSTM``/``nn.GRU(E, H, num_layers, batch_first=True)`` -> ``nn.Linear(H, V)``
  whose weight *is* the embedding's (tied) and whose bias is ``output_bias``. Call:
  ``(tokens [batch, time] int64, hidden or None) -> (logits [batch, time, V], hidden)``.
  """
  import torch

  embedding = np.asarray(params["embed"]["embedding"])
  vocab, embed = embedding.shape
  if "output_bias" not in params:
    raise ValueError("the PyTorch peer is the tied language model (model.tie_embeddings=True)")
  layers = _num_layers(params)
  hidden = params["rnn"]["layer_0"]["cell"]["recurrent_kernel"].shape[0]

  class TiedLanguageModel(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.embed = torch.nn.Embedding(vocab, embed)
      self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](embed, hidden, num_layers=layers,
                                                                     batch_first=True)
      self.decoder = torch.nn.Linear(hidden, vocab)
      self.decoder.weight = self.embed.weight  # tied; the decoder keeps its own bias

    def forward(self, tokens, state=None):
      outputs, state = self.rnn(self.embed(tokens), state)  # [batch, time, hidden]
      return self.decoder(outputs), state

  model = TiedLanguageModel()
  _train_like_ours(model.rnn, cell)
  values = {"embed.weight": embedding, "decoder.bias": np.asarray(params["output_bias"])}
  for k in range(layers):
    layer = _torch_rnn_weights(cell, params["rnn"][f"layer_{k}"]["cell"], k)
    values.update({f"rnn.{name}": v for name, v in layer.items()})
  _copy_into(model, values)
  return model


def torch_language_model_loss(model, tokens, targets, state=None):
  """``(loss, state)``: cross-entropy summed over time, averaged over the batch (ours: ``train_loss``)."""
  import torch
  logits, state = model(tokens, state)
  nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum")
  return nll / tokens.shape[0], state


def torch_classifier(cell: str, params: dict[str, Any]):
  """PyTorch twin of our ``models.SequenceClassifier`` (unidirectional), holding a copy of ``params``.

  ``nn.Embedding`` -> ``nn.LSTM``/``nn.GRU(batch_first=True)`` -> the last layer's final ``h`` ->
  ``nn.Linear`` (``head``). Call: ``(tokens [batch, time] int64) -> logits [batch, classes]``.
  """
  import torch

  embedding = np.asarray(params["embed"]["embedding"])
  vocab, embed = embedding.shape
  kernel = np.asarray(params["head"]["kernel"])  # [hidden, classes]
  hidden, classes = kernel.shape
  layers = _num_layers(params)
  if "cell" not in params["rnn"]["layer_0"]:
    raise ValueError("the PyTorch classifier peer is unidirectional")

  class Classifier(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.embed = torch.nn.Embedding(vocab, embed)
      self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](embed, hidden, num_layers=layers,
                                                                     batch_first=True)
      self.head = torch.nn.Linear(hidden, classes)

    def forward(self, tokens):
      _, state = self.rnn(self.embed(tokens))
      h = state[0] if cell == "lstm" else state  # LSTM: (h_n, c_n); each [layers, batch, hidden]
      return self.head(h[-1])

  model = Classifier()
  _train_like_ours(model.rnn, cell)
  values = {"embed.weight": embedding, "head.weight": kernel.T, "head.bias": np.asarray(params["head"]["bias"])}
  for k in range(layers):
    layer = _torch_rnn_weights(cell, params["rnn"][f"layer_{k}"]["cell"], k)
    values.update({f"rnn.{name}": v for name, v in layer.items()})
  _copy_into(model, values)
  return model


def _torch_optimizer(config, parameters):
  """``config.optimizer`` at the constant ``config.learning_rate`` (a schedule's first value for
  ptb_small and palindrome, which hold it for epochs / throughout). PyTorch's defaults are optax's:
  Adam betas (0.9, 0.999), eps 1e-8; AdamW's decay is decoupled and scaled by the learning rate."""
  import torch
  lr = float(config.learning_rate)
  if config.optimizer == "sgd":
    return torch.optim.SGD(parameters, lr=lr)
  if config.optimizer == "adam":
    return torch.optim.Adam(parameters, lr=lr)
  if config.optimizer == "adamw":
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=float(config.weight_decay))
  raise ValueError(f"no PyTorch optimizer for {config.optimizer!r}")


def _detach(state):
  return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def torch_step_setup(config, task, params, threads: int | None = None):
  """``(fn, ())``: each ``fn()`` runs one training step of ``config``'s PyTorch twin from ``params``."""
  import torch

  _set_torch_threads(threads)
  device = torch_device()
  cell = config.model.cell
  clip = float(config.grad_clip_norm or 0.0)
  if config.task == "ptb":
    model = torch_language_model(cell, params).to(device)
    streams = torch.from_numpy(np.asarray(task.streams["train"], np.int64)).to(device)  # [batch, tokens]
    width, windows = int(config.data.window_tokens), task.steps_per_epoch
    box = {"state": None, "index": 0}

    def batch():
      i = box["index"]
      box["index"] = (i + 1) % windows
      if i == 0:
        box["state"] = None  # a new epoch starts from a zero state, as ours
      return streams[:, i * width:(i + 1) * width], streams[:, i * width + 1:(i + 1) * width + 1]

    def loss_fn(tokens, targets):
      loss, state = torch_language_model_loss(model, tokens, targets, box["state"])
      box["state"] = _detach(state)  # truncated BPTT: carried, not differentiated through
      return loss
  elif config.task == "toy":
    model = torch_classifier(cell, params).to(device)
    # The batches of ours' first steps: its data stream of the first seed (rnn_jax.train._train_one).
    data_key = jax.random.fold_in(jax.random.key(config.seeds[0]), DATA_STREAM)
    batches = []
    for i in range(TORCH_BATCHES):
      inputs, labels = task.spec.batch_fn(jax.random.fold_in(data_key, i), int(config.batch_size), task.length)[:2]
      batches.append((torch.from_numpy(np.asarray(inputs, np.int64)).to(device),
                      torch.from_numpy(np.asarray(labels, np.int64)).to(device)))
    box = {"index": 0}

    def batch():
      box["index"] += 1
      return batches[(box["index"] - 1) % len(batches)]

    def loss_fn(tokens, labels):
      return torch.nn.functional.cross_entropy(model(tokens), labels)
  else:
    raise ValueError(f"no PyTorch peer for task {config.task!r}")
  trained = [p for p in model.parameters() if p.requires_grad]  # the tied matrix once
  optimizer = _torch_optimizer(config, trained)

  def step():
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(*batch())
    loss.backward()
    if clip > 0:
      torch.nn.utils.clip_grad_norm_(trained, clip)
    optimizer.step()
    _torch_sync(device)
    return loss.detach()

  return step, ()


# ----------------------------------------------------------------------------------- timing


def _block(out):
  if hasattr(out, "detach") or (isinstance(out, (tuple, list)) and out and hasattr(out[0], "detach")):
    return out  # torch: synchronised by the call itself
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


def gemm_setup(shape: tuple[int, int, int] = GEMM_SHAPE):
  """``(fn, args)``: a jitted float32 ``[m, k] @ [k, n]`` of random matrices; ``2mkn`` FLOPs per call."""
  m, k, n = shape
  ka, kb = jax.random.split(jax.random.key(0))
  a = jax.random.normal(ka, (m, k), jnp.float32)
  b = jax.random.normal(kb, (k, n), jnp.float32)
  return jax.jit(jnp.dot), (a, b)


_GEMM = "__gemm__"


@dataclasses.dataclass
class _Group:
  """One interleaved group: the implementations of one (kind, shape, cell)."""
  kind: str
  shape: str
  cell: str
  fns: dict[str, tuple[Callable, Sequence[Any]]]
  batch: int
  steps: int
  flops: int


def _layer_group(shape_name: str, cell: str, implementations, unroll, torch_threads) -> _Group:
  shape = SHAPES[shape_name]
  fns = {}
  for impl in implementations:
    if impl == "torch":
      if torch_available():
        fns[impl] = torch_grad_setup(cell, shape, torch_threads)
    else:
      fns[impl] = jax_grad_setup(impl, cell, shape, unroll=unroll)
  flops = recurrent_flops(shape.batch, shape.steps, shape.inputs, shape.hidden, GATE_BLOCKS[cell])
  return _Group("layer", shape_name, cell, fns, shape.batch, shape.steps, flops)


def _step_group(shape_name: str, cell: str, implementations, torch_threads, log) -> _Group | None:
  config = step_config(shape_name, cell)
  why = missing_data(config)
  if why is not None:
    log(f"step rows {shape_name} {cell} skipped: {why}")
    return None
  ours = our_train_step(config)
  fns = {}
  for impl in implementations:
    if impl == "ours":
      fns[impl] = (ours.fn, ())
    elif impl == "torch" and torch_available():
      fns[impl] = torch_step_setup(config, ours.task, ours.params, torch_threads)
  steps = int(config.data.window_tokens) if config.task == "ptb" else ours.task.input_length
  return _Group("step", shape_name, cell, fns, int(config.batch_size), steps, config_step_flops(config, ours.task))


def _time_group(group: _Group, repeats: int, block: int, gemm: bool, log) -> list[Result]:
  fns = dict(group.fns)
  if gemm:
    fns[_GEMM] = gemm_setup()
  times = time_interleaved(fns, repeats, block=block)
  gemm_gflops = None
  if gemm:
    m, k, n = GEMM_SHAPE
    gemm_gflops = 2 * m * k * n / statistics.median(times.pop(_GEMM)) / 1e9
  rows = []
  for impl, ts in times.items():
    med = statistics.median(ts)
    floor = None if gemm_gflops is None else group.flops / (gemm_gflops * 1e9) * 1e3
    rows.append(Result(group.shape, group.cell, impl, med * 1e3, min(ts) * 1e3, group.batch / med,
                       group.batch * group.steps / med, kind=group.kind, flops=group.flops,
                       gemm_gflops=gemm_gflops, floor_ms=floor))
    log(f"{group.kind} {group.shape} {group.cell} {impl}: median {med * 1e3:.2f} ms, min {min(ts) * 1e3:.2f} ms "
        f"({repeats} repeats)")
  ours = next((r for r in rows if r.implementation == "ours"), None)
  for r in rows:
    r.ratio_vs_ours = r.median_ms / ours.median_ms if ours else None
  return rows


def run_benchmark(shapes: Sequence[str], cells: Sequence[str], repeats: int,
                  implementations: Sequence[str] = IMPLEMENTATIONS, unroll: int = 1,
                  torch_threads: int | None = None, block: int = 1,
                  log: Callable[[str], None] | None = None, kinds: Sequence[str] = ("layer",),
                  gemm: bool = True) -> list[Result]:
  """Times every (kind, shape, cell, implementation); ``torch`` is skipped when it is not installed.

  ``shapes`` name ``SHAPES`` (layer rows) and/or ``STEP_SHAPES`` (step rows); a shape only one kind
  has is skipped for the other, with a log line, as are step rows whose data are missing
  (``missing_data``). ``block``: consecutive timed calls per turn (``time_interleaved``).
  ``gemm``: time the float32 GEMM in every group, for ``gemm_gflops`` / ``floor_ms``.
  """
  log = log or (lambda line: None)
  for kind in kinds:
    if kind not in KINDS:
      raise ValueError(f"unknown kind {kind!r}; choose from {KINDS}")
  for shape in shapes:
    if shape not in SHAPES and shape not in STEP_SHAPES:
      raise ValueError(f"unknown shape {shape!r}; choose from {sorted(set(SHAPES) | set(STEP_SHAPES))}")
  for cell in cells:
    if cell not in CELLS:
      raise ValueError(f"unknown benchmark cell {cell!r}; choose from {CELLS}")
  for impl in implementations:
    if impl not in IMPLEMENTATIONS:
      raise ValueError(f"unknown implementation {impl!r}; choose from {IMPLEMENTATIONS}")
  results = []
  for kind in kinds:
    table = SHAPES if kind == "layer" else STEP_SHAPES
    for shape_name in shapes:
      if shape_name not in table:
        log(f"{kind} rows: no shape {shape_name!r} (the {kind} shapes are {', '.join(sorted(table))})")
        continue
      for cell in cells:
        if kind == "layer":
          group = _layer_group(shape_name, cell, implementations, unroll, torch_threads)
        else:
          group = _step_group(shape_name, cell, [i for i in implementations if i in STEP_IMPLEMENTATIONS],
                              torch_threads, log)
        if group is not None and group.fns:
          results.extend(_time_group(group, repeats, block, gemm, log))
  return results


def format_table(results: Sequence[Result]) -> str:
  """A Markdown table of ``results``, then the GEMM speed the floors assume."""
  head = ("| shape | cell | kind | implementation | median ms | min ms | sequences/s | tokens/s | time / ours "
          "| GFLOP / call | floor ms |")
  lines = [head, "|" + "---|" * 11]
  for r in results:
    ratio = "" if r.ratio_vs_ours is None else f"{r.ratio_vs_ours:.2f}"
    gflop = "" if r.flops is None else f"{r.flops / 1e9:.3g}"
    floor = "" if r.floor_ms is None else f"{r.floor_ms:.3g}"
    lines.append(f"| {r.shape} | {r.cell} | {r.kind} | {r.implementation} | {r.median_ms:.2f} | {r.min_ms:.2f} "
                 f"| {r.sequences_per_s:,.0f} | {r.tokens_per_s:,.0f} | {ratio} | {gflop} | {floor} |")
  speeds = [r.gemm_gflops for r in results if r.gemm_gflops is not None]
  if speeds:
    m, k, n = GEMM_SHAPE
    lines.append("")
    lines.append(f"GEMM (float32 jnp.dot, [{m}, {k}] @ [{k}, {n}]) in the same groups: median "
                 f"{statistics.median(speeds):.0f} GFLOP/s (range {min(speeds):.0f}-{max(speeds):.0f}); "
                 "floor ms = GFLOP / call at the row's own group's GEMM speed")
  return "\n".join(lines)


def environment() -> dict[str, Any]:
  """The machine and settings a benchmark ran with; first makes the process's host-memory choice
  (``platform.keep_host_buffers``, for ours and PyTorch alike), so call it before timing anything."""
  host_malloc = platform.keep_host_buffers()
  device = jax.devices()[0]
  info = {"jax": jax.__version__, "backend": jax.default_backend(), "device_kind": device.device_kind,
          "device_count": jax.device_count(), "cpu_count": os.cpu_count(),
          "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "choices": platform.resolve_choices().as_dict(), "host_malloc": host_malloc}
  try:
    info["loadavg"] = os.getloadavg()
  except OSError:
    pass
  if torch_available():
    import torch
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    info["torch_device"] = torch_device()
  return info


def write_json(path: str, results: Sequence[Result], extra: dict[str, Any] | None = None) -> None:
  """``{"environment", **extra, "results": [every row]}``; a row is ``Result``'s fields."""
  payload = {"environment": environment(), **(extra or {}),
             "results": [dataclasses.asdict(r) for r in results]}
  with open(path, "w") as f:
    json.dump(payload, f, indent=2)


# --- whole training steps of a config under each seed batching -----------------------------------

def time_train_steps(config, batchings: Sequence[str], repeats: int, block: int = 1,
                     task=None) -> dict[str, list[float]]:
  """Seconds per training step of ``config`` (all its seeds) under each seed batching.

  Builds the run's own compiled step (``our_train_step``) once per batching from fresh parameters
  and times the steps interleaved (``time_interleaved``); nothing is written. ``config`` is not
  modified. Raises ``ConfigError`` (before loading any data) when a batching or the config is invalid.
  ``task``: ``config``'s task when the caller has built it already (its data are loaded once).
  """
  from rnn_jax import train

  configs = {}
  for batching in batchings:
    configs[batching] = config.copy_and_resolve_references()
    configs[batching].seed_batching = batching
    train.validate_config(configs[batching])
  task = task if task is not None else train.make_task(config)
  fns = {}
  for batching, c in configs.items():
    step = our_train_step(c, task)
    fns[f"{batching} ({step.batching})" if batching == "auto" else batching] = (step.fn, ())
  return time_interleaved(fns, repeats, block=block)
