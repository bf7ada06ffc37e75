"""The fused sequence loop (rnn_jax.fused_loop): its hand-written backward pass against autodiff through nn.scan."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells, layers

BATCH, TIME, IN, HID = 3, 7, 5, 4


def _close(a, b, **kw):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


CASES = [("lstm", {}), ("lstm", {"forget_gate": "zero"}), ("lstm", {"forget_gate": "one"}), ("gru", {}),
         ("gru", {"reset_after": True}), ("gru", {"reset_after": True, "use_bias": False})]


# (padded, reverse, hoist): every flag on in some combination, every cell in every combination.
OPTIONS = [(False, False, False), (True, True, False), (True, False, True)]


@pytest.mark.parametrize("padded,reverse,hoist", OPTIONS)
@pytest.mark.parametrize("name,kwargs", CASES)
def test_fused_loop_matches_autodiff_through_scan(name, kwargs, padded, reverse, hoist):
  """The hand-written backward pass of the fused loop equals autodiff through ``nn.scan``."""
  kx, kc, kh = jax.random.split(jax.random.key(1), 3)
  xs = jax.random.normal(kx, (BATCH, TIME, IN))
  cot = jax.random.normal(kc, (BATCH, TIME, HID))
  lengths = jnp.array([TIME, 3, 1]) if padded else None

  def make(implementation):
    return layers.RNNLayer(cells.make_cell(name, HID, **kwargs), reverse=reverse,
                           implementation=implementation, hoist_inputs=hoist)

  fused, scan = make("fused"), make("scan")
  params = scan.init(jax.random.key(0), xs)["params"]
  assert jax.tree.structure(fused.init(jax.random.key(0), xs)["params"]) == jax.tree.structure(params)
  carry0 = jax.tree.map(lambda a: 0.5 * jax.random.normal(kh, a.shape),
                        scan.cell.initialize_carry(None, xs[:, 0].shape))

  def loss(layer):
    def f(params, xs, carry0):
      carry, ys = layer.apply({"params": params}, xs, carry0, seq_lengths=lengths)
      return jnp.sum(ys * cot) + sum(jnp.sum(c ** 2) for c in jax.tree.leaves(carry))
    return jax.value_and_grad(f, argnums=(0, 1, 2))

  (v_f, g_f), (v_s, g_s) = loss(fused)(params, xs, carry0), loss(scan)(params, xs, carry0)
  np.testing.assert_allclose(v_f, v_s, rtol=1e-5)
  _close(g_f, g_s, rtol=1e-4, atol=1e-5)
  if padded:
    mask = np.asarray(layers.length_mask(lengths, TIME))
    assert np.all(np.asarray(g_f[1])[~mask] == 0.0)
