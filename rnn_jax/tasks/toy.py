"""Toy sequence classification (binary palindrome, Baum-Sweet, random combinations) on generated data.

Batches are generated on the device from ``fold_in(data_key, step)``. Accuracy is measured on the
freshly generated training batch (every batch is new data) and, at each evaluation point, on
``config.data.eval_batches`` further fresh batches drawn from a separate evaluation stream.

Variable lengths (palindromes only): with ``config.data.min_length`` set, each sample draws its T
from the even integers in ``[data.min_length, data.length]`` (``toy_data.variable_palindrome_batch``)
and the model reads it up to its own end (``seq_lengths``). ``data.bucket_lengths`` splits that range
into length buckets (``rnn_jax.tasks.length_buckets``): a training step draws its batch from one
bucket, padded only to that bucket's longest sample. The compiled step holds one branch per bucket
(``lax.switch`` on the step's bucket index, which is the same for every seed), so the shapes never
change between calls and nothing recompiles; only the chosen branch runs. Empty ``bucket_lengths``:
every batch padded to ``4 * data.length + 1``. Evaluation batches are always padded to that full
width: with ``seq_lengths`` the model computes the same function on either layout. Training logs
``padding_fraction``: right-padding symbols over all input symbols of the batches.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from rnn_jax import config_checks as checks
from rnn_jax import models, platform
from rnn_jax.rng_streams import DATA_EVAL_SUBSTREAM
from rnn_jax.tasks import base, length_buckets, toy_data


class ToyClassificationTask(base.Task):
  examples_unit = "sequences"

  @classmethod
  def check_config(cls, config):
    checks.one_of(config, "data.task", toy_data.TOY_TASKS, required=True)
    checks.positive(config, "data.length", required=True)
    checks.positive(config, "data.eval_batches", required=True)
    try:  # the generator's own rule for this length (e.g. an even T for palindromes)
      toy_data.TOY_TASKS[config.data.task].check_length(int(config.data.length))
    except ValueError as e:
      raise checks.ConfigError(f"config.data.length: {e}") from None
    check_variable_lengths(config)
    check_model(config)

  def __init__(self, config):
    super().__init__(config)
    data = config.data
    self.spec = toy_data.TOY_TASKS[data.task]
    self.length = int(data.length)
    self.input_length = self.spec.input_length(self.length)
    min_length = checks.value(config, "data.min_length")
    #: None (every sample has length T), or the length buckets of the training batches
    self.buckets = None if min_length is None else length_buckets.make_buckets(
        int(min_length), self.length, tuple(checks.value(config, "data.bucket_lengths") or ()))
    m = config.model
    self.model = models.SequenceClassifier(
        vocab_size=self.spec.vocab_size(self.length), num_classes=self.spec.num_classes(self.length),
        embed_dim=m.embed_dim, cell_type=m.cell, features=m.features, num_layers=m.num_layers,
        bidirectional=m.bidirectional, kernel_init=m.kernel_init, cell_kwargs=dict(m.cell_kwargs),
        recurrent_spectral_radius=checks.value(config, "model.recurrent_spectral_radius"),
        choices=platform.resolve_choices(config))

  def derived(self):
    derived = {**super().derived(), "input_length": self.input_length,
               "vocab_size": self.spec.vocab_size(self.length), "num_classes": self.spec.num_classes(self.length)}
    if self.buckets is not None:
      derived.update(buckets=self.buckets, train_padding_fraction=round(length_buckets.padding_fraction(self.buckets), 4),
                     mean_train_columns=length_buckets.mean_columns(self.buckets))
    return derived

  def _batch(self, key, bucket=None):
    """``(inputs [batch, time], labels [batch], seq_lengths [batch] or None)``; a variable-length
    batch draws from ``bucket`` (default: the whole range, padded to the longest possible sample)."""
    batch_size = int(self.config.batch_size)
    if self.buckets is None:
      return (*self.spec.batch_fn(key, batch_size, self.length), None)
    lo, hi = bucket or (self.buckets[0][0], self.length)
    return toy_data.variable_palindrome_batch(key, batch_size, lo, hi)

  def init_params(self, key):
    tokens = jnp.zeros((1, self.input_length), jnp.int32)
    return self.model.init(key, tokens)["params"]

  def _sums(self, params, inputs, labels, seq_lengths=None):
    logits = self.model.apply({"params": params}, inputs, seq_lengths)  # [batch, classes]
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    count = jnp.asarray(labels.shape[0], jnp.float32)
    return {"loss": (losses.sum(), count), "accuracy": (correct.sum(), count)}

  def _bucket_sums(self, bucket, params, key):
    """A training batch of ``bucket``: its metric sums and its right-padding fraction."""
    inputs, labels, seq_lengths = self._batch(key, bucket)
    columns = jnp.asarray(inputs.size, jnp.float32)
    padding = columns - seq_lengths.sum().astype(jnp.float32)
    return {**self._sums(params, inputs, labels, seq_lengths), "padding_fraction": (padding, columns)}

  def train_loss(self, params, extra, data, data_key, dropout_key, step):
    key = jax.random.fold_in(data_key, step)
    if self.buckets is None:
      sums = self._sums(params, *self._batch(key))
    elif len(self.buckets) == 1:
      sums = self._bucket_sums(self.buckets[0], params, key)
    else:
      schedule = jnp.asarray(length_buckets.step_schedule(self.buckets), jnp.int32)
      branches = [functools.partial(self._bucket_sums, bucket) for bucket in self.buckets]
      sums = jax.lax.switch(schedule[step % schedule.shape[0]], branches, params, key)
    loss_sum, count = sums["loss"]
    return loss_sum / count, (sums, extra)

  def eval_splits(self, final):
    return ("eval",)

  def evaluate(self, params, data, data_key, split, step):
    keys = jax.random.split(jax.random.fold_in(jax.random.fold_in(data_key, DATA_EVAL_SUBSTREAM), step),
                            int(self.config.data.eval_batches))
    per_batch = jax.lax.map(lambda k: self._sums(params, *self._batch(k)), keys)
    return jax.tree.map(lambda x: x.sum(0), per_batch)


def check_variable_lengths(config) -> None:
  """``data.min_length`` / ``data.bucket_lengths``: optional, palindromes only, bounds as ``length_buckets``."""
  min_length = checks.value(config, "data.min_length")
  bucket_lengths = checks.value(config, "data.bucket_lengths") or ()
  if min_length is None:
    checks.check(not bucket_lengths, "config.data.bucket_lengths needs config.data.min_length (variable lengths); "
                 "set it, or leave bucket_lengths empty")
    return
  checks.check(config.data.task == "palindrome", "config.data.min_length: variable lengths exist for the palindrome "
               f"task only, not {config.data.task!r}; leave min_length unset")
  checks.positive(config, "data.min_length")
  checks.check(all(isinstance(b, int) and not isinstance(b, bool) for b in bucket_lengths),
               f"config.data.bucket_lengths must hold ints (lengths T), got {tuple(bucket_lengths)}")
  try:
    length_buckets.make_buckets(int(min_length), int(config.data.length), tuple(bucket_lengths))
  except ValueError as e:
    raise checks.ConfigError(f"config.data.min_length / bucket_lengths: {e}") from None


def check_model(config) -> None:
  """The ``model`` fields of a sequence classifier (``models.SequenceClassifier``)."""
  checks.cell_kwargs(config, "model.cell", "model.cell_kwargs")
  for name in ("features", "embed_dim", "num_layers"):
    checks.positive(config, f"model.{name}", required=True)
  if checks.value(config, "model.recurrent_spectral_radius") is not None:
    checks.positive(config, "model.recurrent_spectral_radius", integer=False)
  init = checks.value(config, "model.kernel_init")
  if init is not None and not str(init).startswith("uniform:"):
    checks.one_of(config, "model.kernel_init", models.INITIALIZERS)
