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

from rnn_jax import fused_loop as fl
from rnn_jax.errors import ConfigError

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


FORGET_GATES = ("learned", "zero", "one")


def _forget_gate(preactivation: Array, mode: str) -> Array:
  """The forget gate: ``σ(preactivation)`` (``learned``) or the constant 0 (``zero``) or 1 (``one``)."""
  if mode == "learned":
    return jax.nn.sigmoid(preactivation)
  return jnp.full_like(preactivation, 0.0 if mode == "zero" else 1.0)


def _lstm_gates(z: Array, n: int, forget_gate: str) -> tuple[Array, Array, Array, Array]:
  """``(i, f, g, o)`` from the LSTM pre-activations ``z`` ``[..., 4n]`` (blocks i, f, g, o)."""
  i = jax.nn.sigmoid(z[..., :n])
  f = _forget_gate(z[..., n:2 * n], forget_gate)
  g = jnp.tanh(z[..., 2 * n:3 * n])
  o = jax.nn.sigmoid(z[..., 3 * n:])
  return i, f, g, o


def _lstm_update(i, f, g, o, c_prev):
  """``(c_t, h_t)`` from the gates: ``c_t = f ⊙ c_{t-1} + i ⊙ g``, ``h_t = o ⊙ tanh(c_t)``."""
  c = f * c_prev + i * g
  return c, o * jnp.tanh(c)


def _lstm_spec(n, dtype, forget_gate):
  def fwd(rec, carry, zx):
    (w,) = rec
    c, h = carry
    gates = _lstm_gates(zx + fl.matmul(h, w, dtype, c.dtype), n, forget_gate)
    return _lstm_update(*gates, c), jnp.concatenate(gates, -1)

  def bwd(rec, gates, prev, d):
    (w,) = rec
    c_prev, h_prev = prev
    dc, dh = d
    i, f, g, o = (gates[:, k * n:(k + 1) * n] for k in range(4))
    c, _ = _lstm_update(i, f, g, o, c_prev)  # recomputed: cheaper than storing it
    tc = jnp.tanh(c)
    dc = dc + dh * o * (1.0 - tc * tc)
    # A forced forget gate (0 or 1) is a constant, so its pre-activation's cotangent must be 0:
    # f * (1 - f) is exactly 0 for f in {0, 1}, so the learned gate's formula serves all three.
    dz = jnp.concatenate([dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f),
                          dc * i * (1.0 - g * g), dh * tc * o * (1.0 - o)], -1)
    return (dc * f, fl.matmul(dz, w.T, dtype, dh.dtype)), dz, ()

  def rec_grads(rec, prev, dz, res, extra):
    (w,) = rec
    return (fl.matmul(fl.flat(prev[1]).T, fl.flat(dz), dtype, w.dtype),)

  return fl.FusedSpec(("lstm", n, forget_gate), fwd, bwd, rec_grads, dtype)


def _gru_reset_before_gates(zx: Array, h: Array, w: Array, matmul) -> tuple[Array, Array, Array]:
  """``(z, r, g)`` of the reset-before GRU from the input pre-activations ``zx`` ``[..., 3n]``.

  ``z = σ(zx_z + h W_hz)``, ``r = σ(zx_r + h W_hr)``, ``g = tanh(zx_g + (r ⊙ h) W_hg)``; ``w`` is the
  ``[n, 3n]`` recurrent kernel (z, r, g) and ``matmul(a, b)`` computes ``a @ b`` in the cell's dtypes.
  r must be known before the candidate's recurrent product, so ``w`` is used as two matmuls.
  """
  n = h.shape[-1]
  z, r = jnp.split(jax.nn.sigmoid(zx[..., :2 * n] + matmul(h, w[:, :2 * n])), 2, axis=-1)
  g = jnp.tanh(zx[..., 2 * n:] + matmul(r * h, w[:, 2 * n:]))
  return z, r, g


def _gru_reset_after_gates(zx: Array, rec: Array, rec_bias: Array | None) -> tuple[Array, Array, Array, Array]:
  """``(z, r, g, hg)`` of the reset-after GRU: ``rec = h W_h`` ``[..., 3n]`` (z, r, g blocks),
  ``hg = rec_g + b_hg``, ``g = tanh(zx_g + r ⊙ hg)``."""
  n = rec.shape[-1] // 3
  z, r = jnp.split(jax.nn.sigmoid(zx[..., :2 * n] + rec[..., :2 * n]), 2, axis=-1)
  hg = rec[..., 2 * n:]
  if rec_bias is not None:
    hg = hg + rec_bias
  return z, r, jnp.tanh(zx[..., 2 * n:] + r * hg), hg


def _gru_update(z: Array, g: Array, h_prev: Array) -> Array:
  """``h_t = z ⊙ h_{t-1} + (1 − z) ⊙ g`` (``z = 1`` keeps the old state)."""
  return z * h_prev + (1.0 - z) * g


def _gru_reset_after_spec(n, dtype, with_bias):
  def fwd(rec, carry, zx):
    w, bg = rec
    (h,) = carry
    z, r, g, hg = _gru_reset_after_gates(zx, fl.matmul(h, w, dtype, h.dtype), bg if with_bias else None)
    return (_gru_update(z, g, h),), jnp.concatenate([z, r, g, hg], -1)

  def bwd(rec, res, prev, d):
    w, _ = rec
    (h,) = prev
    (dh,) = d
    z, r, g, hg = (res[:, k * n:(k + 1) * n] for k in range(4))
    dag = dh * (1.0 - z) * (1.0 - g * g)
    dzr = jnp.concatenate([dh * (h - g) * z * (1.0 - z), dag * hg * r * (1.0 - r)], -1)
    d_rec = jnp.concatenate([dzr, dag * r], -1)
    dh_prev = dh * z + fl.matmul(d_rec, w.T, dtype, dh.dtype)
    return (dh_prev,), jnp.concatenate([dzr, dag], -1), d_rec

  def rec_grads(rec, prev, dzx, res, d_rec):
    w, bg = rec
    dw = fl.matmul(fl.flat(prev[0]).T, fl.flat(d_rec), dtype, w.dtype)
    dbg = jnp.sum(fl.flat(d_rec[..., 2 * n:]), 0).astype(bg.dtype) if with_bias else None
    return dw, dbg

  return fl.FusedSpec(("gru_ra", n, with_bias), fwd, bwd, rec_grads, dtype)


def _gru_reset_before_spec(n, dtype):
  def fwd(rec, carry, zx):
    (w,) = rec
    (h,) = carry
    z, r, g = _gru_reset_before_gates(zx, h, w, lambda a, b: fl.matmul(a, b, dtype, a.dtype))
    return (_gru_update(z, g, h),), jnp.concatenate([z, r, g], -1)

  def bwd(rec, res, prev, d):
    (w,) = rec
    (h,) = prev
    (dh,) = d
    z, r, g = (res[:, k * n:(k + 1) * n] for k in range(3))
    dag = dh * (1.0 - z) * (1.0 - g * g)
    d_rh = fl.matmul(dag, w[:, 2 * n:].T, dtype, dh.dtype)
    dzr = jnp.concatenate([dh * (h - g) * z * (1.0 - z), d_rh * h * r * (1.0 - r)], -1)
    dh_prev = dh * z + d_rh * r + fl.matmul(dzr, w[:, :2 * n].T, dtype, dh.dtype)
    return (dh_prev,), jnp.concatenate([dzr, dag], -1), ()

  def rec_grads(rec, prev, dzx, res, extra):
    (w,) = rec
    h = fl.flat(prev[0])
    rh = fl.flat(res[..., n:2 * n]) * h
    dzx = fl.flat(dzx)
    dw_zr = fl.matmul(h.T, dzx[:, :2 * n], dtype, w.dtype)
    dw_g = fl.matmul(rh.T, dzx[:, 2 * n:], dtype, w.dtype)
    return (jnp.concatenate([dw_zr, dw_g], -1),)

  return fl.FusedSpec(("gru_rb", n), fwd, bwd, rec_grads, dtype)


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

  @nn.nowrap
  def fused_spec(self) -> fl.FusedSpec | None:
    """The cell's hand-differentiated step for ``fused_sequence``; None: not available."""
    return None

  def fused_sequence(self, inputs: Array, carry: Carry, valid: Array | None = None,
                     reverse: bool = False, unroll: int = 1,
                     hoist_inputs: bool = False) -> tuple[Carry, Array]:
    """The cell over a time-major sequence with a hand-written backward pass.

    ``inputs`` ``[time, batch, in]``, ``valid`` ``[time, batch]`` (None: all valid); returns
    ``(final_carry, outputs [time, batch, n])`` -- the same function as ``nn.scan`` over ``step``
    (padding steps freeze the carry and output zeros), computed by ``fl.fused_loop``.
    ``hoist_inputs``: compute the input path of all steps before the loop (one large matmul)
    instead of inside it, step by step.
    """
    spec = self.fused_spec()
    if spec is None:
      raise NotImplementedError(f"{type(self).__name__} has no fused sequence loop")
    if hoist_inputs:
      xs, wx, b = self.project_inputs(inputs), None, None
    else:
      if self.is_initializing():
        self.x_proj(inputs[:1, :1])  # creates x_proj's parameters
      x_params = self.x_proj.variables["params"]
      xs, wx, b = inputs, x_params["kernel"], x_params.get("bias")
      state = self.state_dtype
      wx = wx.astype(jnp.promote_types(wx.dtype, state))
      b = None if b is None else b.astype(jnp.promote_types(b.dtype, state))
    carry_t = tuple(carry) if self.carry_has_cell_state else (carry,)
    final, carries = fl.fused_loop(spec, xs, wx, b, self._fused_rec_params(), carry_t, valid,
                                 reverse, unroll)
    outputs = carries[-1]
    if valid is not None:
      outputs = jnp.where(valid[..., None], outputs, jnp.zeros_like(outputs))
    return (final if self.carry_has_cell_state else final[0]), outputs

  def _fused_rec_params(self):
    return (self.recurrent_kernel,)

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


class _ForgetGateCell(RecurrentCell):
  """Base of the two LSTMs: the forget gate's initial bias and the option to force the gate."""

  forget_bias: float | None = None
  forget_gate: str = "learned"

  def __post_init__(self):
    # Checked here, when the module is built, not at its first call inside a jitted trace.
    if self.forget_gate not in FORGET_GATES:
      raise ConfigError(f"forget_gate={self.forget_gate!r}; choose one of {FORGET_GATES}")
    super().__post_init__()


class LSTM(_ForgetGateCell):
  r"""Long short-term memory with fused gates (Hochreiter & Schmidhuber 1997, no peepholes).

  .. math::
      i_t &= \sigma(W_{xi} x_t + W_{hi} h_{t-1} + b_i) \\
      f_t &= \sigma(W_{xf} x_t + W_{hf} h_{t-1} + b_f) \\
      g_t &= \tanh(W_{xg} x_t + W_{hg} h_{t-1} + b_g) \\
      o_t &= \sigma(W_{xo} x_t + W_{ho} h_{t-1} + b_o) \\
      c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)

  Forget-gate ablation (``forget_gate``): ``"zero"`` forces ``f_t = 0``, so ``c_t = i_t ⊙ g_t`` keeps
  nothing of ``c_{t-1}`` (memory then runs through ``h_{t-1}`` alone, a gated simple RNN); ``"one"`` forces
  ``f_t = 1``, so ``c_t = c_{t-1} + i_t ⊙ g_t`` accumulates without forgetting (the original 1997
  LSTM, whose ``∂c_t/∂c_{t-1}`` is the identity along the cell path). The forget block of the kernels
  and bias stays in the parameter tree (same shapes for every option) but is unused and receives
  zero gradient.

  The four gates are fused: ``x_proj/kernel`` is ``[in, 4n]`` and ``recurrent_kernel`` is ``[n, 4n]``,
  blocks in the order (i, f, g, o); one bias per gate (``x_proj/bias``, ``[4n]``), so a cell with m
  inputs has ``4(mn + n^2 + n)`` parameters (PyTorch keeps two biases per gate: ``+4n``).

  Carry: ``(c, h)``, each ``[*batch, features]``; the output is ``h_t``.

  Attributes:
    features: number of hidden units n.
    forget_bias: initial value of ``b_f`` (None = ``bias_init``, i.e. 0; Jozefowicz et al. use 1.0).
    forget_gate: ``"learned"`` (default, the equations above), ``"zero"`` (``f_t = 0``) or ``"one"``
      (``f_t = 1``).
    use_bias, kernel_init, recurrent_kernel_init, bias_init, carry_init, dtype, param_dtype: as
      in ``SimpleRNN``; kernel inits are applied per gate block.

  Example::

    cell = LSTM(features=128, forget_gate="one")
    c_h = cell.initialize_carry(None, x.shape)
    params = cell.init(jax.random.key(0), c_h, x)
    (c, h), y = cell.apply(params, c_h, x)
  """

  num_input_blocks: ClassVar[int] = 4
  num_recurrent_blocks: ClassVar[int] = 4
  carry_has_cell_state: ClassVar[bool] = True

  def _bias_init(self):
    return _gate_bias_init(self.bias_init, 1, 4, self.forget_bias)

  @nn.nowrap
  def fused_spec(self):
    return _lstm_spec(self.features, self.dtype, self.forget_gate)

  def step(self, carry, projected):
    c, h = carry
    gates = _lstm_gates(projected + self._recurrent(h), self.features, self.forget_gate)
    c, h = _lstm_update(*gates, c)
    return (c, h), h


class PeepholeLSTM(_ForgetGateCell):
  r"""The peephole LSTM of the palindrome study: gates read the previous *cell state*, not ``h``.

  .. math::
      f_t &= \sigma(W_{fx} x_t + W_{fh} c_{t-1} + b_f) \\
      i_t &= \sigma(W_{ix} x_t + W_{ih} c_{t-1} + b_i) \\
      o_t &= \sigma(W_{ox} x_t + W_{oh} c_{t-1} + b_o) \\
      c_t &= \sigma(W_{cx} x_t + b_c) \odot i_t + c_{t-1} \odot f_t, \qquad h_t = \tanh(c_t) \odot o_t

  Note the candidate ``σ(W_cx x_t + b_c)`` has no recurrent term and uses a sigmoid, exactly as
  the study defines it. ``x_proj/kernel`` is ``[in, 4n]`` in the order (f, i, o, c);
  ``recurrent_kernel`` is ``[n, 3n]`` in the order (f, i, o) and multiplies ``c_{t-1}``. Since no
  gate reads ``h_{t-1}``, the state passed on through time is ``c`` alone.

  ``forget_gate="zero"`` / ``"one"`` force ``f_t = 0`` / ``1`` as in ``LSTM`` (the f block is kept,
  unused).

  Carry: ``(c, h)``; the output is ``h_t``.

  Attributes:
    features, forget_bias, forget_gate, use_bias, kernel_init, recurrent_kernel_init, bias_init,
    carry_init, dtype, param_dtype: as in ``LSTM``.
  """

  num_input_blocks: ClassVar[int] = 4
  num_recurrent_blocks: ClassVar[int] = 3
  carry_has_cell_state: ClassVar[bool] = True

  def _bias_init(self):
    return _gate_bias_init(self.bias_init, 0, 4, self.forget_bias)

  def step(self, carry, projected):
    c_prev, _ = carry
    n = self.features
    gates = projected[..., :3 * n] + self._recurrent(c_prev)
    f = _forget_gate(gates[..., :n], self.forget_gate)
    i, o = jnp.split(jax.nn.sigmoid(gates[..., n:]), 2, axis=-1)
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

  @nn.nowrap
  def fused_spec(self):
    if self.reset_after:
      return _gru_reset_after_spec(self.features, self.dtype, self.use_bias)
    return _gru_reset_before_spec(self.features, self.dtype)

  def _fused_rec_params(self):
    if self.reset_after:
      return (self.recurrent_kernel, self.h_bias_g.astype(self.state_dtype) if self.use_bias else None)
    return (self.recurrent_kernel,)

  def step(self, h, projected):
    if self.reset_after:
      bias = self.h_bias_g.astype(self.state_dtype) if self.use_bias else None
      z, _, g, _ = _gru_reset_after_gates(projected, self._recurrent(h), bias)
    else:
      z, _, g = _gru_reset_before_gates(projected, h, self.recurrent_kernel, self._recurrent)
    h_new = _gru_update(z, g, h)
    return h_new, h_new


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
