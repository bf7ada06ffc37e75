"""The fused sequence loop: a whole recurrent sequence with a hand-written backward pass (custom VJP).

The cells (``rnn_jax.cells``) describe their step with a ``FusedSpec`` -- built from the same gate
functions their autodiff ``step`` uses, so each equation is written once -- and ``fused_loop`` runs
it over time; ``rnn_jax.layers.RNNLayer`` chooses between this loop and ``nn.scan`` over ``step``
(``rnn_jax.platform``). Tests hold the two paths together (``tests/test_benchmark.py``,
``tests/test_cells.py``).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array


# ``fused_sequence`` runs a whole sequence with a hand-written backward pass instead of autodiff
# through ``lax.scan``. Measured on CPU (docs/performance.md) autodiff through the
# scan (a) stores many residuals per step, several of them twice, (b) accumulates the recurrent
# weight gradient with one small matmul per step, and (c) with a hoisted input projection
# materialises a ``[time, batch, blocks*n]`` array that is written once and read back step by step.
# Here the forward loop stores only the carries and the activated gates; the backward loop
# computes only the gate cotangents and the carry cotangents (one ``[batch, blocks*n] x
# [blocks*n, n]`` matmul per step); every weight gradient is one large matmul after the loop.
#
# A cell opts in with a ``FusedSpec``: ``fwd(rec, carry, zx) -> (new_carry, res)`` (one step from
# the input-path pre-activations ``zx``), ``bwd(rec, res, prev_carry, d_new_carry) ->
# (d_prev_carry, dzx, extra)`` (``dzx``: cotangent of ``zx``) and ``rec_grads(rec, prev_carries,
# dzx_all, res_all, extra_all) -> cotangent of rec``. Carries are tuples of ``[batch, n]`` arrays;
# the last element is ``h``.


class FusedSpec:
  """Static description of a cell's step for ``fused_loop`` (hashable: it is a nondiff argument)."""

  def __init__(self, name, fwd, bwd, rec_grads, dtype):
    self.name, self.fwd, self.bwd, self.rec_grads, self.dtype = name, fwd, bwd, rec_grads, dtype

  def _key(self):
    return (self.name, None if self.dtype is None else jnp.dtype(self.dtype).name)

  def __hash__(self):
    return hash(self._key())

  def __eq__(self, other):
    return isinstance(other, FusedSpec) and self._key() == other._key()


def matmul(a: Array, b: Array, dtype, out_dtype) -> Array:
  """``a @ b`` with the operands in the compute ``dtype`` (None: as they are), result ``out_dtype``."""
  if dtype is not None:
    a, b = a.astype(dtype), b.astype(dtype)
  return jnp.dot(a, b).astype(out_dtype)


def previous_carries(seq, first, reverse):
  """The carry *before* each step, in array order: ``first`` then ``seq`` shifted by one step."""
  if reverse:
    return jax.tree.map(lambda s, f: jnp.concatenate([s[1:], f[None]], 0), seq, first)
  return jax.tree.map(lambda s, f: jnp.concatenate([f[None], s[:-1]], 0), seq, first)


def input_path(spec, xs, wx, b):
  """Per-step pre-activations of the input path (``wx is None``: ``xs`` is already projected)."""
  if wx is None:
    return xs
  zx = matmul(xs, wx, spec.dtype, wx.dtype)
  return zx if b is None else zx + b


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 7, 8))
def fused_loop(spec, xs, wx, b, rec, carry0, valid, reverse, unroll):
  """``(final_carry, carries [time, ...])`` of the cell over time-major ``xs``; see ``FusedSpec``."""
  return _fused_loop_fwd(spec, xs, wx, b, rec, carry0, valid, reverse, unroll)[0]


def _fused_loop_fwd(spec, xs, wx, b, rec, carry0, valid, reverse, unroll):
  def body(carry, inputs):
    x, v = inputs
    zx = input_path(spec, x, wx, b)  # per step: no [time, batch, blocks*n] buffer
    new, res = spec.fwd(rec, carry, zx)
    if v is not None:
      new = tuple(jnp.where(v[:, None], a, o) for a, o in zip(new, carry))
    return new, (new, res)

  final, (carries, res) = lax.scan(body, carry0, (xs, valid), reverse=reverse, unroll=unroll)
  return (final, carries), (xs, wx, b, rec, carry0, carries, res, valid)


def _fused_loop_bwd(spec, reverse, unroll, residuals, cotangents):
  xs, wx, b, rec, carry0, carries, res, valid = residuals
  d_final, d_carries = cotangents
  prev = previous_carries(carries, carry0, reverse)

  def body(d_carry, inputs):
    d_out, r, p, v = inputs
    d = tuple(a + o for a, o in zip(d_carry, d_out))
    if v is None:
      return _bwd_step(spec, rec, r, p, d)
    keep = v[:, None]
    d_new = tuple(jnp.where(keep, a, jnp.zeros_like(a)) for a in d)
    d_prev, dzx, extra = spec.bwd(rec, r, p, d_new)
    # Padding steps pass the carry (and its cotangent) through unchanged.
    d_prev = tuple(dp + jnp.where(keep, jnp.zeros_like(a), a) for dp, a in zip(d_prev, d))
    return d_prev, (dzx, extra)

  d_carry0, (dzx, extra) = lax.scan(body, d_final, (d_carries, res, prev, valid),
                                    reverse=not reverse, unroll=unroll)
  d_rec = spec.rec_grads(rec, prev, dzx, res, extra)
  if wx is None:
    dxs, dwx, db = dzx.astype(xs.dtype), None, None
  else:
    flat_x = xs.reshape(-1, xs.shape[-1])
    flat_dz = dzx.reshape(-1, dzx.shape[-1])
    dxs = matmul(dzx, wx.T, spec.dtype, xs.dtype)
    dwx = matmul(flat_x.T, flat_dz, spec.dtype, wx.dtype)
    db = None if b is None else jnp.sum(flat_dz, 0).astype(b.dtype)
  return dxs, dwx, db, d_rec, d_carry0, None


def _bwd_step(spec, rec, r, p, d):
  d_prev, dzx, extra = spec.bwd(rec, r, p, d)
  return d_prev, (dzx, extra)


fused_loop.defvjp(_fused_loop_fwd, _fused_loop_bwd)


def flat(a: Array) -> Array:
  return a.reshape(-1, a.shape[-1])
