"""PTB-style batching, truncated BPTT with carried state, and perplexity arithmetic."""
import jax
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
  n = lm.num_windows(streams, num_steps=7)
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
