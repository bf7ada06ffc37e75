"""The scanned layers against Python loops over the cell, padding behaviour, dropout and parameter counts."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import cells, layers, models

BATCH, TIME, IN, HID = 3, 9, 5, 6
CELL_NAMES = sorted(cells.CELLS)


def init_layer(layer, xs, key=0):
  return layer.init(jax.random.key(key), xs)


def loop_over_cell(cell, cell_params, xs, carry=None, reverse=False):
  """Reference: the single-step ``cell.__call__`` in a Python loop, outputs in input order."""
  carry = cell.initialize_carry(None, xs[:, 0].shape) if carry is None else carry
  order = range(xs.shape[1] - 1, -1, -1) if reverse else range(xs.shape[1])
  outputs = {}
  for t in order:
    carry, outputs[t] = cell.apply({"params": cell_params}, carry, xs[:, t])
  return carry, jnp.stack([outputs[t] for t in range(xs.shape[1])], axis=1)


def assert_trees_close(a, b, **kw):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


@pytest.fixture
def xs():
  return jax.random.normal(jax.random.key(3), (BATCH, TIME, IN))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", CELL_NAMES)
def test_scan_layer_matches_python_loop(name, reverse, xs):
  layer = layers.RNNLayer(cells.make_cell(name, HID), reverse=reverse)
  params = init_layer(layer, xs)
  init_carry = jax.tree.map(lambda a: a + 0.3, layer.cell.initialize_carry(None, xs[:, 0].shape))
  carry, ys = layer.apply(params, xs, init_carry)
  ref_carry, ref_ys = loop_over_cell(cells.make_cell(name, HID), params["params"]["cell"], xs,
                                     init_carry, reverse)
  np.testing.assert_allclose(ys, ref_ys, rtol=2e-5, atol=2e-6)
  assert_trees_close(carry, ref_carry, rtol=2e-5, atol=2e-6)


def test_unroll_gives_the_same_result(xs):
  plain = layers.RNNLayer(cells.LSTM(HID))
  params = init_layer(plain, xs)
  for unroll in (2, 4):
    out = layers.RNNLayer(cells.LSTM(HID), unroll=unroll).apply(params, xs)
    assert_trees_close(out, plain.apply(params, xs), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", CELL_NAMES)
def test_padded_batch_equals_each_sequence_alone(name, reverse, xs):
  lengths = jnp.array([TIME, 4, 1])
  layer = layers.RNNLayer(cells.make_cell(name, HID), reverse=reverse)
  params = init_layer(layer, xs)
  carry, ys = layer.apply(params, xs, seq_lengths=lengths)
  for b, length in enumerate(np.asarray(lengths)):
    alone_carry, alone_ys = layer.apply(params, xs[b:b + 1, :length])
    np.testing.assert_allclose(ys[b, :length], alone_ys[0], rtol=2e-5, atol=2e-6)
    np.testing.assert_array_equal(ys[b, length:], 0.0)
    assert_trees_close(jax.tree.map(lambda a: a[b], carry), jax.tree.map(lambda a: a[0], alone_carry),
                       rtol=2e-5, atol=2e-6)


def test_gradients_from_padding_are_exactly_zero(xs):
  lengths = jnp.array([TIME, 4, 2])
  layer = layers.RNNLayer(cells.GRU(HID))
  params = init_layer(layer, xs)

  def loss(inputs):
    carry, ys = layer.apply(params, inputs, seq_lengths=lengths)
    return jnp.sum(ys ** 2) + jnp.sum(carry ** 2)

  grad = jax.grad(loss)(xs)
  mask = layers.length_mask(lengths, TIME)
  assert np.all(np.asarray(grad)[~np.asarray(mask)] == 0.0)
  assert np.all(np.abs(np.asarray(grad)[np.asarray(mask)]).sum(-1) > 0)


def test_length_mask():
  np.testing.assert_array_equal(layers.length_mask(jnp.array([3, 0, 1]), 4),
                                [[1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0]])


@pytest.mark.parametrize("with_lengths", [False, True])
def test_bidirectional_matches_two_loops(with_lengths, xs):
  lengths = jnp.array([TIME, 5, 2]) if with_lengths else None
  bi = layers.Bidirectional(layers.RNNLayer(cells.LSTM(HID)), layers.RNNLayer(cells.LSTM(HID), reverse=True))
  params = bi.init(jax.random.key(0), xs)["params"]
  (fw_carry, bw_carry), ys = bi.apply({"params": params}, xs, seq_lengths=lengths)
  assert ys.shape == (BATCH, TIME, 2 * HID)
  for b in range(BATCH):
    length = TIME if lengths is None else int(lengths[b])
    seq = xs[b:b + 1, :length]
    f_carry, f_ys = loop_over_cell(cells.LSTM(HID), params["forward_layer"]["cell"], seq)
    b_carry, b_ys = loop_over_cell(cells.LSTM(HID), params["backward_layer"]["cell"], seq, reverse=True)
    np.testing.assert_allclose(ys[b, :length], jnp.concatenate([f_ys, b_ys], -1)[0], rtol=2e-5, atol=2e-6)
    np.testing.assert_array_equal(ys[b, length:], 0.0)
    final = layers.bidirectional_final_hidden((fw_carry, bw_carry))[b]
    # [h_T(forward); h_1(backward)]: the backward output at t=0 is its final state.
    np.testing.assert_allclose(final, jnp.concatenate([f_ys[0, -1], b_ys[0, 0]]), rtol=2e-5, atol=2e-6)


def test_stacked_network_threads_carries_for_truncated_bptt(xs):
  net = layers.StackedRNN("lstm", HID, num_layers=2)
  params = net.init(jax.random.key(0), xs)
  full_carry, full_ys = net.apply(params, xs)
  carry, first = net.apply(params, xs[:, :4])
  carry, second = net.apply(params, xs[:, 4:], carry)
  np.testing.assert_allclose(jnp.concatenate([first, second], 1), full_ys, rtol=1e-5, atol=1e-6)
  assert_trees_close(carry, full_carry, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variational", [False, True])
def test_output_dropout_masks_per_step_or_per_sequence(variational):
  net = layers.StackedRNN("gru", 64, num_layers=2, output_dropout=0.5, variational=variational)
  xs = jnp.ones((4, 10, 64))
  params = net.init(jax.random.key(0), xs)
  _, deterministic = net.apply(params, xs)
  _, dropped = net.apply(params, xs, deterministic=False, rngs={"dropout": jax.random.key(1)})
  zero = np.asarray(dropped) == 0.0
  assert 0.3 < zero.mean() < 0.7  # the output dropout is there
  # Variational: one mask per sequence, shared by all time steps; otherwise a new one per step.
  assert np.all(zero == zero[:, :1]) == variational
  kept = ~zero
  np.testing.assert_allclose(np.asarray(dropped)[kept], 2.0 * np.asarray(deterministic)[kept], rtol=1e-6)
  _, again = net.apply(params, xs, deterministic=False, rngs={"dropout": jax.random.key(1)})
  np.testing.assert_array_equal(dropped, again)  # a function of the key only


def test_each_dropout_placement_acts_where_it_says_and_never_at_evaluation():
  xs = jax.random.normal(jax.random.key(2), (4, 10, 16))
  rngs = {"dropout": jax.random.key(3)}

  def outputs(num_layers, **rates):
    net = layers.StackedRNN("lstm", 16, num_layers=num_layers, **rates)
    params = net.init(jax.random.key(0), xs)  # the same parameters whatever the rates
    return np.asarray(net.apply(params, xs)[1]), np.asarray(net.apply(params, xs, deterministic=False, rngs=rngs)[1])

  # Input and between-layer dropout change the outputs but zero none of them (the cell sits after the mask).
  for num_layers, rates in ((1, {"input_dropout": 0.5}), (2, {"between_dropout": 0.5})):
    clean, dropped = outputs(num_layers, **rates)
    assert not np.allclose(clean, dropped) and np.all(dropped != 0.0), rates
  # One layer has no "between": that rate changes nothing.
  clean, dropped = outputs(1, between_dropout=0.5)
  np.testing.assert_array_equal(clean, dropped)
  # At evaluation (deterministic) every placement is off.
  net = layers.StackedRNN("lstm", 16, num_layers=2, input_dropout=0.5, between_dropout=0.5, output_dropout=0.5)
  plain = layers.StackedRNN("lstm", 16, num_layers=2)
  params = net.init(jax.random.key(0), xs)
  np.testing.assert_array_equal(net.apply(params, xs)[1], plain.apply(params, xs)[1])


# --- parameter counts: the textbook figures -------------------------------------------------------

def n_params(module, *args):
  return models.count_params(module.init(jax.random.key(0), *args))


def test_lstm_cell_200_inputs_200_units():
  x = jnp.ones((1, 200))
  cell = cells.LSTM(200)
  assert n_params(cell, cell.initialize_carry(None, x.shape), x) == 320_800


@pytest.mark.parametrize("m,n", [(10, 20), (200, 200), (3, 7)])
def test_gru_cell_with_biases(m, n):
  x = jnp.ones((1, m))
  cell = cells.GRU(n)
  assert n_params(cell, cell.initialize_carry(None, x.shape), x) == 3 * (m * n + n * n + n)
  reset_after = cells.GRU(n, reset_after=True)
  assert n_params(reset_after, reset_after.initialize_carry(None, x.shape), x) == 3 * (m * n + n * n + n) + n


def test_simple_rnn_20_inputs_128_units_10_way_output():
  class Net(models.nn.Module):
    @models.nn.compact
    def __call__(self, x):
      _, h = layers.RNNLayer(cells.SimpleRNN(128))(x)
      return models.nn.Dense(10)(h[:, -1])

  assert n_params(Net(), jnp.ones((1, 5, 20))) == 20_362


def test_ptb_small_model_4_651_600():
  model = models.LanguageModel(vocab_size=10_000, embed_dim=200, cell_type="lstm", features=200, num_layers=2)
  assert n_params(model, jnp.ones((1, 3), jnp.int32)) == 4_651_600
  # PyTorch's layout keeps two biases per gate: 4 * 200 more per layer.
  assert 4_651_600 + 2 * 4 * 200 == 4_653_200


def test_tied_embeddings_share_the_matrix():
  model = models.LanguageModel(vocab_size=100, embed_dim=16, cell_type="gru", features=16, tie_embeddings=True)
  untied = models.LanguageModel(vocab_size=100, embed_dim=16, cell_type="gru", features=16)
  tokens = jnp.ones((1, 3), jnp.int32)
  assert n_params(untied, tokens) - n_params(model, tokens) == 100 * 16


# --- truncated BPTT (RNNLayer.bptt_truncation) ------------------------------------------------------

def truncated_reference(cell, cell_params, xs, carry0, k, reverse=False):
  """BPTT(k) unrolled by hand: every output recomputed from the state k steps before it, its gradient stopped.

  The values come from one plain forward pass; output t (in processing order) is then the cell run
  over its own last k inputs from ``stop_gradient(h_{t-k})`` -- or from the initial carry itself,
  gradient kept, when t < k (it is the state "before" the first step, like an input).
  """
  order = range(xs.shape[1] - 1, -1, -1) if reverse else range(xs.shape[1])
  order = list(order)
  apply = lambda h, x: cell.apply({"params": cell_params}, h, x)
  states = [carry0]  # states[i] = the carry before processing step i
  for t in order:
    states.append(apply(states[-1], xs[:, t])[0])
  outputs, final = {}, None
  for i, t in enumerate(order):
    first = max(0, i - k + 1)
    h = states[0] if first == 0 else jax.tree.map(jax.lax.stop_gradient, states[first])
    for j in range(first, i + 1):
      h, y = apply(h, xs[:, order[j]])
    outputs[t], final = y, h
  return final, jnp.stack([outputs[t] for t in range(xs.shape[1])], axis=1)


def _loss_of(fn, weights):
  """A scalar touching every output and the final carry, with fixed random weights."""
  def loss(params, xs, carry0):
    carry, ys = fn(params, xs, carry0)
    return jnp.sum(ys * weights) + sum(0.7 * jnp.sum(leaf) for leaf in jax.tree.leaves(carry))
  return loss


# Every cell at the 4-gram case (3 steps, k = 2); then k = 1, k = full, reversed and longer sequences.
TRUNCATION_CASES = [(name, 3, 2, False) for name in CELL_NAMES] + [
    ("rnn", 3, 1, False), ("lstm", 3, 1, False), ("rnn", 3, 3, False), ("gru", 5, 2, True), ("rnn", 6, 4, False)]


@pytest.mark.parametrize("name,time,k,reverse", TRUNCATION_CASES)
def test_truncated_bptt_gradients_match_the_hand_unrolled_reference(name, time, k, reverse):
  xs = jax.random.normal(jax.random.key(1), (2, time, IN))
  layer = layers.RNNLayer(cells.make_cell(name, HID), reverse=reverse, bptt_truncation=k)
  params = layer.init(jax.random.key(0), xs)["params"]
  carry0 = jax.tree.map(lambda a: a + 0.2, layer.cell.initialize_carry(None, xs[:, 0].shape))
  weights = jax.random.normal(jax.random.key(5), (2, time, HID))
  ours = _loss_of(lambda p, x, c: layer.apply({"params": p}, x, c), weights)
  reference = _loss_of(lambda p, x, c: truncated_reference(cells.make_cell(name, HID), p["cell"], x, c, k, reverse),
                       weights)
  (value, got), (want_value, want) = (jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))(params, xs, carry0)
                                      for f in (ours, reference))
  np.testing.assert_allclose(value, want_value, rtol=1e-5)  # values unchanged
  assert_trees_close(got, want, rtol=2e-5, atol=2e-6)


def test_truncation_horizons_on_three_steps_last_output_only():
  """The 4-gram RNN's case: the loss reads the final state; k = 1, 2 reach 1, 2 inputs back, k = 3 is full BPTT."""
  xs = jax.random.normal(jax.random.key(2), (2, 3, IN))

  def input_grads(k):
    layer = layers.RNNLayer(cells.SimpleRNN(HID), bptt_truncation=k)
    params = layer.init(jax.random.key(0), xs)
    return np.asarray(jax.grad(lambda x: jnp.sum(layer.apply(params, x)[0] ** 2))(xs))

  full = input_grads(None)
  for k in (1, 2, 3):
    grads = input_grads(k)
    # Inputs older than k steps get nothing; the k newest get exactly full BPTT's gradient, since
    # with one output at the end truncation only cuts the paths that reach further back.
    np.testing.assert_array_equal(grads[:, :3 - k], 0.0)
    assert np.all(np.abs(grads[:, 3 - k:]).sum(-1) > 0)
    np.testing.assert_allclose(grads[:, 3 - k:], full[:, 3 - k:], rtol=1e-5, atol=1e-7)
  np.testing.assert_array_equal(input_grads(3), full)  # k >= time: the usual path, bit for bit


def test_truncated_padded_batch_equals_each_sequence_alone(xs):
  lengths = jnp.array([TIME, 4, 1])
  layer = layers.RNNLayer(cells.GRU(HID), bptt_truncation=2)
  params = init_layer(layer, xs)
  loss = lambda p, x, n: jnp.sum(layer.apply(p, x, seq_lengths=n)[1] ** 2)
  grads = jax.grad(loss, argnums=1)(params, xs, lengths)
  for b, length in enumerate(np.asarray(lengths)):
    alone = jax.grad(lambda x: jnp.sum(layer.apply(params, x)[1] ** 2))(xs[b:b + 1, :length])
    np.testing.assert_allclose(grads[b, :length], alone[0], rtol=2e-5, atol=2e-6)
    np.testing.assert_array_equal(grads[b, length:], 0.0)


def test_truncation_runs_on_scan_auto_falls_back_and_explicit_fused_refuses(xs):
  auto = layers.RNNLayer(cells.LSTM(HID), bptt_truncation=2)
  scan = layers.RNNLayer(cells.LSTM(HID), bptt_truncation=2, implementation="scan")
  params = init_layer(auto, xs)
  grad = lambda layer: jax.grad(lambda x: jnp.sum(layer.apply(params, x)[1]))(xs)
  np.testing.assert_array_equal(grad(auto), grad(scan))
  with pytest.raises(ValueError, match="bptt_truncation=2 needs implementation 'scan' or 'auto'"):
    layers.RNNLayer(cells.LSTM(HID), bptt_truncation=2, implementation="fused").apply(params, xs)
  # k >= time truncates nothing, so the fused loop is fine.
  fused = layers.RNNLayer(cells.LSTM(HID), bptt_truncation=TIME, implementation="fused")
  np.testing.assert_allclose(fused.apply(params, xs)[1], layers.RNNLayer(cells.LSTM(HID)).apply(params, xs)[1])


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_truncation_is_a_clear_error(k, xs):
  with pytest.raises(ValueError, match="bptt_truncation must be an int >= 1"):
    init_layer(layers.RNNLayer(cells.SimpleRNN(HID), bptt_truncation=k), xs)
