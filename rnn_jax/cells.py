"""Recurrent cells: one time step ``(carry, x_t) -> (carry, y_t)``, following Flax's cell contract.

Every cell splits its step in two so that sequence layers can hoist the input path out of the time
loop (see ``rnn_jax.layers.RNNLayer``):

* ``project_inputs(x)`` -- the input path ``W_x x + b`` for *all* gates at once (one fused matmul).
  It does not depend on the carry, so a layer computes it for every time step in one large matmul.
* ``step(carry, projected_x)`` -- the recurrent path (one fused matmul) and the gate math.
* ``__call__(carry, x) = step(carry, project_inputs(x))`` -- the plain single-step contract.

Parameters: a ``Dense`` submodule ``x_proj`` (input path; it carries the bias -- the input and
recurrent paths are summed, so one bias per gate suffices) and the ``recurrent_kernel`` (recurrent
path, no bias). Gate blocks are stacked along the output axis in the order the docstring gives.

Dtypes: parameters are ``param_dtype`` (float32); the matmuls run in ``dtype`` (e.g. bfloat16 on
accelerators, ``None`` = float32); gate math and the recurrent state always stay in float32, as in
recurrentgemma, so long sequences do not accumulate bfloat16 rounding.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp
from flax import linen as nn

Array = jax.Array
Initializer = Callable[..., Array]
Carry = Any

STATE_DTYPE = jnp.float32  # the recurrent state's minimum precision, whatever the compute dtype


def stacked_init(init: Initializer, num_blocks: int) -> Initializer:
  """Initialises a ``[fan_in, num_blocks * n]`` kernel as ``num_blocks`` independent ``[fan_in, n]`` blocks.

  A fused gate kernel must be initialised per gate: an orthogonal init of the whole ``[n, 4n]``
  matrix is not orthogonal per gate, and a fan-out based init would see 4n instead of n.
  """

  def init_fn(key, shape, dtype=jnp.float32):
    *lead, total = shape
    if total % num_blocks:
      raise ValueError(f"kernel width {total} is not divisible into {num_blocks} gate blocks")
    keys = jax.random.split(key, num_blocks)
    blocks = [init(k, (*lead, total // num_blocks), dtype) for k in keys]
    return jnp.concatenate(blocks, axis=-1)

  return init_fn


def _gate_bias_init(base: Initializer, gate_index: int, num_gates: int, value: float | None) -> Initializer:
  """``base`` for all gates, then the block ``gate_index`` set to ``value`` (e.g. a forget-gate bias)."""

  def init_fn(key, shape, dtype=jnp.float32):
    bias = base(key, shape, dtype)
    if value is None:
      return bias
    n = shape[-1] // num_gates
    return bias.at[..., gate_index * n:(gate_index + 1) * n].set(value)

  return init_fn


class RecurrentCell(nn.Module):
  """Base class: input/recurrent projections, dtype handling and the ``(c, h)`` or ``h`` carry.

  Subclasses set ``num_input_blocks`` / ``num_recurrent_blocks`` (gate blocks in the input and
  recurrent kernels) and implement ``step``.
  """

  features: int
  use_bias: bool = True
  kernel_init: Initializer = nn.initializers.lecun_normal()
  recurrent_kernel_init: Initializer = nn.initializers.orthogonal()
  bias_init: Initializer = nn.initializers.zeros_init()
  carry_init: Initializer = nn.initializers.zeros_init()
  dtype: Any = None
  param_dtype: Any = jnp.float32

  num_input_blocks: ClassVar[int] = 1
  num_recurrent_blocks: ClassVar[int] = 1
  carry_has_cell_state: ClassVar[bool] = False

  def _bias_init(self) -> Initializer:
    return self.bias_init

  def setup(self):
    n = self.features
    self.x_proj = nn.Dense(
        self.num_input_blocks * n,
        use_bias=self.use_bias,
        kernel_init=stacked_init(self.kernel_init, self.num_input_blocks),
        bias_init=self._bias_init(),
        dtype=self.dtype,
        param_dtype=self.param_dtype,
    )
    # A plain parameter (not a Dense) because its shape is known up front and some cells (the
    # reset-before GRU) use it in slices.
    self.recurrent_kernel = self.param(
        "recurrent_kernel",
        stacked_init(self.recurrent_kernel_init, self.num_recurrent_blocks),
        (n, self.num_recurrent_blocks * n),
        self.param_dtype,
    )

  @property
  def state_dtype(self):
    """float32, or the parameter dtype when that is wider (float64 for reference checks)."""
    return jnp.promote_types(self.param_dtype, STATE_DTYPE)

  def project_inputs(self, x: Array) -> Array:
    """Input path of every gate, ``[..., in] -> [..., num_input_blocks * features]``, in the state dtype."""
    return self.x_proj(x).astype(self.state_dtype)

  def _recurrent(self, state: Array, kernel: Array | None = None) -> Array:
    """``state @ kernel`` in the compute dtype, returned in the state dtype (default: whole kernel)."""
    kernel = self.recurrent_kernel if kernel is None else kernel
    dtype = self.dtype or self.state_dtype
    return jnp.dot(state.astype(dtype), kernel.astype(dtype)).astype(self.state_dtype)

  def step(self, carry: Carry, projected: Array) -> tuple[Carry, Array]:
    raise NotImplementedError

  def __call__(self, carry: Carry, x: Array) -> tuple[Carry, Array]:
    return self.step(carry, self.project_inputs(x))

  @nn.nowrap
  def initialize_carry(self, rng: Array | None, input_shape: tuple[int, ...]) -> Carry:
    """Initial state for inputs of shape ``[*batch, in_features]``: zeros by default."""
    shape = tuple(input_shape[:-1]) + (self.features,)
    rng = jax.random.key(0) if rng is None else rng
    keys = jax.random.split(rng, 2)
    h = self.carry_init(keys[0], shape, self.state_dtype)
    if self.carry_has_cell_state:
      return (self.carry_init(keys[1], shape, self.state_dtype), h)
    return h

  @property
  def num_feature_axes(self) -> int:
    return 1


class SimpleRNN(RecurrentCell):
  r"""Elman network: ``h_t = tanh(W_x x_t + W_h h_{t-1} + b)``; the output is ``h_t``.

  Carry: ``h`` of shape ``[*batch, features]``.

  Attributes:
    features: number of hidden units n.
    use_bias: whether to add ``b`` (default True).
    kernel_init: init of ``W_x`` (``x_proj/kernel``, ``[in, n]``), default LeCun normal.
    recurrent_kernel_init: init of ``W_h`` (``recurrent_kernel``, ``[n, n]``), default orthogonal.
    bias_init: init of ``b`` (``x_proj/bias``), default zeros.
    carry_init: init of ``h_0``, default zeros.
    dtype: matmul dtype (None = float32); the state stays float32.
    param_dtype: parameter dtype, float32.

  Example::

    cell = SimpleRNN(features=128)
    h = cell.initialize_carry(None, x.shape)
    params = cell.init(jax.random.key(0), h, x)
    h, y = cell.apply(params, h, x)
  """

  def step(self, carry, projected):
    h = jnp.tanh(projected + self._recurrent(carry))
    return h, h


class LSTM(RecurrentCell):
  r"""Long short-term memory with fused gates (Hochreiter & Schmidhuber 1997, no peepholes).

  .. math::
      i_t &= \sigma(W_{xi} x_t + W_{hi} h_{t-1} + b_i) \\
      f_t &= \sigma(W_{xf} x_t + W_{hf} h_{t-1} + b_f) \\
      g_t &= \tanh(W_{xg} x_t + W_{hg} h_{t-1} + b_g) \\
      o_t &= \sigma(W_{xo} x_t + W_{ho} h_{t-1} + b_o) \\
      c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)

  The four gates are fused: ``x_proj/kernel`` is ``[in, 4n]`` and ``recurrent_kernel`` is ``[n, 4n]``,
  blocks in the order (i, f, g, o); one bias per gate (``x_proj/bias``, ``[4n]``), so a cell with m
  inputs has ``4(mn + n^2 + n)`` parameters (PyTorch keeps two biases per gate: ``+4n``).

  Carry: ``(c, h)``, each ``[*batch, features]``; the output is ``h_t``.

  Attributes:
    features: number of hidden units n.
    forget_bias: initial value of ``b_f`` (None = ``bias_init``, i.e. 0; Jozefowicz et al. use 1.0).
    use_bias, kernel_init, recurrent_kernel_init, bias_init, carry_init, dtype, param_dtype: as
      in ``SimpleRNN``; kernel inits are applied per gate block.
  """

  forget_bias: float | None = None

  num_input_blocks: ClassVar[int] = 4
  num_recurrent_blocks: ClassVar[int] = 4
  carry_has_cell_state: ClassVar[bool] = True

  def _bias_init(self):
    return _gate_bias_init(self.bias_init, 1, 4, self.forget_bias)

  def step(self, carry, projected):
    c, h = carry
    gates = projected + self._recurrent(h)
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (c, h), h


class PeepholeLSTM(RecurrentCell):
  r"""The peephole LSTM of the palindrome study: gates read the previous *cell state*, not ``h``.

  .. math::
      f_t &= \sigma(W_{fx} x_t + W_{fh} c_{t-1} + b_f) \\
      i_t &= \sigma(W_{ix} x_t + W_{ih} c_{t-1} + b_i) \\
      o_t &= \sigma(W_{ox} x_t + W_{oh} c_{t-1} + b_o) \\
      c_t &= \sigma(W_{cx} x_t + b_c) \odot i_t + c_{t-1} \odot f_t, \qquad h_t = \tanh(c_t) \odot o_t

  Note the candidate ``σ(W_cx x_t + b_c)`` has no recurrent term and uses a sigmoid, exactly as
  the study defines it. ``x_proj/kernel`` is ``[in, 4n]`` in the order (f, i, o, c);
  ``recurrent_kernel`` is ``[n, 3n]`` in the order (f, i, o) and multiplies ``c_{t-1}``.

  Carry: ``(c, h)``; the output is ``h_t``.

  Attributes:
    features, forget_bias, use_bias, kernel_init, recurrent_kernel_init, bias_init, carry_init,
    dtype, param_dtype: as in ``LSTM``.
  """

  forget_bias: float | None = None

  num_input_blocks: ClassVar[int] = 4
  num_recurrent_blocks: ClassVar[int] = 3
  carry_has_cell_state: ClassVar[bool] = True

  def _bias_init(self):
    return _gate_bias_init(self.bias_init, 0, 4, self.forget_bias)

  def step(self, carry, projected):
    c_prev, _ = carry
    n = self.features
    gates = projected[..., :3 * n] + self._recurrent(c_prev)
    f, i, o = jnp.split(jax.nn.sigmoid(gates), 3, axis=-1)
    candidate = jax.nn.sigmoid(projected[..., 3 * n:])
    c = candidate * i + c_prev * f
    h = jnp.tanh(c) * o
    return (c, h), h


class GRU(RecurrentCell):
  r"""Gated recurrent unit (Cho et al. 2014), two placements of the reset gate behind ``reset_after``.

  Convention: the update gate ``z`` *keeps the old state* (``z = 1`` copies ``h_{t-1}``).

  ``reset_after=False`` (default; the equations of the reports this suite reproduces):

  .. math::
      z_t &= \sigma(W_{xz} x_t + W_{hz} h_{t-1} + b_z), \quad
      r_t = \sigma(W_{xr} x_t + W_{hr} h_{t-1} + b_r) \\
      g_t &= \tanh(W_{xg} x_t + W_{hg} (r_t \odot h_{t-1}) + b_g) \\
      h_t &= z_t \odot h_{t-1} + (1 - z_t) \odot g_t

  ``reset_after=True`` (cuDNN / PyTorch layout): ``g_t = tanh(W_xg x_t + b_xg + r_t ⊙ (W_hg h_{t-1} + b_hg))``,
  which lets all three recurrent products share one matmul but needs a second bias ``b_hg``.

  Parameters: ``x_proj/kernel`` ``[in, 3n]`` (z, r, g) with bias ``[3n]``; ``recurrent_kernel``
  ``[n, 3n]`` (z, r, g); with ``reset_after`` also ``h_bias_g`` ``[n]``. A reset-before GRU with m
  inputs therefore has ``3(mn + n^2 + n)`` parameters, a reset-after one ``n`` more (PyTorch: ``3n`` more,
  since it keeps two biases for every gate).

  Carry: ``h``; the output is ``h_t``.

  Attributes:
    features, use_bias, kernel_init, recurrent_kernel_init, bias_init, carry_init, dtype,
    param_dtype: as in ``SimpleRNN``.
    reset_after: where the reset gate is applied (see above), default False.
  """

  reset_after: bool = False

  num_input_blocks: ClassVar[int] = 3
  num_recurrent_blocks: ClassVar[int] = 3

  def setup(self):
    super().setup()
    if self.reset_after and self.use_bias:
      self.h_bias_g = self.param("h_bias_g", self.bias_init, (self.features,), self.param_dtype)

  def step(self, h, projected):
    n = self.features
    if self.reset_after:
      rec = self._recurrent(h)
      z, r = jnp.split(jax.nn.sigmoid(projected[..., :2 * n] + rec[..., :2 * n]), 2, axis=-1)
      rec_g = rec[..., 2 * n:]
      if self.use_bias:
        rec_g = rec_g + self.h_bias_g.astype(self.state_dtype)
      g = jnp.tanh(projected[..., 2 * n:] + r * rec_g)
    else:
      z, r, g = self._reset_before_gates(h, projected)
    h_new = z * h + (1.0 - z) * g
    return h_new, h_new

  def _reset_before_gates(self, h, projected):
    # r must be known before the candidate's recurrent product, so the [n, 3n] kernel is used as
    # two matmuls: [n, 2n] for (z, r), then [n, n] on r * h.
    n = self.features
    w = self.recurrent_kernel
    zr = self._recurrent(h, w[:, :2 * n])
    z, r = jnp.split(jax.nn.sigmoid(projected[..., :2 * n] + zr), 2, axis=-1)
    rec_g = self._recurrent(r * h, w[:, 2 * n:])
    g = jnp.tanh(projected[..., 2 * n:] + rec_g)
    return z, r, g


CELLS: dict[str, type[RecurrentCell]] = {
    "rnn": SimpleRNN,
    "lstm": LSTM,
    "peephole_lstm": PeepholeLSTM,
    "gru": GRU,
}


def make_cell(name: str, features: int, **kwargs) -> RecurrentCell:
  """A cell by its config name (``rnn``, ``lstm``, ``peephole_lstm``, ``gru``)."""
  try:
    cls = CELLS[name]
  except KeyError:
    raise ValueError(f"unknown cell {name!r}; choose one of {sorted(CELLS)}") from None
  return cls(features=features, **kwargs)
