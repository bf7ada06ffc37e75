"""Tests of rnn_jax.tasks.toy_data against pure-Python references written from the definitions.

Statistical comparisons use fixed seeds and tolerances of several standard errors, so they are
deterministic and far from flaky.
"""
import functools
import math
import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.tasks import toy_data as td

N = 20_000          # samples per distribution comparison
TOL_SE = 5.0        # tolerance, in standard errors


def _close_proportions(p, q, n_p, n_q=None):
  """|p - q| within TOL_SE standard errors of the difference of two sample proportions."""
  pooled = (p * n_p + q * (n_q or 0)) / (n_p + (n_q or 0))
  se = math.sqrt(max(pooled * (1 - pooled), 1e-4) * (1 / n_p + (1 / n_q if n_q else 0)))
  return abs(p - q) <= TOL_SE * se


def _chi_square_ok(counts, probs):
  """Chi-square goodness of fit, accepting anything below mean + 6 sd of the statistic."""
  counts = np.asarray(counts, float)
  expected = np.asarray(probs, float) * counts.sum()
  stat = ((counts - expected) ** 2 / expected).sum()
  dof = len(counts) - 1
  return stat <= dof + 6 * math.sqrt(2 * dof), stat


# ------------------------------------------------------------------------------------------------
# Palindrome: pure-Python reference
# ------------------------------------------------------------------------------------------------

def ref_palindrome_from_draws(digits, flip, length):
  """(inputs, label) as lists, from the digits and the reversal flag."""
  s = "".join(bin(d)[2:] for d in digits)
  if flip:
    s = s[::-1]
  palindrome = s + s[::-1]
  symbols = [-1] * (4 * length + 2 - len(palindrome)) + [int(c) for c in palindrome]
  return [x + 1 for x in symbols[:-1]], symbols[-1]


def ref_palindrome(rng, length):
  digits = [rng.randrange(9) for _ in range(math.ceil(length / 2))]
  return ref_palindrome_from_draws(digits, rng.random() < 0.5, length)


def palindrome_stats(inputs, labels):
  """Observable statistics of a palindrome batch (numpy [N, 4T+1], [N])."""
  inputs, labels = np.asarray(inputs), np.asarray(labels)
  n = ((inputs != 0).sum(axis=1) + 1) // 2                    # len(s)
  pad = inputs.shape[1] + 1 - 2 * n
  middle = inputs[np.arange(len(n)), pad + n - 1] - 1           # last symbol of s
  ones = (inputs == 2).sum(axis=1) + labels                      # ones in the palindrome
  return dict(n=n, label=labels, middle=middle, ones=ones)


@pytest.fixture(scope="module")
def jax_palindromes():
  return jax.device_get(td.palindrome_batch(jax.random.key(1), N, 20))


@pytest.fixture(scope="module")
def ref_palindromes():
  rng = random.Random(1)
  samples = [ref_palindrome(rng, 20) for _ in range(N)]
  return np.array([s[0] for s in samples]), np.array([s[1] for s in samples])


# ------------------------------------------------------------------------------------------------
# Palindrome tests
# ------------------------------------------------------------------------------------------------

def test_palindrome_constants():
  assert td.PALINDROME_VOCAB_SIZE == 3 and td.PALINDROME_NUM_CLASSES == 2
  assert td.palindrome_input_length(20) == 81


@pytest.mark.parametrize("length", [2, 6, 20])
def test_palindrome_matches_reference_construction_exactly(length):
  key = jax.random.key(length)
  digits, flips = jax.device_get(td._palindrome_draws(key, N, length))
  inputs, labels = jax.device_get(td.palindrome_batch(key, N, length))
  assert inputs.shape == (N, 4 * length + 1) and inputs.dtype == np.int32
  assert labels.shape == (N,) and labels.dtype == np.int32
  assert digits.shape == (N, length // 2)
  for d, f, x, y in zip(digits.tolist(), flips.tolist(), inputs.tolist(), labels.tolist()):
    assert (x, y) == ref_palindrome_from_draws(d, f, length)


def test_palindrome_extreme_digits():
  length = 6                                          # all 8s: 4T symbols, the longest
  cases = [(digit, flip) for digit in (0, 1, 5, 8) for flip in (False, True)]
  digits = jnp.array([[digit] * (length // 2) for digit, _ in cases], jnp.int32)
  flips = jnp.array([flip for _, flip in cases])
  inputs, labels = jax.device_get(td._palindrome_from_draws(digits, flips, length))
  for (digit, flip), x, y in zip(cases, inputs.tolist(), labels.tolist()):
    assert (x, y) == ref_palindrome_from_draws([digit] * (length // 2), flip, length)
  assert inputs[-1].tolist()[:2] == [0, 0] and (inputs[-1, 2:] != 0).all()


def test_palindrome_samples_are_left_padded_palindromes(jax_palindromes):
  inputs, labels = jax_palindromes
  assert inputs.shape == (N, 81)
  assert set(np.unique(inputs)) <= {0, 1, 2} and set(np.unique(labels)) <= {0, 1}
  for x, y in zip(inputs[:5000], labels[:5000]):
    start = int(np.argmax(x != 0))
    assert start >= 2                                 # even T: always >= 2 padding symbols
    body = x[start:]
    assert (body != 0).all()                          # padding only on the left
    palindrome = (body - 1).tolist() + [int(y)]
    assert palindrome == palindrome[::-1] and len(palindrome) % 2 == 0
    assert int(y) == body[0] - 1                      # label = first non-padding symbol - 1


def test_palindrome_statistics_match_reference(jax_palindromes, ref_palindromes):
  ours, ref = palindrome_stats(*jax_palindromes), palindrome_stats(*ref_palindromes)
  # Length of the digit string s (10 digits of 1..4 bits): every bin of the histogram.
  for value in range(10, 41):
    p, q = (ours["n"] == value).mean(), (ref["n"] == value).mean()
    assert _close_proportions(p, q, N, N), (value, p, q)
  assert abs(ours["n"].mean() - 10 * 22 / 9) < TOL_SE * ours["n"].std() / math.sqrt(N)
  # Label, last digit of s and number of ones.
  for name in ("label", "middle"):
    p, q = ours[name].mean(), ref[name].mean()
    assert _close_proportions(p, q, N, N), (name, p, q)
  assert _close_proportions(ours["label"].mean(), 2 / 3, N)      # majority class ~0.667
  se = math.sqrt(ours["ones"].var() / N + ref["ones"].var() / N)
  assert abs(ours["ones"].mean() - ref["ones"].mean()) < TOL_SE * se
  # Fraction reversed, inferred from the label: P(label=1) = (1-f) 8/9 + f 4/9.
  f_ours, f_ref = [(8 / 9 - s["label"].mean()) * 9 / 4 for s in (ours, ref)]
  assert abs(f_ours - f_ref) < TOL_SE * 9 / 4 * math.sqrt(2 * (2 / 9) / N)
  assert abs(f_ours - 0.5) < TOL_SE * 9 / 4 * math.sqrt((2 / 9) / N)


def test_palindrome_draws_are_uniform():
  digits, flips = jax.device_get(td._palindrome_draws(jax.random.key(3), N, 20))
  ok, stat = _chi_square_ok(np.bincount(digits.ravel(), minlength=9), [1 / 9] * 9)
  assert ok, stat
  assert _close_proportions(flips.mean(), 0.5, N)


@pytest.mark.parametrize("length", [0, 1, 3, 21])
def test_palindrome_rejects_odd_or_small_length(length):
  with pytest.raises(ValueError):
    td.palindrome_batch(jax.random.key(0), 4, length)


# ------------------------------------------------------------------------------------------------
# Baum--Sweet
# ------------------------------------------------------------------------------------------------

def ref_baum_sweet(n):
  return int(all(len(block) % 2 == 0 for block in bin(n)[2:].split("1")))


def decode_binary(row):
  """The integer whose expansion a row of {0 = pad, 1 = '0', 2 = '1'} spells; checks the padding."""
  row = np.asarray(row)
  start = int(np.argmax(row != 0))
  assert row[start] == 2 and (row[start:] != 0).all()
  return int("".join(str(v - 1) for v in row[start:]), 2)


def _to_words(n, num_words):
  return [(n >> (32 * (num_words - 1 - i))) & 0xFFFFFFFF for i in range(num_words)]


def test_baum_sweet_label_on_multiword_integers():
  rng = random.Random(0)
  numbers = [0, 1, 2, 3, 4, 9, 10, 2**32, 2**33, 2**64 - 1, 2**65, 3 * 2**62]
  for _ in range(3000):     # mostly valid structure ('1' and '00' tokens) with occasional '0's
    tokens = rng.choices(["1", "00", "0"], weights=[5, 4, 1 if rng.random() < 0.5 else 0], k=60)
    numbers.append(int("1" + "".join(tokens), 2) >> rng.randrange(10))
  numbers = [n % 2**96 for n in numbers]
  words = jnp.array([_to_words(n, 3) for n in numbers], jnp.uint32)
  got = np.asarray(td.baum_sweet_label(words))
  expected = [ref_baum_sweet(n) if n else 0 for n in numbers]
  assert got.tolist() == expected
  assert 0.2 < np.mean(expected) < 0.8


@functools.lru_cache(maxsize=None)
def baum_sweet_samples(length):
  """One batch per length (N samples for small T, fewer for large T), as numpy arrays."""
  batch_size = N if length <= 5 else 2000
  return jax.device_get(td.baum_sweet_batch(jax.random.key(length), batch_size, length))


@pytest.mark.parametrize("length", [2, 5, 10, 20])
def test_baum_sweet_samples_follow_definition(length):
  inputs, labels = baum_sweet_samples(length)
  batch_size = len(labels)
  assert inputs.shape == (batch_size, 4 * length) and inputs.dtype == np.int32
  assert labels.shape == (batch_size,) and labels.dtype == np.int32
  for x, y in zip(inputs, labels.tolist()):
    n = decode_binary(x)
    assert 10 <= n <= 10**length
    assert y == ref_baum_sweet(n)


def _exact_baum_sweet_distribution(length):
  """P(n) of the course's sampler: uniform on 10..10^T, kept with prob 1 (b = 1) or 0.016724."""
  numbers = np.arange(10, 10**length + 1)
  labels = np.array([ref_baum_sweet(int(n)) for n in numbers])
  weights = np.where(labels == 1, 1.0, td.BAUM_SWEET_KEEP_ZERO_PROB)
  return numbers, labels, weights / weights.sum()


def test_baum_sweet_exact_distribution_small_length():
  numbers, _, probs = _exact_baum_sweet_distribution(2)
  inputs, _ = baum_sweet_samples(2)
  values = np.array([decode_binary(x) for x in inputs])
  counts = np.array([(values == n).sum() for n in numbers])
  assert counts.sum() == N
  ok, stat = _chi_square_ok(counts, probs)
  assert ok, stat


def test_baum_sweet_label_rate_and_bit_lengths():
  numbers, labels_exact, probs = _exact_baum_sweet_distribution(5)
  inputs, labels = baum_sweet_samples(5)
  assert _close_proportions(labels.mean(), (probs * labels_exact).sum(), N)
  bit_lengths = np.array([int(n).bit_length() for n in numbers])
  ours = (inputs != 0).sum(axis=1)
  for bits in range(4, 18):
    assert _close_proportions((ours == bits).mean(), probs[bit_lengths == bits].sum(), N), bits


def test_baum_sweet_rejects_bad_length():
  with pytest.raises(ValueError):
    td.baum_sweet_batch(jax.random.key(0), 4, 0)


# ------------------------------------------------------------------------------------------------
# Random combinations
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [2, 10])
def test_random_combination_is_permutation_minus_label(length):
  inputs, labels = jax.device_get(td.random_combination_batch(jax.random.key(length), N, length))
  assert inputs.shape == (N, length - 1) and inputs.dtype == np.int32
  assert labels.shape == (N,) and labels.dtype == np.int32
  full = np.sort(np.concatenate([inputs, labels[:, None]], axis=1), axis=1)
  assert (full == np.arange(length)).all()
  uniform = [1 / length] * length
  for column in (labels, inputs[:, 0]):          # uniform label and first input
    ok, stat = _chi_square_ok(np.bincount(column, minlength=length), uniform)
    assert ok, stat


def test_random_combination_sizes_and_bad_length():
  assert td.random_combination_input_length(10) == 9
  assert td.random_combination_vocab_size(10) == td.random_combination_num_classes(10) == 10
  with pytest.raises(ValueError):
    td.random_combination_batch(jax.random.key(0), 4, 1)


# ------------------------------------------------------------------------------------------------
# Registry, determinism, jit and vmap
# ------------------------------------------------------------------------------------------------

LENGTHS = {"palindrome": 6, "baum_sweet": 6, "random_combination": 6}


def test_registry_contents():
  assert set(td.TOY_TASKS) == {"palindrome", "baum_sweet", "random_combination"}
  task = td.TOY_TASKS["palindrome"]
  assert (task.vocab_size(20), task.num_classes(20), task.input_length(20)) == (3, 2, 81)
  task = td.TOY_TASKS["baum_sweet"]
  assert (task.vocab_size(20), task.num_classes(20), task.input_length(20)) == (3, 2, 80)
  task = td.TOY_TASKS["random_combination"]
  assert (task.vocab_size(20), task.num_classes(20), task.input_length(20)) == (20, 20, 19)
  with pytest.raises(Exception):
    task.vocab_size = None                       # frozen


@pytest.mark.parametrize("name", sorted(LENGTHS))
def test_task_shapes_ranges_and_determinism(name):
  task, length = td.TOY_TASKS[name], LENGTHS[name]
  key = jax.random.key(11)
  inputs, labels = task.batch_fn(key, 32, length)
  assert inputs.shape == (32, task.input_length(length)) and labels.shape == (32,)
  assert inputs.dtype == labels.dtype == jnp.int32
  assert 0 <= int(inputs.min()) and int(inputs.max()) < task.vocab_size(length)
  assert 0 <= int(labels.min()) and int(labels.max()) < task.num_classes(length)
  again = task.batch_fn(key, 32, length)
  other = task.batch_fn(jax.random.key(12), 32, length)
  assert (np.asarray(inputs) == np.asarray(again[0])).all()
  assert (np.asarray(labels) == np.asarray(again[1])).all()
  assert (np.asarray(inputs) != np.asarray(other[0])).any()


@pytest.mark.parametrize("name", sorted(LENGTHS))
def test_task_under_jit_and_vmap_over_seeds(name):
  """As the training engine calls it: jitted, vmapped over seed keys, folded with a traced step."""
  task, length = td.TOY_TASKS[name], LENGTHS[name]
  seed_keys = jax.random.split(jax.random.key(5), 3)

  @jax.jit
  def batches(seed_keys, step):
    return jax.vmap(lambda k: task.batch_fn(jax.random.fold_in(k, step), 32, length))(seed_keys)

  inputs, labels = batches(seed_keys, jnp.int32(4))
  assert inputs.shape == (3, 32, task.input_length(length)) and labels.shape == (3, 32)
  for i, k in enumerate(seed_keys):
    x, y = task.batch_fn(jax.random.fold_in(k, 4), 32, length)
    assert (np.asarray(inputs[i]) == np.asarray(x)).all()
    assert (np.asarray(labels[i]) == np.asarray(y)).all()
  assert (np.asarray(inputs[0]) != np.asarray(inputs[1])).any()
  next_inputs, _ = batches(seed_keys, jnp.int32(5))
  assert (np.asarray(next_inputs) != np.asarray(inputs)).any()
