"""Sequence layers: a cell run over time with ``nn.scan``, bidirectional and stacked networks.

All layers take batch-major inputs ``[batch, time, features]`` and return ``(final_carry, outputs)``.

Variable-length batches use right padding and ``seq_lengths`` (``[batch]`` ints): after a
sequence's end its state is frozen and its outputs are zero, so gradients from padding positions
are exactly zero. Unlike Flax's stock ``nn.RNN`` (which leaves padded outputs as they are), the
zeroed outputs make a forgotten loss mask harmless for sums -- but a mean still needs the mask:
use ``length_mask``.
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from rnn_jax import cells as cells_lib
from rnn_jax import platform

Array = jax.Array
Carry = Any


def length_mask(seq_lengths: Array, max_length: int) -> Array:
  """``[batch, time]`` boolean mask, True at the valid (non-padding) positions of each sequence."""
  return jnp.arange(max_length)[None, :] < jnp.asarray(seq_lengths)[:, None]


def final_hidden(carry: Carry) -> Array:
  """The hidden state ``h`` of a carry (``h`` itself, or the second element of an LSTM's ``(c, h)``)."""
  return carry[1] if isinstance(carry, tuple) else carry


def _freeze_padding(valid_t, new_carry: Carry, carry: Carry, y_t: Array) -> tuple[Carry, Array]:
  """At padding steps (``valid_t`` False) the carry stays as it was and the output is zero."""
  if valid_t is None:
    return new_carry, y_t
  keep = valid_t[:, None]  # [batch, 1]: broadcasts against [batch, n] and [copies, batch, n]
  new_carry = jax.tree.map(lambda new, old: jnp.where(keep, new, old), new_carry, carry)
  return new_carry, jnp.where(keep, y_t, jnp.zeros_like(y_t))


def _scan_body(cell: cells_lib.RecurrentCell, carry: Carry, xs):
  projected_t, valid_t = xs  # [batch, blocks * n], [batch] or None
  new_carry, y_t = cell.step(carry, projected_t)
  return _freeze_padding(valid_t, new_carry, carry, y_t)


def _truncated_scan_body(cell: cells_lib.RecurrentCell, carry: Carry, xs):
  """``_scan_body`` for truncated BPTT with horizon k: ``carry`` is ``(copies, state)``.

  ``copies`` holds k copies of the current state (leaves ``[k, batch, n]``, equal values); copy j
  passes gradients back through the last j steps only. One step advances every copy (one batched
  cell call), so copy j's successor reaches back j + 1 steps: the deepest (k steps) is the state
  and output of this step, the others move up one place, and copy 0 restarts from the state with
  its gradient stopped.
  """
  copies, state = carry
  projected_t, valid_t = xs
  k = jax.tree.leaves(copies)[0].shape[0]
  new, y = cell.step(copies, jnp.broadcast_to(projected_t, (k, *projected_t.shape)))
  new_copies = jax.tree.map(lambda a: jnp.concatenate([jax.lax.stop_gradient(a[-1:]), a[:-1]], 0), new)
  new_state = jax.tree.map(lambda a: a[-1], new)
  (new_copies, new_state), y_t = _freeze_padding(valid_t, (new_copies, new_state), carry, y[-1])
  return (new_copies, new_state), y_t


IMPLEMENTATIONS = ("auto", "fused", "scan")


class RNNLayer(nn.Module):
  """Runs ``cell`` over the time axis with ``lax.scan``.

  Two implementations compute the same function (tests compare values and gradients):

  * ``scan``: ``nn.scan`` over ``cell.step``, differentiated by autodiff. The input path of every
    time step is computed before the loop as one ``[batch*time, in] x [in, blocks*n]`` matmul;
    only the recurrent matmul and the gate math run inside the scan.
  * ``fused`` (LSTM and GRU): ``cell.fused_sequence``, a ``lax.scan`` with a hand-written
    backward pass (``jax.custom_vjp``) that stores only the activated gates and does one matmul
    per step backwards; weight gradients are single large matmuls after the loop. ``hoist_inputs``
    chooses where the input path is computed: before the loop (one large matmul) or inside it.
  * ``auto`` (default): the platform's choice (``choices.rnn_implementation``, ``fused`` everywhere
    today) when the cell has a fused loop, else ``scan``.

  What ``auto`` / ``None`` mean comes from ``choices`` (a run's ``rnn_jax.platform.Choices``, resolved
  from its config) or, when that is None, from ``platform.resolve_choices()`` for this machine: the
  per-platform decisions live there, not here. A choice the config set explicitly
  (``choices.explicit``) is applied as if given to this layer.

  Truncated BPTT (``bptt_truncation = k``): the value is unchanged, but the gradient of every
  output ``y_t`` (and of the final carry) flows back through at most the last k steps: to
  ``x_{t-k+1} .. x_t``, to the parameters as used in those steps, and to the state ``h_{t-k}``
  before them -- which is the initial carry when ``t < k``, and otherwise has its gradient stopped.
  So each output gets exactly ``min(k, t + 1)`` steps (Williams & Peng's BPTT(k) for every output,
  not blocks of k steps that give outputs early in a block fewer). It costs k times the
  recurrent work: the scan carries k copies of the state, copy j reaching j steps back
  (``_truncated_scan_body``). ``k >= time`` truncates nothing and runs the usual path. Only
  ``scan`` implements it: the fused loop's hand-written backward pass propagates one carry
  cotangent through every step and would need the k copies' bookkeeping in both passes, so
  ``auto`` runs ``scan`` when truncation applies, and an explicit ``fused`` is an error.

  Attributes:
    cell: a ``rnn_jax.cells.RecurrentCell``.
    reverse: process the sequence from its end (outputs are still returned in input order). With
      ``seq_lengths`` each sequence starts at its own last element: the padding is visited first
      and leaves the initial carry untouched.
    unroll: time steps per scan iteration (``lax.scan``'s ``unroll``).
    implementation: ``auto``, ``fused`` or ``scan`` (above).
    hoist_inputs: fused loop only: compute the input path before the loop (None = ``choices``).
    bptt_truncation: k >= 1, the gradient horizon in steps (above); None = full BPTT.
    choices: the run's ``platform.Choices`` for the settings left at auto (None: this machine's).

  Call: ``layer(inputs [batch, time, in], initial_carry=None, seq_lengths=None)`` returns
  ``(final_carry, outputs [batch, time, n])``; the initial carry defaults to the cell's
  ``initialize_carry`` (zeros).
  """

  cell: cells_lib.RecurrentCell
  reverse: bool = False
  unroll: int = 1
  implementation: str = "auto"
  hoist_inputs: bool | None = None
  bptt_truncation: int | None = None
  choices: platform.Choices | None = None

  @nn.compact
  def __call__(self, inputs: Array, initial_carry: Carry | None = None,
               seq_lengths: Array | None = None) -> tuple[Carry, Array]:
    if initial_carry is None:
      initial_carry = self.cell.initialize_carry(None, inputs[:, 0].shape)
    truncation = self._truncation(inputs.shape[1])
    if self._use_fused(truncated=truncation is not None):
      valid = None if seq_lengths is None else length_mask(seq_lengths, inputs.shape[1]).T
      carry, outputs = self.cell.fused_sequence(
          jnp.swapaxes(inputs, 0, 1), initial_carry, valid, reverse=self.reverse,
          unroll=self.unroll, hoist_inputs=self._hoist_inputs())
      return carry, jnp.swapaxes(outputs, 0, 1)
    # Time-major before the projection, so the transpose touches the narrower input.
    projected = self.cell.project_inputs(jnp.swapaxes(inputs, 0, 1))  # [time, batch, blocks*n]
    valid = None if seq_lengths is None else length_mask(seq_lengths, inputs.shape[1]).T  # [time, batch]
    body, carry = _scan_body, initial_carry
    if truncation is not None:
      body = _truncated_scan_body
      carry = (jax.tree.map(lambda c: jnp.broadcast_to(c, (truncation, *c.shape)), initial_carry), initial_carry)
    scan = nn.scan(
        body,
        variable_broadcast="params",
        # Named explicitly: a cell that draws dropout inside the loop gets a new mask per step.
        split_rngs={"params": False, "dropout": True},
        in_axes=0,
        out_axes=0,
        reverse=self.reverse,
        unroll=self.unroll,
    )
    carry, outputs = scan(self.cell, carry, (projected, valid))
    if truncation is not None:
      carry = carry[1]  # the state itself (the deepest copy), without the other copies
    return carry, jnp.swapaxes(outputs, 0, 1)  # [batch, time, n]

  def _truncation(self, length: int) -> int | None:
    """The horizon k when it truncates anything (``k < length``), else None; checks the attribute."""
    k = self.bptt_truncation
    if k is None:
      return None
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
      raise ValueError(f"bptt_truncation must be an int >= 1 (steps the gradient flows back) or None "
                       f"(full BPTT), got {k!r}")
    return k if k < length else None

  def _choices(self) -> platform.Choices:
    return self.choices if self.choices is not None else platform.resolve_choices()

  def _hoist_inputs(self) -> bool:
    return self._choices().hoist_inputs if self.hoist_inputs is None else self.hoist_inputs

  def _use_fused(self, truncated: bool = False) -> bool:
    implementation = self.implementation
    if implementation not in IMPLEMENTATIONS:
      raise ValueError(f"implementation={implementation!r}; choose one of {IMPLEMENTATIONS}")
    choices = self._choices()
    if implementation == "auto" and "rnn_implementation" in choices.explicit:
      implementation = choices.rnn_implementation  # set by the config: as strict as the attribute
    if implementation == "scan":
      return False
    available = self.cell.fused_spec() is not None
    if implementation == "fused" and not available:
      raise ValueError(f"{type(self.cell).__name__} has no fused loop; use implementation='scan' "
                       "(config: rnn_implementation)")
    if truncated:
      if implementation == "fused":
        raise ValueError(f"bptt_truncation={self.bptt_truncation} needs implementation 'scan' or 'auto': "
                         "the fused loop has no truncated backward pass")
      return False
    return available and choices.rnn_implementation == "fused"


class Bidirectional(nn.Module):
  """Forward and backward layers over the same inputs; outputs concatenated per time step.

  The final carry is ``(forward_carry, backward_carry)``: the forward state after ``x_T`` and the
  backward state after ``x_1``, so ``final_hidden`` of each concatenated gives ``[h_T(fw); h_1(bw)]``
  (see ``bidirectional_final_hidden``). With ``seq_lengths`` the backward layer starts at each
  sequence's own last element.
  """

  forward_layer: RNNLayer
  backward_layer: RNNLayer

  def __call__(self, inputs: Array, initial_carry: tuple[Carry, Carry] | None = None,
               seq_lengths: Array | None = None) -> tuple[tuple[Carry, Carry], Array]:
    fw_init, bw_init = (None, None) if initial_carry is None else initial_carry
    fw_carry, fw_out = self.forward_layer(inputs, fw_init, seq_lengths)
    bw_carry, bw_out = self.backward_layer(inputs, bw_init, seq_lengths)
    return (fw_carry, bw_carry), jnp.concatenate([fw_out, bw_out], axis=-1)


def bidirectional_final_hidden(carry: tuple[Carry, Carry]) -> Array:
  """``[h_T(forward); h_1(backward)]`` from a ``Bidirectional`` final carry."""
  return jnp.concatenate([final_hidden(carry[0]), final_hidden(carry[1])], axis=-1)


def cell_kwargs_with_dtype(cell_kwargs: Any, choices: platform.Choices | None) -> dict[str, Any]:
  """``cell_kwargs`` with the cells' ``dtype`` set from ``choices.matmul_dtype``.

  A ``dtype`` in ``cell_kwargs`` is kept; one that contradicts a ``matmul_dtype`` the config set
  explicitly is an error (two settings of one thing).
  """
  kwargs = dict(cell_kwargs or {})
  if choices is None:
    return kwargs
  if "dtype" in kwargs:
    given = "float32" if kwargs["dtype"] is None else jnp.dtype(kwargs["dtype"]).name
    if "matmul_dtype" in choices.explicit and given != choices.matmul_dtype:
      raise ValueError(f"cell_kwargs dtype {given} contradicts matmul_dtype {choices.matmul_dtype}; set one of them")
  elif choices.cell_dtype is not None:
    kwargs["dtype"] = choices.cell_dtype
  return kwargs


class StackedRNN(nn.Module):
  """A multi-layer recurrent network with dropout on the non-recurrent connections only.

  Three dropout placements, each with its own rate (0 = off), never on the recurrent state:
  ``input_dropout`` on the input of the first layer (a language model's embedding output),
  ``between_dropout`` on the outputs of every layer but the last (the next layer's input), and
  ``output_dropout`` on the last layer's outputs. Zaremba et al. (2014) use one rate for all three.
  ``variational=True`` draws one mask per sequence and feature, shared by all time steps (Gal &
  Ghahramani 2016, applied to the same connections); otherwise every time step gets its own mask.

  Dropout acts on whole ``[batch, time, features]`` tensors outside the scans, which is the same as
  dropping inside the loop with a fresh mask per step, and cheaper. It draws from the RNG stream
  named ``dropout`` (``rngs={'dropout': key}`` at ``apply``).

  Attributes:
    cell_type: ``rnn``, ``lstm``, ``peephole_lstm`` or ``gru`` (``rnn_jax.cells.CELLS``).
    features: hidden units per layer.
    num_layers: number of stacked layers.
    input_dropout, between_dropout, output_dropout: drop probabilities of the three placements.
    variational: one dropout mask per sequence for all time steps.
    bidirectional: each layer is ``Bidirectional`` (its outputs have ``2 * features``).
    unroll: passed to every ``RNNLayer``.
    cell_kwargs: extra cell attributes (e.g. ``{'forget_bias': 1.0}``, ``{'reset_after': True}``,
      initialisers, ``dtype``).
    choices: the run's ``platform.Choices`` (None: this machine's), for every ``RNNLayer``; its
      ``matmul_dtype`` is the cells' ``dtype`` unless ``cell_kwargs`` sets one.

  Call: ``(inputs [batch, time, in], initial_carry=None (a tuple, one carry per layer),
  seq_lengths=None, deterministic=True) -> (tuple of final carries, outputs)``.
  """

  cell_type: str
  features: int
  num_layers: int = 1
  input_dropout: float = 0.0
  between_dropout: float = 0.0
  output_dropout: float = 0.0
  variational: bool = False
  bidirectional: bool = False
  unroll: int = 1
  cell_kwargs: Any = None
  choices: platform.Choices | None = None

  def _layer(self, index: int) -> nn.Module:
    kwargs = cell_kwargs_with_dtype(self.cell_kwargs, self.choices)

    # parent=None: submodules passed as attributes are adopted by the module that holds them, so
    # the parameters read layer_0/cell/... (and layer_0/forward_layer/cell/...).
    def rnn(reverse):
      cell = cells_lib.make_cell(self.cell_type, self.features, parent=None, **kwargs)
      return RNNLayer(cell, reverse=reverse, unroll=self.unroll, choices=self.choices, parent=None)

    name = f"layer_{index}"
    if self.bidirectional:
      return Bidirectional(rnn(False), rnn(True), name=name)
    return rnn(False).clone(name=name, parent=self)

  def _dropout(self, rate: float, x: Array, deterministic: bool) -> Array:
    if rate == 0.0:
      return x
    broadcast_dims = (1,) if self.variational else ()  # axis 1 = time
    return nn.Dropout(rate, broadcast_dims=broadcast_dims, rng_collection="dropout")(x, deterministic=deterministic)

  @nn.compact
  def __call__(self, inputs: Array, initial_carry: Sequence[Carry] | None = None,
               seq_lengths: Array | None = None, deterministic: bool = True):
    if initial_carry is not None and len(initial_carry) != self.num_layers:
      raise ValueError(f"initial_carry has {len(initial_carry)} layers, the network {self.num_layers}")
    x = inputs
    carries = []
    for index in range(self.num_layers):
      x = self._dropout(self.input_dropout if index == 0 else self.between_dropout, x, deterministic)
      carry_in = None if initial_carry is None else initial_carry[index]
      carry, x = self._layer(index)(x, carry_in, seq_lengths)
      carries.append(carry)
    return tuple(carries), self._dropout(self.output_dropout, x, deterministic)

  @nn.nowrap
  def initialize_carry(self, batch_size: int) -> tuple[Carry, ...]:
    """Zero carries for every layer (the structure ``__call__`` takes and returns)."""
    cell = cells_lib.make_cell(self.cell_type, self.features, parent=None,
                               **dict(self.cell_kwargs or {}))
    one = cell.initialize_carry(None, (batch_size, self.features))
    return tuple((one, one) if self.bidirectional else one for _ in range(self.num_layers))
