"""Toy sequence-classification tasks of the UvA Deep Learning course (2020, assignment 2, part 1).

Every generator is pure JAX and deterministic given a PRNG key: ``fn(key, batch_size, length)``
returns ``(inputs, labels)``, int32 arrays ``[batch, input_length(length)]`` and ``[batch]``.
``batch_size`` and ``length`` must be static (Python ints); the functions are jitted with them as
static arguments and can be called inside ``jax.jit`` / ``jax.vmap`` (e.g. over seed keys). There
are no Python loops over the batch.

The definitions follow the course's own ``datasets.py`` (uvadlc/uvadlc_practicals_2020,
``assignment_2/2_recurrentnns_gnns/code/Part 1/``); ``length`` is the course's ``seq_length`` /
``--input_length`` argument, written T below. Tokens of the two binary tasks are the course's
encoding: 0 = padding, 1 = bit '0', 2 = bit '1' (the course feeds them as floats; embed or one-hot
them as the model requires).

* ``palindrome`` -- binary palindromes, label = their last digit. See ``palindrome_batch``.
* ``baum_sweet`` -- binary expansion of a random integer, label = its Baum--Sweet value. See
  ``baum_sweet_batch``.
* ``random_combination`` -- a permutation of 0..T-1 without its last entry, label = the missing
  entry. See ``random_combination_batch``.

``TOY_TASKS`` maps these names to a ``ToyTask`` (generator plus vocabulary size, number of classes
and input length as functions of T -- the random-combination task's vocabulary and classes grow
with T, so all three are functions for every task).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array
BatchFn = Callable[[Array, int, int], tuple[Array, Array]]

_static = functools.partial(jax.jit, static_argnames=("batch_size", "length"))


def _check_length(name: str, length: int, minimum: int) -> None:
  if length < minimum:
    raise ValueError(f"{name}: length must be >= {minimum}, got {length!r}.")


# ------------------------------------------------------------------------------------------------
# Binary palindromes
# ------------------------------------------------------------------------------------------------

PALINDROME_VOCAB_SIZE = 3    # 0 = padding, 1 = '0', 2 = '1'
PALINDROME_NUM_CLASSES = 2   # the last digit, 0 or 1
_MAX_DIGIT_BITS = 4          # bin(8) = '1000'


def palindrome_input_length(length: int) -> int:
  """Input length 4T+1 (the padded palindrome has 4T+2 symbols; the last one is the label)."""
  return 4 * length + 1


def check_palindrome_length(length: int) -> None:
  _check_length("palindrome", length, 2)
  if length % 2:
    raise ValueError(
        f"palindrome: length T must be even, got {length}. For odd T the course's generator can "
        f"build a palindrome of 8*ceil(T/2) = 4T+4 > 4T+2 symbols (all digits 8), which it neither "
        f"pads nor truncates.")


@_static
def _palindrome_draws(key: Array, batch_size: int, length: int) -> tuple[Array, Array]:
  """The random part: ``digits`` int32 [batch, T/2] uniform in 0..8, ``flips`` bool [batch]."""
  check_palindrome_length(length)
  digit_key, flip_key = jax.random.split(key)
  digits = jax.random.randint(digit_key, (batch_size, length // 2), 0, 9, dtype=jnp.int32)
  flips = jax.random.bernoulli(flip_key, 0.5, (batch_size,))
  return digits, flips


@functools.partial(jax.jit, static_argnames=("length",))
def _palindrome_from_draws(digits: Array, flips: Array, length: int) -> tuple[Array, Array]:
  """The deterministic part: builds (inputs [batch, 4T+1], labels [batch]) from the draws."""
  total = palindrome_input_length(length) + 1                              # 4T+2
  full = _padded_palindromes(digits, digits.shape[1], flips, total, total)  # [B, 4T+2]
  return (full[:, :-1] + 1).astype(jnp.int32), full[:, -1].astype(jnp.int32)


def _padded_palindromes(digits: Array, num_digits, flips: Array, total, width: int) -> Array:
  """Each sample's palindrome s + reversed(s), left-padded with -1 to ``total`` symbols, in ``width`` slots.

  ``digits`` [B, k]: only the first ``num_digits`` (a scalar or [B]) of each row are used;
  ``total`` (a scalar or [B], at most ``width``) is 4T+2 of the sample's T. Slots from ``total``
  on (right padding of a shorter sample) hold -1 too. Returns int32 [B, width].
  """
  batch_size, k = digits.shape
  used = jnp.arange(k)[None, :] < jnp.reshape(num_digits, (-1, 1))        # [B or 1, k]
  # Bits of each digit, MSB first, in 4 slots per digit; slots past the digit's width are invalid.
  widths = 1 + (digits >= 2) + (digits >= 4) + (digits >= 8)               # [B, k]: len(bin(d)) - 2
  widths = jnp.where(used, widths, 0)                                      # unused digits: no bits
  shifts = widths[:, :, None] - 1 - jnp.arange(_MAX_DIGIT_BITS)            # [B, k, 4]
  bits = (digits[:, :, None] >> jnp.maximum(shifts, 0)) & 1                # [B, k, 4]
  valid = shifts >= 0                                                      # [B, k, 4]
  bits = bits.reshape(batch_size, k * _MAX_DIGIT_BITS)                     # [B, 4k]
  valid = valid.reshape(batch_size, k * _MAX_DIGIT_BITS)                   # [B, 4k]

  # s = concatenated binary strings: move the valid slots to the front, keeping their order.
  order = jnp.argsort(~valid, axis=1, stable=True)                         # [B, 4k]
  s = jnp.take_along_axis(bits, order, axis=1)                             # [B, 4k]; s[:, :n] used
  n = widths.sum(axis=1)[:, None]                                          # [B, 1], len(s)

  # Reverse s[:n] where flipped.
  j = jnp.arange(s.shape[1])                                               # [4k]
  reversed_s = jnp.take_along_axis(s, jnp.clip(n - 1 - j, 0), axis=1)      # [B, 4k]
  s = jnp.where(flips[:, None], reversed_s, s)                             # [B, 4k]

  # s + reversed(s), right-aligned in `total` symbols and left-padded with -1. Counting positions
  # from the sample's right end (r = 0 is its last symbol), the palindrome holds s[r] for r < n
  # and s[2n-1-r] for n <= r < 2n; r < 0 lies past the sample's end.
  r = jnp.reshape(total, (-1, 1)) - 1 - jnp.arange(width)                  # [B or 1, width]
  source = jnp.clip(jnp.where(r < n, r, 2 * n - 1 - r), 0, s.shape[1] - 1) # [B, width]
  inside = (r >= 0) & (r < 2 * n)                                          # [B, width]
  return jnp.where(inside, jnp.take_along_axis(s, source, axis=1), -1)    # [B, width]


@_static
def palindrome_batch(key: Array, batch_size: int, length: int) -> tuple[Array, Array]:
  """A batch of the binary-palindrome task for an even length T >= 2.

  Each sample, as the course's ``BinaryPalindromeDataset(T)``:

  1. draw T/2 digits uniformly from 0..8 and write each in binary without leading zeros
     (``bin(d)[2:]``: 0 -> '0', 8 -> '1000') and concatenate them into a string s;
  2. reverse s with probability 1/2;
  3. the palindrome is s + reversed(s) (even length, at most 8 * T/2 = 4T);
  4. left-pad it with -1 to 4T+2 symbols (so there are always >= 2 padding symbols);
  5. inputs = the first 4T+1 symbols + 1 (0 = padding, 1 = '0', 2 = '1'); label = the last symbol.

  The label equals the first non-padding input symbol minus 1; P(label = 1) = (8/9 + 4/9) / 2 =
  2/3, so always predicting 1 scores ~0.667.

  Odd T is rejected with a ValueError: the course computes ceil(T/2) digits, so for odd T the
  palindrome can reach 8 * (T+1)/2 = 4T+4 > 4T+2 symbols (when every digit is 8, probability
  9^-(T+1)/2); its code then neither pads nor truncates and emits an over-long sample, which its
  DataLoader cannot batch. Its default T (6) is even.

  Returns:
    inputs: int32 [batch_size, 4T+1] in {0, 1, 2}; labels: int32 [batch_size] in {0, 1}.
  """
  digits, flips = _palindrome_draws(key, batch_size, length)
  return _palindrome_from_draws(digits, flips, length)


@functools.partial(jax.jit, static_argnames=("batch_size", "min_length", "max_length"))
def variable_palindrome_batch(key: Array, batch_size: int, min_length: int, max_length: int
                              ) -> tuple[Array, Array, Array]:
  """Palindromes whose length T varies inside the batch, right-padded to the longest possible.

  Each sample draws its T uniformly from the even integers in ``[min_length, max_length]`` and is
  then exactly ``palindrome_batch``'s sample of that T (its 4T+1 inputs, left padding included,
  and its label) -- the same digits and flip give the same symbols. The batch is right-padded
  with 0 to ``4 * max_length + 1`` columns; ``seq_lengths`` = 4T+1 says where each sample ends
  (the model must not read past it: ``SequenceClassifier(..., seq_lengths)``).

  Returns:
    inputs: int32 [batch_size, 4*max_length+1] in {0, 1, 2}; labels: int32 [batch_size] in {0, 1};
    seq_lengths: int32 [batch_size], each 4T+1.
  """
  check_palindrome_length(min_length)
  check_palindrome_length(max_length)
  if min_length > max_length:
    raise ValueError(f"palindrome: min_length {min_length} > max_length {max_length}")
  length_key, draw_key = jax.random.split(key)
  choices = (max_length - min_length) // 2 + 1
  lengths = min_length + 2 * jax.random.randint(length_key, (batch_size,), 0, choices, dtype=jnp.int32)  # [B]
  digits, flips = _palindrome_draws(draw_key, batch_size, max_length)      # [B, max/2], [B]
  seq_lengths = 4 * lengths + 1                                            # [B]
  width = palindrome_input_length(max_length) + 1                         # 4 max + 2
  full = _padded_palindromes(digits, lengths // 2, flips, seq_lengths + 1, width)  # [B, 4 max + 2]
  inputs = jnp.where(jnp.arange(width - 1)[None, :] < seq_lengths[:, None], full[:, :-1] + 1, 0)
  labels = jnp.take_along_axis(full, seq_lengths[:, None], axis=1)[:, 0]   # symbol 4T+1 of each sample
  return inputs.astype(jnp.int32), labels.astype(jnp.int32), seq_lengths


# ------------------------------------------------------------------------------------------------
# Baum--Sweet
# ------------------------------------------------------------------------------------------------

BAUM_SWEET_VOCAB_SIZE = 3    # 0 = padding, 1 = '0', 2 = '1'
BAUM_SWEET_NUM_CLASSES = 2
BAUM_SWEET_MIN_INTEGER = 10
BAUM_SWEET_KEEP_ZERO_PROB = 0.016724   # course's acceptance probability of a label-0 draw
_BAUM_SWEET_MAX_POOL = 1 << 16         # candidates drawn per round of rejection sampling, at most


def baum_sweet_input_length(length: int) -> int:
  """Input length 4T (binary expansions of integers <= 10^T have <= 3.33T+1 <= 4T bits)."""
  return 4 * length


def _int_to_words(value: int, num_words: int) -> list[int]:
  """``value`` as ``num_words`` 32-bit words, most significant first."""
  return [(value >> (32 * (num_words - 1 - i))) & 0xFFFFFFFF for i in range(num_words)]


def _words_le(words: Array, bound: list[int]) -> Array:
  """n <= bound for integers given as uint32 words [..., W], most significant first."""
  le = jnp.ones(words.shape[:-1], bool)                # equal so far counts as <=
  for w in reversed(range(words.shape[-1])):           # least significant word first
    b = jnp.uint32(bound[w])
    le = (words[..., w] < b) | ((words[..., w] == b) & le)
  return le


def baum_sweet_label(words: Array) -> Array:
  """Baum--Sweet value b(n) of integers given as uint32 words [..., W], most significant first.

  b(n) = 1 if the binary expansion of n has no maximal block of 0s of odd length, else 0 (the
  course's ``check_baum_sweet``; n = 0, which the course writes '0', gets 0). Equivalently b(n) = 1
  iff every 1 bit of n has an even number of 0 bits below it (the blocks are the differences of
  these counts; the lowest block is the count of the lowest 1). Those parities are prefix XORs of
  ~n, computed with shifts, carrying the parity of the lower words upwards.
  """
  words = words.astype(jnp.uint32)
  odd = jnp.zeros(words.shape[:-1], bool)              # some 1 bit has an odd number of 0s below
  carry = jnp.zeros(words.shape[:-1], jnp.uint32)      # all ones iff the lower words have odd 0s
  for w in reversed(range(words.shape[-1])):           # least significant word first
    n = words[..., w]
    parity = ~n                                        # 1 where n has a 0 bit
    for shift in (1, 2, 4, 8, 16):
      parity ^= parity << shift                        # bit j: parity of the 0s at bits <= j
    below = (parity << 1) ^ carry                      # bit j: parity of all 0s below bit j
    odd |= (n & below) != 0
    carry ^= jnp.uint32(0) - (parity >> 31)            # fold in this word's parity
  # (Unused high bits of the top word read as 0s of n, but no 1 bit lies above them.)
  return (~odd & (words != 0).any(axis=-1)).astype(jnp.int32)


@_static
def baum_sweet_batch(key: Array, batch_size: int, length: int) -> tuple[Array, Array]:
  """A batch of the Baum--Sweet task for a length T >= 1.

  Each sample, as the course's ``BaumSweetSequenceDataset(T)`` (``gen_baum_sweet``): repeat
    draw n uniformly from the integers 10..10^T (both inclusive, ``random.randint``) and compute
    its Baum--Sweet value b(n) (see ``baum_sweet_label``); stop if b(n) = 1, else stop with
    probability 0.016724 (the course's constant, which roughly balances the classes near T = 6;
    for large T almost every label is 0: ~5% ones at T = 10, ~0 at T = 20);
  then inputs = bin(n) left-padded to 4T symbols (0 = padding, 1 = '0', 2 = '1'), label = b(n).

  Sampling is exact rejection sampling, vectorised: each round draws a pool of i.i.d. candidates
  (n as a uniform m-bit integer, m = bit length of 10^T, acceptable if 10 <= n <= 10^T and the
  rule above keeps it) and hands the accepted ones, in order, to the samples still unfilled; a
  ``lax.while_loop`` repeats rounds until all are filled. The pool is sized so that one round
  usually suffices (1.25 * batch / (a lower bound of the acceptance rate), at most 2^16).
  T = 1 is degenerate (n = 10 always).

  Returns:
    inputs: int32 [batch_size, 4T] in {0, 1, 2}; labels: int32 [batch_size] in {0, 1}.
  """
  _check_length("baum_sweet", length, 1)
  high = 10 ** length
  num_bits = high.bit_length()                                             # m <= 4T
  num_words = -(-num_bits // 32)                                           # W
  top_shift = 32 * num_words - num_bits                                    # unused top-word bits
  min_accept = BAUM_SWEET_KEEP_ZERO_PROB * (high - BAUM_SWEET_MIN_INTEGER + 1) / 2 ** num_bits
  pool = min(int(1.25 * batch_size / min_accept) + 1, _BAUM_SWEET_MAX_POOL)

  def body(state):
    key, words, labels, filled = state
    key, words_key, keep_key = jax.random.split(key, 3)
    candidates = jax.random.bits(words_key, (pool, num_words), jnp.uint32)  # [P, W]
    candidates = candidates.at[:, 0].set(candidates[:, 0] >> top_shift)     # uniform m-bit n
    candidate_labels = baum_sweet_label(candidates)                         # [P]
    keep = jax.random.uniform(keep_key, (pool,)) < BAUM_SWEET_KEEP_ZERO_PROB
    in_range = (~_words_le(candidates, _int_to_words(BAUM_SWEET_MIN_INTEGER - 1, num_words))
                & _words_le(candidates, _int_to_words(high, num_words)))   # [P]
    accepted = in_range & ((candidate_labels == 1) | keep)                  # [P]
    # The i-th accepted candidate fills sample filled + i; the rest are dropped.
    rank = jnp.cumsum(accepted, dtype=jnp.int32) - 1                        # [P]
    slot = jnp.where(accepted, filled + rank, batch_size)                   # [P]
    words = words.at[slot].set(candidates, mode="drop")                     # [B, W]
    labels = labels.at[slot].set(candidate_labels, mode="drop")             # [B]
    return key, words, labels, filled + accepted.sum(dtype=jnp.int32)

  init = (key, jnp.zeros((batch_size, num_words), jnp.uint32),
          jnp.zeros((batch_size,), jnp.int32), jnp.zeros((), jnp.int32))
  _, words, labels, _ = jax.lax.while_loop(lambda s: s[3] < batch_size, body, init)

  # bin(n): the bits from the leading 1 on, shifted by +1; everything before it is padding.
  bits = (words[:, :, None] >> jnp.arange(31, -1, -1, dtype=jnp.uint32)) & 1  # [B, W, 32]
  bits = bits.reshape(batch_size, 32 * num_words).astype(jnp.int32)          # [B, 32W]
  symbols = jnp.where(jnp.cumsum(bits, axis=1) > 0, bits + 1, 0)             # [B, 32W]
  pad = baum_sweet_input_length(length) - num_bits
  inputs = jnp.pad(symbols[:, top_shift:], ((0, 0), (pad, 0)))               # [B, 4T]
  return inputs, labels


# ------------------------------------------------------------------------------------------------
# Random combinations
# ------------------------------------------------------------------------------------------------

def random_combination_input_length(length: int) -> int:
  return length - 1


def random_combination_vocab_size(length: int) -> int:
  return length


def random_combination_num_classes(length: int) -> int:
  return length


@_static
def random_combination_batch(key: Array, batch_size: int, length: int) -> tuple[Array, Array]:
  """A batch of the random-combinations task for a length T >= 2.

  Each sample, as the course's ``RandomCombinationsDataset(T)`` code (``np.random.permutation(T)``):
  a uniformly random permutation of 0..T-1; inputs = its first T-1 entries, label = its last
  entry, i.e. the one number of 0..T-1 missing from the inputs. (The course's docstring says
  "sampled from [0, N]", but its code, followed here, uses 0..N-1; its train.py sets
  ``num_classes = T``.) Tokens are the numbers themselves, so vocabulary = classes = T, no padding.

  Returns:
    inputs: int32 [batch_size, T-1] in 0..T-1 (distinct); labels: int32 [batch_size] in 0..T-1.
  """
  _check_length("random_combination", length, 2)
  keys = jax.random.split(key, batch_size)                                  # [B] keys
  perms = jax.vmap(lambda k: jax.random.permutation(k, length))(keys)       # [B, T]
  perms = perms.astype(jnp.int32)
  return perms[:, :-1], perms[:, -1]


# ------------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ToyTask:
  """A toy task and its sizes, all functions of the length T.

  ``batch_fn(key, batch_size, length) -> (inputs [B, input_length(length)], labels [B])``, int32;
  input tokens lie in ``0..vocab_size(length)-1``, labels in ``0..num_classes(length)-1``.
  """
  batch_fn: BatchFn
  vocab_size: Callable[[int], int]
  num_classes: Callable[[int], int]
  input_length: Callable[[int], int]
  #: raises ValueError for a length T the generator does not support
  check_length: Callable[[int], None]


TOY_TASKS: dict[str, ToyTask] = {
    "palindrome": ToyTask(
        batch_fn=palindrome_batch,
        vocab_size=lambda length: PALINDROME_VOCAB_SIZE,
        num_classes=lambda length: PALINDROME_NUM_CLASSES,
        input_length=palindrome_input_length,
        check_length=check_palindrome_length),
    "baum_sweet": ToyTask(
        batch_fn=baum_sweet_batch,
        vocab_size=lambda length: BAUM_SWEET_VOCAB_SIZE,
        num_classes=lambda length: BAUM_SWEET_NUM_CLASSES,
        input_length=baum_sweet_input_length,
        check_length=lambda length: _check_length("baum_sweet", length, 1)),
    "random_combination": ToyTask(
        batch_fn=random_combination_batch,
        vocab_size=random_combination_vocab_size,
        num_classes=random_combination_num_classes,
        input_length=random_combination_input_length,
        check_length=lambda length: _check_length("random_combination", length, 2)),
}
