"""Length buckets for variable-length palindrome batches: their bounds, which bucket a training step
draws from, and how much of a batch is padding.

Lengths here are the palindrome's T (even); a sample of length T has ``4T + 1`` input symbols
(``toy_data.palindrome_input_length``). A bucket ``(lo, hi)`` holds the even T in ``[lo, hi]``; its
batches are right-padded to the bucket's own longest sample, ``4 hi + 1`` columns. Plain padding is
the one bucket ``(min_length, max_length)``: every batch padded to the longest possible sample.

Bucketing with generated data: a step first picks a bucket, then draws its samples' T uniformly
within it -- the same as drawing samples and sorting them into buckets by length. Steps cycle
through ``step_schedule``, in which each bucket appears once per T value it holds, so over one
cycle every T gets the same share of samples as under plain padding (uniform over the even T in
``[min_length, max_length]``). The bucket depends on the step only, not on the seed, so every seed
of a run reads the same shape at the same step.
"""
from __future__ import annotations

from rnn_jax.tasks import toy_data

Bucket = tuple[int, int]


def make_buckets(min_length: int, max_length: int, bucket_lengths=()) -> tuple[Bucket, ...]:
  """``(lo, hi)`` of every bucket. ``bucket_lengths``: the largest T of each bucket but the last
  (which ends at ``max_length``), increasing, even, in ``[min_length, max_length)``; empty = one bucket.

  ``make_buckets(2, 20, (8, 14)) == ((2, 8), (10, 14), (16, 20))``. Raises ValueError on bad bounds.
  """
  bounds = [int(b) for b in bucket_lengths]
  for length in (min_length, max_length, *bounds):
    toy_data.check_palindrome_length(int(length))
  if min_length > max_length:
    raise ValueError(f"min_length {min_length} > length {max_length}")
  if bounds != sorted(set(bounds)) or any(not min_length <= b < max_length for b in bounds):
    raise ValueError(f"bucket lengths {tuple(bounds)} must increase strictly and lie in [min_length, length) = "
                     f"[{min_length}, {max_length})")
  his = [*bounds, max_length]
  los = [min_length, *(b + 2 for b in bounds)]
  return tuple(zip(los, his))


def lengths_in(bucket: Bucket) -> list[int]:
  """The T values of a bucket: the even integers in ``[lo, hi]``."""
  lo, hi = bucket
  return list(range(lo, hi + 1, 2))


def step_schedule(buckets) -> tuple[int, ...]:
  """The bucket index of each step of one cycle (step s uses entry ``s % len(cycle)``).

  Bucket b appears once per T value it holds, its appearances spread evenly over the cycle (in the
  order of the fractions ``(j + 1/2) / count``, ties by bucket): ``step_schedule(((2, 8), (10, 14),
  (16, 20)))`` is ``(0, 1, 2, 0, 1, 2, 0, 1, 2, 0)``.
  """
  slots = sorted(((j + 0.5) / len(lengths_in(bucket)), b)
                 for b, bucket in enumerate(buckets) for j in range(len(lengths_in(bucket))))
  return tuple(b for _, b in slots)


def padding_fraction(buckets) -> float:
  """The expected fraction of a training batch's input symbols that are right padding, over a cycle.

  Bucket ``(lo, hi)`` pads a sample of length T with ``4 hi + 1 - (4T + 1)`` symbols; the fraction
  is the padding of every (bucket, T) pair summed, over their columns summed (each pair weighs the
  same, see the module docstring). The samples' own left padding (part of the course's palindrome)
  is not counted.
  """
  pad = columns = 0
  for bucket in buckets:
    width = toy_data.palindrome_input_length(bucket[1])
    for length in lengths_in(bucket):
      pad += width - toy_data.palindrome_input_length(length)
      columns += width
  return pad / columns


def mean_columns(buckets) -> float:
  """Columns a training batch has on average over a cycle (the time steps a step's scan runs)."""
  schedule = step_schedule(buckets)
  return sum(toy_data.palindrome_input_length(buckets[b][1]) for b in schedule) / len(schedule)
