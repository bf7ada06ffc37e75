"""Neural n-gram language models on Penn Treebank 4-grams: the NPLM and an RNN over the context.

Data (``rnn_jax.data.ngrams``): every 4 consecutive tokens of a ``START .. END`` sentence, 8,000
types (``UNK`` included); train 845,453 4-grams, valid 67,020, test 74,908. The first n - 1
words are the context, the last the target. All n-grams live on the device as one int32 array
per split.

Training is epoch-based: epoch e visits the training n-grams in the order of a permutation drawn
from ``fold_in(data_key, e)`` (per seed), ``batch_size`` at a time, for ``len(train) //
batch_size`` steps; the ``len(train) % batch_size`` n-grams at the end of each epoch's permutation
are left out of that epoch (different ones every epoch). The permutation is drawn at the first
step of the epoch and kept in the per-seed training state (``extra["order"]``, checkpointed), so
a resumed run continues the same epoch bit for bit. The loss is the mean cross-entropy over the
batch, so ``learning_rate`` does not scale with the batch size.

Metrics, all in nats per predicted word: ``loss`` (cross-entropy), ``perplexity = exp(loss)`` of
the pooled sums (never a mean of batch perplexities), ``accuracy`` (top-1; a target tied with the
top logit counts as correct, see ``language_model.top1_correct``). Split names in metrics.jsonl:

* ``train``: running sums over the training batches between two log points (the parameters
  move while they are summed), as for every task.
* ``train_subset``: a fixed random subset of ``data.train_subset_size`` training n-grams (65,536
  of 845,453 by default: the same rows for every seed and epoch, drawn with NumPy seed
  ``TRAIN_SUBSET_SEED``), evaluated after every epoch with the epoch's final parameters. A whole
  pass over train would cost ~13x the valid pass at every epoch for a figure the subset gives to
  within its sampling error (the per-4-gram cross-entropy's standard deviation / 256).
* ``valid``: the whole valid split after every epoch; its loss picks the best parameters.
* ``final/train_subset``, ``final/valid``, ``final/test``: the best-by-validation parameters.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax import cells, models, platform
from rnn_jax.errors import ConfigError
from rnn_jax.tasks import base
from rnn_jax.tasks.language_model import top1_correct

MODEL_KINDS = ("nplm", "rnn")
#: NumPy seed of the fixed train subset evaluated every epoch (the same for every seed).
TRAIN_SUBSET_SEED = 0


def _positive_int(value, name: str, meaning: str = "") -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ConfigError(f"config.{name}{meaning} must be an int >= 1, got {value!r}")


def check_config(config) -> None:
  """Raises ``ConfigError`` (one line) for values the model or data would reject later, or worse, accept."""
  m, d = config.model, config.data
  if m.kind not in MODEL_KINDS:
    raise ConfigError(f"config.model.kind {m.kind!r} is not one of {MODEL_KINDS}")
  _positive_int(m.embed_dim, "model.embed_dim", " (D)")
  _positive_int(m.features, "model.features", " (H)")
  if m.kind == "nplm" and m.activation not in models.NGRAM_ACTIVATIONS:
    raise ConfigError(f"config.model.activation {m.activation!r} is not one of {tuple(models.NGRAM_ACTIVATIONS)}")
  if m.kind == "rnn":
    if m.cell not in cells.CELLS:
      raise ConfigError(f"config.model.cell {m.cell!r} is not one of {tuple(cells.CELLS)}")
    if m.bptt_truncation is not None:
      _positive_int(m.bptt_truncation, "model.bptt_truncation", " (k, steps the gradient flows back; unset = full BPTT)")
  if isinstance(d.order, bool) or not isinstance(d.order, int) or d.order < 2:
    raise ConfigError(f"config.data.order must be an int >= 2 (one context word and the target), got {d.order!r}")
  if isinstance(d.vocab_size, bool) or not isinstance(d.vocab_size, int) or d.vocab_size < 4:
    raise ConfigError(f"config.data.vocab_size must be an int >= 4 (START, END, UNK and a word), got {d.vocab_size!r}")
  _positive_int(d.train_subset_size, "data.train_subset_size")
  _positive_int(d.eval_batch_size, "data.eval_batch_size")


def build_model(config, vocab_size: int):
  """The model of ``config`` (e.g. a run's saved config.json) without loading the data."""
  m = config.model
  if m.kind == "nplm":
    return models.NPLM(vocab_size=vocab_size, embed_dim=m.embed_dim, features=m.features, activation=m.activation)
  return models.NgramRNN(vocab_size=vocab_size, embed_dim=m.embed_dim, cell_type=m.cell, features=m.features,
                         bptt_truncation=m.bptt_truncation, cell_kwargs=dict(m.cell_kwargs),
                         choices=platform.resolve_choices(config))


def eval_batches(rows: np.ndarray, batch_size: int) -> np.ndarray:
  """``[num_batches, batch_size, n]``: ``rows`` padded with zeros to whole batches."""
  num_batches = max(1, -(-len(rows) // batch_size))
  padded = np.zeros((num_batches * batch_size, rows.shape[1]), np.int32)
  padded[:len(rows)] = rows
  return padded.reshape(num_batches, batch_size, rows.shape[1])


def weighted_sums(logits, targets, weights) -> base.MetricSums:
  """Cross-entropy and top-1 sums over the rows with weight 1 (padding rows have weight 0)."""
  nll = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
  correct = top1_correct(logits, targets)
  count = weights.sum()
  return {"loss": ((nll * weights).sum(), count), "accuracy": ((correct * weights).sum(), count)}


class NgramLanguageModelTask(base.Task):
  """Next word from the previous n - 1 (see the module docstring)."""

  examples_unit = "n-grams"
  validation_split = "valid"
  best_metric = ("loss", "min")

  def __init__(self, config):
    super().__init__(config)
    check_config(config)  # before the data: a bad value fails in milliseconds
    from rnn_jax.data import ngrams  # TFDS is imported only by the tasks that need it
    d = config.data
    data = ngrams.load_ngrams(order=d.order, vocab_size=d.vocab_size, manual_dir=d.manual_dir or None,
                              tfds_data_dir=d.tfds_dir or None)
    self.vocab = data.vocab
    self.train_rows = data.ngrams["train"]
    batch = int(config.batch_size)
    if batch > len(self.train_rows):
      raise ConfigError(f"config.batch_size {batch} exceeds the {len(self.train_rows):,} training n-grams")
    rng = np.random.default_rng(TRAIN_SUBSET_SEED)
    size = min(int(d.train_subset_size), len(self.train_rows))
    subset = np.sort(rng.choice(len(self.train_rows), size=size, replace=False))
    eval_rows = {"train_subset": self.train_rows[subset], "valid": data.ngrams["valid"], "test": data.ngrams["test"]}
    self.eval_counts = {split: len(rows) for split, rows in eval_rows.items()}
    self.eval_data = {split: eval_batches(rows, int(d.eval_batch_size)) for split, rows in eval_rows.items()}
    self.split_ngrams = {split: len(rows) for split, rows in data.ngrams.items()}
    self.sentences = dict(data.sentences)
    self.model = build_model(config, len(self.vocab))

  # --- sizes ---------------------------------------------------------------------------------------
  @property
  def steps_per_epoch(self) -> int:
    return len(self.train_rows) // int(self.config.batch_size)

  def derived(self):
    return {**super().derived(), "vocab_size": len(self.vocab), "ngrams": self.split_ngrams,
            "sentences": self.sentences, "train_subset_size": self.eval_counts["train_subset"]}

  def write_artifacts(self, workdir: Path) -> None:
    """The vocabulary (index = id, by descending train count), for launch/ngram_analysis.py."""
    (Path(workdir) / "vocab.json").write_text(json.dumps(self.vocab) + "\n")

  # --- per seed --------------------------------------------------------------------------------------
  def init_params(self, key):
    context = jnp.zeros((1, int(self.config.data.order) - 1), jnp.int32)
    return self.model.init(key, context)["params"]

  def device_data(self):
    return {"train": jnp.asarray(self.train_rows), **{s: jnp.asarray(b) for s, b in self.eval_data.items()}}

  def init_extra(self):
    return {"order": jnp.zeros(len(self.train_rows), jnp.int32)}

  def train_loss(self, params, extra, data, data_key, dropout_key, step):
    spe, batch = self.steps_per_epoch, int(self.config.batch_size)
    epoch, index = step // spe, step % spe
    n = data["train"].shape[0]
    # A new permutation at the first step of every epoch; lax.cond runs only the branch taken
    # (under a seed vmap it becomes a select and draws every step: correct, only slower).
    order = jax.lax.cond(index == 0,
                         lambda: jax.random.permutation(jax.random.fold_in(data_key, epoch), n).astype(jnp.int32),
                         lambda: extra["order"])
    rows = data["train"][jax.lax.dynamic_slice(order, (index * batch,), (batch,))]  # [batch, n]
    logits = self.model.apply({"params": params}, rows[:, :-1])  # [batch, vocab]
    sums = weighted_sums(logits, rows[:, -1], jnp.ones(batch, jnp.float32))
    return sums["loss"][0] / batch, (sums, {"order": order})

  def eval_splits(self, final):
    return ("train_subset", "valid", "test") if final else ("train_subset", "valid")

  def evaluate(self, params, data, data_key, split, step):
    batches = data[split]  # [num_batches, eval_batch, n]
    weights = (jnp.arange(batches.shape[0] * batches.shape[1]) < self.eval_counts[split])
    weights = weights.astype(jnp.float32).reshape(batches.shape[:2])

    def one_batch(_, xs):
      rows, w = xs
      return None, weighted_sums(self.model.apply({"params": params}, rows[:, :-1]), rows[:, -1], w)

    _, sums = jax.lax.scan(one_batch, None, (batches, weights))
    return jax.tree.map(lambda v: v.sum(0), sums)

  def reduce_metrics(self, sums):
    values = super().reduce_metrics(sums)
    if "loss" in values:
      values["perplexity"] = np.exp(values["loss"])
    return values

