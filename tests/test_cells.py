"""Each cell against a float64 NumPy reference written from the equations in its docstring.

The references below index the fused parameters by gate block and apply the equations literally
(column-vector maths on one example at a time would be slower; row vectors ``x @ W`` are the same
equations with ``W`` transposed).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells

STEPS, BATCH, IN, HID = 24, 5, 7, 11


def sigmoid(a):
  return 1.0 / (1.0 + np.exp(-a))


def blocks(w, count):
  """Split a fused ``[..., count*n]`` array into its ``count`` gate blocks (float64)."""
  return np.split(np.asarray(w, np.float64), count, axis=-1)


def ref_simple_rnn(p, h, x):
  h = np.tanh(x @ p["x_proj"]["kernel"] + h @ p["recurrent_kernel"] + p["x_proj"]["bias"])
  return h, h


# The forget gate of the ablations: None = learned (the equation), else the forced constant.
FORCED_FORGET = {"learned": None, "zero": 0.0, "one": 1.0}


def ref_lstm(p, carry, x, forget_gate="learned"):
  c, h = carry
  wxi, wxf, wxg, wxo = blocks(p["x_proj"]["kernel"], 4)
  whi, whf, whg, who = blocks(p["recurrent_kernel"], 4)
  bi, bf, bg, bo = blocks(p["x_proj"]["bias"], 4)
  i = sigmoid(x @ wxi + h @ whi + bi)
  f = sigmoid(x @ wxf + h @ whf + bf)
  if FORCED_FORGET[forget_gate] is not None:
    f = np.full_like(f, FORCED_FORGET[forget_gate])
  g = np.tanh(x @ wxg + h @ whg + bg)
  o = sigmoid(x @ wxo + h @ who + bo)
  c = f * c + i * g
  h = o * np.tanh(c)
  return (c, h), h


def ref_peephole(p, carry, x, forget_gate="learned"):
  c_prev, _ = carry
  wfx, wix, wox, wcx = blocks(p["x_proj"]["kernel"], 4)
  wfh, wih, woh = blocks(p["recurrent_kernel"], 3)
  bf, bi, bo, bc = blocks(p["x_proj"]["bias"], 4)
  f = sigmoid(x @ wfx + c_prev @ wfh + bf)
  if FORCED_FORGET[forget_gate] is not None:
    f = np.full_like(f, FORCED_FORGET[forget_gate])
  i = sigmoid(x @ wix + c_prev @ wih + bi)
  o = sigmoid(x @ wox + c_prev @ woh + bo)
  c = sigmoid(x @ wcx + bc) * i + c_prev * f
  h = np.tanh(c) * o
  return (c, h), h


def ref_gru(p, h, x, reset_after=False):
  wxz, wxr, wxg = blocks(p["x_proj"]["kernel"], 3)
  whz, whr, whg = blocks(p["recurrent_kernel"], 3)
  bz, br, bg = blocks(p["x_proj"]["bias"], 3)
  z = sigmoid(x @ wxz + h @ whz + bz)
  r = sigmoid(x @ wxr + h @ whr + br)
  if reset_after:
    g = np.tanh(x @ wxg + bg + r * (h @ whg + p["h_bias_g"]))
  else:
    g = np.tanh(x @ wxg + (r * h) @ whg + bg)
  h = z * h + (1 - z) * g
  return h, h


CASES = {
    "rnn": (cells.SimpleRNN, {}, ref_simple_rnn),
    "lstm": (cells.LSTM, {}, ref_lstm),
    "peephole_lstm": (cells.PeepholeLSTM, {}, ref_peephole),
    "gru": (cells.GRU, {}, ref_gru),
    "gru_reset_after": (cells.GRU, {"reset_after": True}, lambda p, h, x: ref_gru(p, h, x, True)),
    "lstm_forget_zero": (cells.LSTM, {"forget_gate": "zero"}, lambda p, c, x: ref_lstm(p, c, x, "zero")),
    "lstm_forget_one": (cells.LSTM, {"forget_gate": "one"}, lambda p, c, x: ref_lstm(p, c, x, "one")),
    "peephole_lstm_forget_zero": (cells.PeepholeLSTM, {"forget_gate": "zero"},
                                  lambda p, c, x: ref_peephole(p, c, x, "zero")),
    "peephole_lstm_forget_one": (cells.PeepholeLSTM, {"forget_gate": "one"},
                                 lambda p, c, x: ref_peephole(p, c, x, "one")),
}


def random_params(params, key, scale=0.6):
  """Replace every parameter by N(0, scale^2): biases non-zero, gates neither saturated nor idle."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(tree, [scale * jax.random.normal(k, l.shape, l.dtype) for k, l in zip(keys, leaves)])


def relative_error(actual, expected):
  """max |actual - expected| / max |expected| (norm-wise: elements near zero do not dominate)."""
  expected = np.asarray(expected, np.float64)
  return float(np.max(np.abs(np.asarray(actual, np.float64) - expected)) / np.max(np.abs(expected)))


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("name", sorted(CASES))
def test_cell_matches_float64_reference(name, use_bias):
  cls, kwargs, reference = CASES[name]
  cell = cls(features=HID, use_bias=use_bias, **kwargs)
  rng = np.random.default_rng(0)
  xs = rng.normal(size=(STEPS, BATCH, IN)).astype(np.float32)
  carry = cell.initialize_carry(None, xs[0].shape)
  params = random_params(cell.init(jax.random.key(1), carry, xs[0])["params"], jax.random.key(2))
  if not use_bias:
    assert not any("bias" in "/".join(map(str, path)) for path, _ in jax.tree_util.tree_leaves_with_path(params))
  np_params = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  np_params["x_proj"].setdefault("bias", np.zeros(np_params["x_proj"]["kernel"].shape[-1]))
  np_params.setdefault("h_bias_g", np.zeros(HID))
  step = jax.jit(lambda c, x: cell.apply({"params": params}, c, x))
  ref_carry = jax.tree.map(lambda a: np.asarray(a, np.float64), carry)
  worst = 0.0
  for x in xs:
    carry, y = step(carry, x)
    ref_carry, ref_y = reference(np_params, ref_carry, x.astype(np.float64))
    worst = max(worst, relative_error(y, ref_y))
    for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(ref_carry)):
      worst = max(worst, relative_error(a, b))
  assert worst < 1e-5, f"{name}: max relative error {worst:.2e} over {STEPS} steps"
  assert np.max(np.abs(np.asarray(y))) > 0.05  # the comparison saw non-trivial states


@pytest.mark.parametrize("implementation", ["fused", "scan"])
@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n][0] in (cells.LSTM, cells.GRU)))
def test_the_sequence_paths_training_uses_match_the_float64_reference(name, implementation):
  """The layer as training runs it -- the fused loop (LSTM/GRU on every platform) and the scan -- over
  a whole sequence against the same float64 reference, step by step."""
  from rnn_jax import layers
  cls, kwargs, reference = CASES[name]
  layer = layers.RNNLayer(cls(features=HID, **kwargs), implementation=implementation)
  rng = np.random.default_rng(1)
  xs = rng.normal(size=(BATCH, STEPS, IN)).astype(np.float32)  # batch-major, as the layer takes it
  params = random_params(layer.init(jax.random.key(1), xs)["params"], jax.random.key(2))
  carry, ys = jax.jit(lambda p, x: layer.apply({"params": p}, x))(params, xs)
  np_params = jax.tree.map(lambda a: np.asarray(a, np.float64), params["cell"])
  np_params.setdefault("h_bias_g", np.zeros(HID))
  ref_carry = jax.tree.map(lambda a: np.zeros((BATCH, HID)), carry)
  ref_ys = []
  for t in range(STEPS):
    ref_carry, y = reference(np_params, ref_carry, xs[:, t].astype(np.float64))
    ref_ys.append(y)
  assert relative_error(ys, np.stack(ref_ys, 1)) < 1e-5
  for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(ref_carry)):
    assert relative_error(a, b) < 1e-5


def test_lstm_forget_bias_initial_value():
  cell = cells.LSTM(features=4, forget_bias=1.0)
  x = jnp.ones((2, 3))
  params = cell.init(jax.random.key(0), cell.initialize_carry(None, x.shape), x)["params"]
  i, f, g, o = np.split(np.asarray(params["x_proj"]["bias"]), 4)
  np.testing.assert_array_equal(f, 1.0)
  np.testing.assert_array_equal(np.concatenate([i, g, o]), 0.0)


@pytest.mark.parametrize("forget_gate", ["zero", "one"])
@pytest.mark.parametrize("cls", [cells.LSTM, cells.PeepholeLSTM])
def test_forced_forget_gate_gives_its_weights_zero_gradient(cls, forget_gate):
  """The forget block stays in the parameter tree (same shapes) but a forced gate never reads it."""
  cell = cls(features=HID, forget_gate=forget_gate)
  xs = jax.random.normal(jax.random.key(3), (4, BATCH, IN))
  carry = cell.initialize_carry(None, xs[0].shape)
  params = random_params(cell.init(jax.random.key(1), carry, xs[0])["params"], jax.random.key(2))

  def loss(params):
    c = carry
    for x in xs:
      c, y = cell.apply({"params": params}, c, x)
    return jnp.sum(y ** 2) + jnp.sum(c[0] ** 2)

  grads = jax.grad(loss)(params)
  f = 1 if cls is cells.LSTM else 0  # the forget block's index: (i, f, g, o) / (f, i, o, c)
  num_in, num_rec = (4, 4) if cls is cells.LSTM else (4, 3)
  for array, blocks_count in ((grads["x_proj"]["kernel"], num_in), (grads["x_proj"]["bias"], num_in),
                              (grads["recurrent_kernel"], num_rec)):
    parts = np.split(np.asarray(array), blocks_count, axis=-1)
    assert np.all(parts[f] == 0.0)
    assert all(np.max(np.abs(p)) > 0 for k, p in enumerate(parts) if k != f)


def test_unknown_forget_gate_is_a_clear_error():
  with pytest.raises(ValueError, match="forget_gate='zer'; choose one of"):
    cells.LSTM(features=4, forget_gate="zer")


def test_fused_kernels_are_initialised_per_gate():
  cell = cells.LSTM(features=6)
  x = jnp.ones((1, 6))
  params = cell.init(jax.random.key(0), cell.initialize_carry(None, x.shape), x)["params"]
  for block in np.split(np.asarray(params["recurrent_kernel"]), 4, axis=-1):
    np.testing.assert_allclose(block.T @ block, np.eye(6), atol=1e-5)  # each gate block orthogonal


def test_bfloat16_compute_keeps_float32_state():
  cell = cells.LSTM(features=8, dtype=jnp.bfloat16)
  x = jnp.ones((2, 5))
  carry = cell.initialize_carry(None, x.shape)
  variables = cell.init(jax.random.key(0), carry, x)
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))
  (c, h), y = cell.apply(variables, carry, x)
  assert c.dtype == h.dtype == jnp.float32


def test_unknown_cell_name_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown cell 'lstmm'"):
    cells.make_cell("lstmm", 4)


def test_gru_hand_derived_gradients_two_step_example():
  """The two-step GRU exercise: ε₂ = ½‖h₂ − y₂‖², chain rule through h₂ = z₂⊙h₁ + (1−z₂)⊙g₂, h₁ fixed.

  Column-vector maths as in the exercise (W_xz is n×m, ...); the cell stores the transposes,
  fused as [m, 3n] / [n, 3n] kernels in the order (z, r, g).
  """
  m, n = 3, 4
  rng = np.random.default_rng(7)
  W = {k: rng.normal(scale=0.7, size=(n, m if k.startswith("x") else n)) for k in
       ("xz", "hz", "xr", "hr", "xg", "hg")}
  x1, x2, y2 = rng.normal(size=m), rng.normal(size=m), rng.normal(size=n)

  # Forward pass by hand: step 1 from h0 = 0, then step 2.
  def forward(h_prev, x):
    z = sigmoid(W["xz"] @ x + W["hz"] @ h_prev)
    r = sigmoid(W["xr"] @ x + W["hr"] @ h_prev)
    g = np.tanh(W["xg"] @ x + W["hg"] @ (r * h_prev))
    return z * h_prev + (1 - z) * g, z, r, g

  h1, *_ = forward(np.zeros(n), x1)
  h2, z2, r2, g2 = forward(h1, x2)

  # Backward pass by hand, in matrix form.
  delta = h2 - y2                                    # ∂ε/∂h₂
  d_az = delta * (h1 - g2) * z2 * (1 - z2)           # through z₂ = σ(a_z)
  d_ag = delta * (1 - z2) * (1 - g2 ** 2)            # through g₂ = tanh(a_g)
  d_ar = (W["hg"].T @ d_ag) * h1 * r2 * (1 - r2)     # a_g depends on r₂ via W_hg (r₂ ⊙ h₁)
  expected = {
      "xz": np.outer(d_az, x2), "hz": np.outer(d_az, h1),
      "xg": np.outer(d_ag, x2), "hg": np.outer(d_ag, r2 * h1),
      "xr": np.outer(d_ar, x2), "hr": np.outer(d_ar, h1),
  }

  with jax.enable_x64(True):
    cell = cells.GRU(features=n, use_bias=False, param_dtype=jnp.float64)
    params = {
        "x_proj": {"kernel": jnp.asarray(np.concatenate([W["xz"].T, W["xr"].T, W["xg"].T], axis=1))},
        "recurrent_kernel": jnp.asarray(np.concatenate([W["hz"].T, W["hr"].T, W["hg"].T], axis=1)),
    }
    h1_fixed = jnp.asarray(h1[None])

    def error(p):
      h2_jax, _ = cell.apply({"params": p}, h1_fixed, jnp.asarray(x2[None]))
      return 0.5 * jnp.sum((h2_jax[0] - y2) ** 2)

    np.testing.assert_allclose(float(error(params)), 0.5 * np.sum(delta ** 2), rtol=1e-12)
    grads = jax.grad(error)(params)
    gx = np.split(np.asarray(grads["x_proj"]["kernel"]), 3, axis=1)
    gh = np.split(np.asarray(grads["recurrent_kernel"]), 3, axis=1)
  got = {"xz": gx[0].T, "xr": gx[1].T, "xg": gx[2].T, "hz": gh[0].T, "hr": gh[1].T, "hg": gh[2].T}
  for name in expected:
    np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-12, err_msg=f"dε/dW_{name}")
