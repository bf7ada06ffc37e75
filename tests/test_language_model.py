"""PTB-style batching, truncated BPTT with carried state, and perplexity arithmetic."""
import jax
import pytest
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict

from rnn_jax import models
from rnn_jax.tasks import language_model as lm


def test_windows_concatenate_back_to_the_stream():
  ids = np.arange(1003, dtype=np.int32)
  streams = lm.stream_batches(ids, batch_size=4)  # [4, 250]
  assert streams.shape == (4, 250)
  np.testing.assert_array_equal(streams.reshape(-1), ids[:1000])
  n = lm.num_windows(streams, window_tokens=7)
  assert n == (250 - 1) // 7
  xs, ys = zip(*(lm.window(jnp.asarray(streams), i, 7) for i in range(n)))
  np.testing.assert_array_equal(np.concatenate(xs, axis=1), streams[:, :7 * n])
  np.testing.assert_array_equal(np.concatenate(ys, axis=1), streams[:, 1:7 * n + 1])  # targets: shifted by one


def test_carried_state_over_windows_equals_one_long_run():
  model = models.LanguageModel(vocab_size=50, embed_dim=8, cell_type="lstm", features=8, num_layers=2)
  tokens = jax.random.randint(jax.random.key(0), (3, 40), 0, 50)
  params = model.init(jax.random.key(1), tokens[:, :5])
  full_carry, full_logits = model.apply(params, tokens)
  carry, pieces = None, []
  for start in range(0, 40, 10):
    carry, logits = model.apply(params, tokens[:, start:start + 10], carry)
    pieces.append(logits)
  np.testing.assert_allclose(jnp.concatenate(pieces, 1), full_logits, rtol=1e-5, atol=1e-5)
  for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(full_carry)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_top1_correct_matches_argmax_and_counts_a_tied_target_as_correct():
  logits = np.asarray(jax.random.normal(jax.random.key(4), (3, 50, 97)))
  targets = np.array(jax.random.randint(jax.random.key(5), (3, 50), 0, 97))
  targets[0, :10] = logits[0, :10].argmax(-1)  # some hits for sure
  expected = (logits.argmax(-1) == targets).astype(np.float32)
  np.testing.assert_array_equal(lm.top1_correct(jnp.asarray(logits), jnp.asarray(targets)), expected)
  assert expected.sum() >= 10
  assert float(lm.token_sums(jnp.asarray(logits), jnp.asarray(targets))["accuracy"][0]) == expected.sum()
  tied = jnp.array([[1.0, 3.0, 3.0]])
  np.testing.assert_array_equal(lm.top1_correct(tied, jnp.array([2])), [1.0])  # argmax would say 1
  np.testing.assert_array_equal(lm.top1_correct(tied, jnp.array([0])), [0.0])


def test_perplexity_is_exp_of_total_nll_over_total_tokens():
  logits = jax.random.normal(jax.random.key(2), (2, 5, 7))
  targets = jax.random.randint(jax.random.key(3), (2, 5), 0, 7)
  sums = lm.token_sums(logits, targets)
  logp = jax.nn.log_softmax(logits)
  nll = -np.take_along_axis(np.asarray(logp), np.asarray(targets)[..., None], -1).sum()
  np.testing.assert_allclose(sums["loss"][0], nll, rtol=1e-5)
  assert float(sums["loss"][1]) == 10
  # Two "batches" of different sizes: the split's perplexity is not the mean of batch perplexities.
  task = lm.WordLanguageModelTask.__new__(lm.WordLanguageModelTask)
  merged = task.reduce_metrics({"loss": (np.array(2.0 * 10 + 4.0 * 30), np.array(40.0))})
  np.testing.assert_allclose(merged["perplexity"], np.exp(3.5))
  assert not np.isclose(merged["perplexity"], (np.exp(2.0) + np.exp(4.0)) / 2)


# --- evaluation covers every token ----------------------------------------------------------------

def test_eval_streams_predict_every_token_but_the_first_exactly_once():
  ids = np.arange(100, 123, dtype=np.int32)  # 23 tokens: 22 targets
  streams, weights = lm.eval_streams(ids, batch_size=3, window_tokens=4)
  # ceil(22 / 3) = 8 targets per stream, whole windows of 4: 8 positions, 9 tokens per stream.
  np.testing.assert_array_equal(streams, [list(range(100, 109)), list(range(108, 117)),
                                          list(range(116, 123)) + [0, 0]])
  np.testing.assert_array_equal(weights, [[1] * 8, [1] * 8, [1] * 6 + [0, 0]])
  pairs = [(int(streams[b, t]), int(streams[b, t + 1])) for b in range(3) for t in range(8) if weights[b, t]]
  assert sorted(pairs) == [(i, i + 1) for i in range(100, 122)]
  one, w1 = lm.eval_streams(ids, batch_size=1, window_tokens=20)  # the reference test: one stream
  assert one.shape == (1, 41) and w1.sum() == 22 and np.all(one[0, :23] == ids)


def numpy_lm_nll(params, tokens, num_layers):
  """Summed NLL of every next token of ``tokens`` from a zero state: float64 NumPy from the equations."""
  from tests.test_cells import ref_lstm
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  embed = p["embed"]["embedding"]
  hs = embed[tokens[:-1]]  # [time, embed]
  for layer in range(num_layers):
    cell = p["rnn"][f"layer_{layer}"]["cell"]
    carry = (np.zeros(cell["recurrent_kernel"].shape[0]),) * 2
    outputs = []
    for x in hs:
      carry, h = ref_lstm(cell, carry, x)
      outputs.append(h)
    hs = np.stack(outputs)
  logits = hs @ embed.T + p["output_bias"]  # tied embeddings
  logits = logits - logits.max(-1, keepdims=True)
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  return -logp[np.arange(len(tokens) - 1), tokens[1:]].sum()


@pytest.mark.parametrize("eval_batch_size", [1, 3])
def test_evaluation_equals_a_float64_numpy_forward_over_every_token(eval_batch_size):
  model = models.LanguageModel(vocab_size=13, embed_dim=6, cell_type="lstm", features=6, num_layers=2,
                               tie_embeddings=True)
  ids = np.asarray(jax.random.randint(jax.random.key(7), (23,), 0, 13), np.int32)
  params = model.init(jax.random.key(8), jnp.zeros((1, 4), jnp.int32))["params"]
  task = lm.WordLanguageModelTask.__new__(lm.WordLanguageModelTask)
  task.model, task.window = model, 4
  streams, weights = lm.eval_streams(ids, eval_batch_size, 4)
  data = {"eval_valid": jnp.asarray(streams), "eval_valid_weights": jnp.asarray(weights)}
  sums = task.evaluate(params, data, None, "valid", 0)
  per = -(-22 // eval_batch_size)
  expected = sum(numpy_lm_nll(params, ids[b * per:b * per + per + 1], 2) for b in range(eval_batch_size))
  assert float(sums["loss"][1]) == 22.0  # every target, no padding
  np.testing.assert_allclose(float(sums["loss"][0]), expected, rtol=1e-5)


def test_char_evaluation_counts_every_character_but_the_first():
  model = models.LanguageModel(vocab_size=9, embed_dim=4, cell_type="lstm", features=5, num_layers=1)
  text = np.asarray(jax.random.randint(jax.random.key(9), (47,), 0, 9), np.int32)
  params = model.init(jax.random.key(10), jnp.zeros((1, 10), jnp.int32))["params"]
  task = lm.CharLanguageModelTask.__new__(lm.CharLanguageModelTask)
  task.model, task.window = model, 10
  task.config = ConfigDict({"data": {"eval_batch_size": 3}})
  sums = task.evaluate(params, {"valid": jnp.asarray(text)}, None, "valid", 0)
  assert float(sums["loss"][1]) == 46.0
  # Windows of 10 from a zero state each: 0-10, 10-20, 20-30, 30-40, 40-46 (the last one short).
  expected = 0.0
  for start in range(0, 46, 10):
    chunk = text[start:start + 11]
    _, logits = model.apply({"params": params}, jnp.asarray(chunk[None, :-1]))
    logp = jax.nn.log_softmax(logits[0].astype(jnp.float32))
    expected -= float(np.take_along_axis(np.asarray(logp), chunk[1:, None], -1).sum())
  np.testing.assert_allclose(float(sums["loss"][0]), expected, rtol=1e-5)


# --- dropout placements ----------------------------------------------------------------------------

def test_word_dropout_drops_whole_rows_of_the_embedding():
  scale = models.word_dropout_scale(jax.random.key(3), jnp.tile(jnp.arange(50), (4, 3)), 50, 0.4)  # [4, 150, 1]
  scale = np.asarray(scale)[..., 0]
  assert set(np.unique(scale)) <= {0.0, np.float32(1 / 0.6)}
  per_word = scale.reshape(4, 3, 50)
  assert np.all(per_word == per_word[:1, :1])  # one decision per word, wherever it occurs in the batch
  assert 0.15 < (per_word[0, 0] == 0).mean() < 0.65


def test_language_model_dropout_is_off_at_evaluation_and_a_function_of_the_key():
  kwargs = dict(vocab_size=30, embed_dim=8, cell_type="gru", features=8, num_layers=2, tie_embeddings=True)
  model = models.LanguageModel(word_dropout=0.2, input_dropout=0.3, between_dropout=0.3, output_dropout=0.3,
                               variational=True, **kwargs)
  plain = models.LanguageModel(**kwargs)
  tokens = jax.random.randint(jax.random.key(0), (3, 12), 0, 30)
  params = model.init(jax.random.key(1), tokens)
  np.testing.assert_array_equal(model.apply(params, tokens)[1], plain.apply(params, tokens)[1])
  train = lambda k: model.apply(params, tokens, deterministic=False, rngs={"dropout": jax.random.key(k)})[1]
  np.testing.assert_array_equal(train(5), train(5))
  assert not np.allclose(train(5), train(6))
