"""Toy sequence classification (binary palindrome, Baum-Sweet, random combinations) on generated data.

Batches are generated on the device from ``fold_in(data_key, step)``. Accuracy is measured on the
freshly generated training batch (every batch is new data) and, at each evaluation point, on
``config.data.eval_batches`` further fresh batches drawn from a separate evaluation stream.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from rnn_jax import config_checks as checks
from rnn_jax import models
from rnn_jax.rng_streams import DATA_EVAL_SUBSTREAM
from rnn_jax.tasks import base, toy_data


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
    check_model(config)

  def __init__(self, config):
    super().__init__(config)
    data = config.data
    self.spec = toy_data.TOY_TASKS[data.task]
    self.length = int(data.length)
    self.input_length = self.spec.input_length(self.length)
    m = config.model
    self.model = models.SequenceClassifier(
        vocab_size=self.spec.vocab_size(self.length), num_classes=self.spec.num_classes(self.length),
        embed_dim=m.embed_dim, cell_type=m.cell, features=m.features, num_layers=m.num_layers,
        bidirectional=m.bidirectional, kernel_init=m.kernel_init, cell_kwargs=dict(m.cell_kwargs))

  def derived(self):
    return {**super().derived(), "input_length": self.input_length,
            "vocab_size": self.spec.vocab_size(self.length), "num_classes": self.spec.num_classes(self.length)}

  def _batch(self, key):
    return self.spec.batch_fn(key, int(self.config.batch_size), self.length)

  def init_params(self, key):
    tokens = jnp.zeros((1, self.input_length), jnp.int32)
    return self.model.init(key, tokens)["params"]

  def _sums(self, params, inputs, labels):
    logits = self.model.apply({"params": params}, inputs)  # [batch, classes]
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    count = jnp.asarray(labels.shape[0], jnp.float32)
    return {"loss": (losses.sum(), count), "accuracy": (correct.sum(), count)}

  def train_loss(self, params, extra, data, data_key, dropout_key, step):
    inputs, labels = self._batch(jax.random.fold_in(data_key, step))
    sums = self._sums(params, inputs, labels)
    loss_sum, count = sums["loss"]
    return loss_sum / count, (sums, extra)

  def eval_splits(self, final):
    return ("eval",)

  def evaluate(self, params, data, data_key, split, step):
    keys = jax.random.split(jax.random.fold_in(jax.random.fold_in(data_key, DATA_EVAL_SUBSTREAM), step),
                            int(self.config.data.eval_batches))
    per_batch = jax.lax.map(lambda k: self._sums(params, *self._batch(k)), keys)
    return jax.tree.map(lambda x: x.sum(0), per_batch)


def check_model(config) -> None:
  """The ``model`` fields of a sequence classifier (``models.SequenceClassifier``)."""
  checks.cell_kwargs(config, "model.cell", "model.cell_kwargs")
  for name in ("features", "embed_dim", "num_layers"):
    checks.positive(config, f"model.{name}", required=True)
  init = checks.value(config, "model.kernel_init")
  if init is not None and not str(init).startswith("uniform:"):
    checks.one_of(config, "model.kernel_init", models.INITIALIZERS)
