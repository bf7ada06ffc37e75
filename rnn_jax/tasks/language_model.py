"""Language-model tasks: word-level Penn Treebank (Zaremba et al. 2014) and character-level text.

The whole corpus lives on the device as token ids (PTB train is 3.7 MB as int32), so every
training window is a slice chosen from the step number: no host input pipeline, and a resumed
run reads exactly the windows an uninterrupted one would.

PTB batching, as the reference code (Zaremba's Torch code, TF's ptb_word_lm):
* the token stream is cut into ``batch_size`` parallel streams (``[batch, len // batch]``) and read
  in consecutive windows of ``W = data.window_tokens`` (the truncated-BPTT length); window ``i``
  predicts tokens ``i*W+1 ...``; the tail that does not fill a whole window is not trained on;
* the recurrent state is carried from window to window (truncated BPTT) and reset to zero at the
  start of every epoch; the same for evaluation (with ``data.eval_batch_size`` streams);
* the training loss is summed over the window's time steps and averaged over the batch -- with
  plain SGD at lr 1.0 the published schedules assume it (a per-token mean would make the
  gradients ``W`` times smaller);
* evaluation predicts every token of a split but the first, exactly once: the streams overlap by
  one token (stream ``b``'s last token is stream ``b+1``'s first input) and the last window of each
  is padded, with zero weight on the padding (``eval_streams``);
* perplexity = exp(total NLL / total tokens) over a whole split.

Character model (the UvA course's Grimm setup): random windows of ``data.window_tokens`` characters with
targets shifted by one, state starting at zero in every window, loss and accuracy averaged over
all positions. With ``data.gutenberg_body_only`` a Project Gutenberg book is cut to the text
between its ``*** START OF`` and ``*** END OF`` lines first (``chars.gutenberg_body``), and the
vocabulary is that text's characters. The last ``data.valid_fraction`` of the text is held out; it
is evaluated as consecutive non-overlapping windows of the same length, each from a zero state as in
training (the last window padded, with zero weight on the padding, so every character but the first is predicted).

Samples during character training (``CharLanguageModelTask.at_milestone``): at 1/3, 2/3 and 3/3
of the run, every seed's current parameters write ``SAMPLE_LENGTH``-character samples (the start
character and 29 generated ones) from five start characters to ``workdir/samples.md``: greedy and
at temperatures ``SAMPLE_TEMPERATURES`` (``rnn_jax.sampling``: T divides the logits). The start
characters are the five most frequent capital letters of the training text (ties by code point;
Grimm's first 95%: T, I, A, H, W), topped up with its most frequent other non-space characters when it has
fewer than five. Seed ``s`` samples with ``fold_in(fold_in(key(s), SAMPLE_STREAM), step)``, the
same key for every temperature, so the file is reproducible and a resumed run rewrites a
milestone's section identically.
"""
from __future__ import annotations

import json
import re
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax import config_checks as checks
from rnn_jax import models, platform, sampling
from rnn_jax.rng_streams import SAMPLE_STREAM
from rnn_jax.tasks import base


def stream_batches(ids: np.ndarray, batch_size: int) -> np.ndarray:
  """``[batch, len // batch]``: the token stream cut into parallel streams (the tail is dropped)."""
  n = len(ids) // batch_size
  return np.asarray(ids[:batch_size * n], np.int32).reshape(batch_size, n)


def num_windows(streams: np.ndarray, window_tokens: int) -> int:
  """Windows of ``window_tokens`` inputs (each needs one more token as its last target)."""
  return (streams.shape[1] - 1) // window_tokens


def window(streams: jax.Array, index, window_tokens: int) -> tuple[jax.Array, jax.Array]:
  """Inputs and targets of window ``index``: ``[batch, window_tokens]`` each."""
  batch = streams.shape[0]
  x = jax.lax.dynamic_slice(streams, (0, index * window_tokens), (batch, window_tokens))
  y = jax.lax.dynamic_slice(streams, (0, index * window_tokens + 1), (batch, window_tokens))
  return x, y


def eval_streams(ids: np.ndarray, batch_size: int, window_tokens: int) -> tuple[np.ndarray, np.ndarray]:
  """Evaluation streams that predict every token of ``ids`` but the first, each exactly once.

  Returns ``streams [batch, windows * window_tokens + 1]`` (int32) and ``weights [batch, windows *
  window_tokens]`` (float32, 1 where the target at that position is real, 0 on padding). Stream
  ``b`` holds tokens ``b*n ... b*n + n`` with ``n = ceil((len - 1) / batch)`` targets per stream,
  so consecutive streams share one token (the last target of one is the first input of the next);
  streams are padded to whole windows at their end, where the padding can no longer affect a real
  target through the carried state.
  """
  targets = len(ids) - 1
  if targets < 1:
    raise ValueError(f"an evaluation split needs at least 2 tokens, got {len(ids)}")
  per_stream = -(-targets // batch_size)
  length = -(-per_stream // window_tokens) * window_tokens
  streams = np.zeros((batch_size, length + 1), np.int32)
  weights = np.zeros((batch_size, length), np.float32)
  for b in range(batch_size):
    piece = np.asarray(ids[b * per_stream:b * per_stream + per_stream + 1], np.int32)
    streams[b, :len(piece)] = piece
    weights[b, :max(len(piece) - 1, 0)] = 1.0
  return streams, weights


def top1_correct(logits, targets):
  """1.0 where the target's logit is the largest, else 0.0 (float32, shape of ``targets``).

  Computed as ``logit[target] >= max(logits)`` rather than ``argmax(logits) == target``: on
  XLA:CPU the argmax (a value-and-index reduction) over a 10k vocabulary took ~9 ms of a ~75 ms
  PTB training step, a plain max does not. The two differ only on an exact tie for the top logit
  (argmax takes the lowest index; here a tied target counts as correct).
  """
  target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  return (target_logit >= jnp.max(logits, axis=-1)).astype(jnp.float32)


def token_sums(logits, targets, weights=None) -> base.MetricSums:
  """NLL and correct-prediction sums over all positions (or those with weight 1), with their token count."""
  nll = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
  correct = top1_correct(logits, targets)
  if weights is None:
    return {"loss": (nll.sum(), jnp.asarray(targets.size, jnp.float32)),
            "accuracy": (correct.sum(), jnp.asarray(targets.size, jnp.float32))}
  count = weights.sum()
  return {"loss": ((nll * weights).sum(), count), "accuracy": ((correct * weights).sum(), count)}


class _LanguageModelTask(base.Task):
  """Shared by the word and character tasks: the model, metric reduction, carried-state evaluation."""

  validation_split = "valid"
  best_metric = ("loss", "min")

  @classmethod
  def check_config(cls, config):
    checks.positive(config, "data.window_tokens", required=True)
    checks.positive(config, "data.eval_batch_size", required=True)
    checks.existing_path(config, "data.manual_dir", kind="folder")
    checks.cell_kwargs(config, "model.cell", "model.cell_kwargs")
    for name in ("features", "embed_dim", "num_layers"):
      checks.positive(config, f"model.{name}", required=True)
    for name in ("word_dropout", "input_dropout", "between_dropout", "output_dropout"):
      checks.rate(config, f"model.{name}", required=True)
    if checks.value(config, "model.init_scale") is not None:
      checks.positive(config, "model.init_scale", integer=False)
    m = config.model
    checks.check(not m.tie_embeddings or m.embed_dim == m.features,
                 f"config.model.tie_embeddings needs model.embed_dim == model.features, got {m.embed_dim} and "
                 f"{m.features}; set both to the same width or --config.model.tie_embeddings=False")

  def _make_model(self, vocab_size: int) -> models.LanguageModel:
    m = self.config.model
    return models.LanguageModel(
        vocab_size=vocab_size, embed_dim=m.embed_dim, cell_type=m.cell, features=m.features,
        num_layers=m.num_layers, word_dropout=m.word_dropout, input_dropout=m.input_dropout,
        between_dropout=m.between_dropout, output_dropout=m.output_dropout, variational=m.variational_dropout,
        init_scale=m.get("init_scale"), tie_embeddings=m.tie_embeddings,
        cell_kwargs=dict(m.cell_kwargs), choices=platform.resolve_choices(self.config))

  def init_params(self, key):
    tokens = jnp.zeros((1, int(self.config.data.window_tokens)), jnp.int32)
    return self.model.init(key, tokens)["params"]

  @staticmethod
  def build_model(config, vocab_size: int) -> models.LanguageModel:
    """The model of ``config`` (e.g. a run's saved config.json) without loading the corpus."""
    return _LanguageModelTask._make_model(types.SimpleNamespace(config=config), vocab_size)

  def write_artifacts(self, workdir: Path) -> None:
    """The vocabulary (index = id), saved beside the checkpoints for sampling (``launch/sample.py``)."""
    (workdir / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False) + "\n")

  def reduce_metrics(self, sums):
    values = super().reduce_metrics(sums)
    if "loss" in values:
      values["perplexity"] = np.exp(values["loss"])
    return values

  def _apply(self, params, x, carry, dropout_key=None):
    rngs = None if dropout_key is None else {"dropout": dropout_key}
    return self.model.apply({"params": params}, x, carry, deterministic=dropout_key is None, rngs=rngs)


class WordLanguageModelTask(_LanguageModelTask):
  """Penn Treebank word-level LM with truncated BPTT over carried state (see module docstring)."""

  examples_unit = "words"
  best_metric = ("perplexity", "min")

  def __init__(self, config):
    super().__init__(config)
    from rnn_jax.data import ptb  # TFDS is imported only by the tasks that need it
    d = config.data
    corpus = ptb.load_ptb(manual_dir=d.manual_dir or None, tfds_data_dir=d.tfds_dir or None)
    self.vocab = corpus.vocab
    self.window = int(d.window_tokens)
    self.streams = {"train": stream_batches(corpus.train, int(config.batch_size))}
    for split in ("train", "valid", "test"):
      streams, weights = eval_streams(getattr(corpus, split), int(d.eval_batch_size), self.window)
      self.streams[f"eval_{split}"], self.streams[f"eval_{split}_weights"] = streams, weights
    self.split_tokens = {split: len(getattr(corpus, split)) for split in ("train", "valid", "test")}
    self.model = self._make_model(len(self.vocab))

  @property
  def steps_per_epoch(self):
    return num_windows(self.streams["train"], self.window)

  @property
  def examples_per_step(self):
    return int(self.config.batch_size) * self.window

  def derived(self):
    return {**super().derived(), "vocab_size": len(self.vocab), "split_tokens": self.split_tokens,
            "eval_targets": {s: n - 1 for s, n in self.split_tokens.items()}}

  def device_data(self):
    return {name: jnp.asarray(s) for name, s in self.streams.items()}

  def init_extra(self):
    return {"carry": self.model.initialize_carry(int(self.config.batch_size))}

  def train_loss(self, params, extra, data, data_key, dropout_key, step):
    index = step % self.steps_per_epoch
    # A new epoch starts from a zero state; within an epoch the state flows from window to window.
    carry = jax.tree.map(lambda c: jnp.where(index == 0, jnp.zeros_like(c), c), extra["carry"])
    x, y = window(data["train"], index, self.window)
    carry, logits = self._apply(params, x, carry, dropout_key)
    sums = token_sums(logits, y)
    loss = sums["loss"][0] / x.shape[0]  # summed over time, averaged over the batch
    return loss, (sums, {"carry": jax.lax.stop_gradient(carry)})

  def eval_splits(self, final):
    if not final:
      return ("valid",)
    return ("train", "valid", "test") if self.config.data.final_eval_train else ("valid", "test")

  def evaluate(self, params, data, data_key, split, step):
    streams, weights = data[f"eval_{split}"], data[f"eval_{split}_weights"]
    carry0 = self.model.initialize_carry(streams.shape[0])

    def one_window(carry, index):
      x, y = window(streams, index, self.window)
      w = jax.lax.dynamic_slice(weights, (0, index * self.window), (weights.shape[0], self.window))
      carry, logits = self._apply(params, x, carry)
      return carry, token_sums(logits, y, w)

    _, sums = jax.lax.scan(one_window, carry0, jnp.arange(num_windows(streams, self.window)))
    return jax.tree.map(lambda v: v.sum(0), sums)


class CharLanguageModelTask(_LanguageModelTask):
  """Character-level LM on a book: random windows, fresh state per window (see module docstring)."""

  examples_unit = "characters"

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    checks.existing_path(config, "data.path", kind="file")
    valid = checks.value(config, "data.valid_fraction")
    checks.check(isinstance(valid, (int, float)) and 0 < valid < 1,
                 f"config.data.valid_fraction must be in (0, 1), got {valid!r}")

  def __init__(self, config):
    super().__init__(config)
    from rnn_jax.data import chars
    d = config.data
    corpus = chars.load_chars(path=d.path or None, manual_dir=None if d.path else (d.manual_dir or None),
                              tfds_data_dir=d.tfds_dir or None, gutenberg_body_only=bool(d.gutenberg_body_only))
    self.vocab = corpus.vocab
    ids = corpus.text_ids
    n_valid = int(round(len(ids) * float(d.valid_fraction)))
    self.window = int(d.window_tokens)
    if len(ids) - n_valid < self.window + 2 or n_valid < self.window + 1:
      raise ValueError(f"the text has {len(ids)} characters: too short for windows of {self.window} "
                       f"with {d.valid_fraction:.0%} held out; use a longer text or a smaller data.window_tokens")
    self.train_ids, self.valid_ids = ids[:len(ids) - n_valid], ids[len(ids) - n_valid:]
    self.model = self._make_model(len(self.vocab))

  @property
  def examples_per_step(self):
    return int(self.config.batch_size) * self.window

  def derived(self):
    return {**super().derived(), "vocab_size": len(self.vocab), "train_characters": len(self.train_ids),
            "valid_characters": len(self.valid_ids)}

  def device_data(self):
    return {"train": jnp.asarray(self.train_ids), "valid": jnp.asarray(self.valid_ids)}

  def train_loss(self, params, extra, data, data_key, dropout_key, step):
    text = data["train"]
    batch = int(self.config.batch_size)
    starts = jax.random.randint(jax.random.fold_in(data_key, step), (batch, 1), 0,
                                text.shape[0] - self.window)  # [batch, 1]
    positions = starts + jnp.arange(self.window + 1)[None, :]  # [batch, window + 1]
    chunk = text[positions]
    _, logits = self._apply(params, chunk[:, :-1], None, dropout_key)
    sums = token_sums(logits, chunk[:, 1:])
    loss_sum, count = sums["loss"]
    return loss_sum / count, (sums, extra)

  def eval_splits(self, final):
    return ("train", "valid") if final else ("valid",)

  def evaluate(self, params, data, data_key, split, step):
    text = data[split]
    targets = text.shape[0] - 1
    n = -(-targets // self.window)  # windows; the last one is padded
    rows = int(self.config.data.eval_batch_size)
    n_batches = -(-n // rows)
    starts = (jnp.arange(n_batches * rows) * self.window).reshape(n_batches, rows)
    # Padded to whole batches of whole windows with id 0; padded targets get weight 0.
    text = jnp.concatenate([text, jnp.zeros(n_batches * rows * self.window + 1 - text.shape[0], text.dtype)])

    def one_batch(_, batch_starts):
      positions = batch_starts[:, None] + jnp.arange(self.window + 1)[None, :]  # [rows, window + 1]
      chunk = text[positions]
      _, logits = self._apply(params, chunk[:, :-1], None)
      weights = (positions[:, 1:] <= targets).astype(jnp.float32)  # target index <= last character
      return None, token_sums(logits, chunk[:, 1:], weights)

    _, sums = jax.lax.scan(one_batch, None, starts)
    return jax.tree.map(lambda v: v.sum(0), sums)

  @property
  def start_characters(self) -> list[str]:
    """The five start characters of the training samples (see the module docstring)."""
    counts = np.bincount(self.train_ids, minlength=len(self.vocab))
    by_count = sorted((i for i in range(len(self.vocab)) if counts[i] > 0), key=lambda i: (-counts[i], i))
    capitals = [i for i in by_count if self.vocab[i].isupper()]
    others = [i for i in by_count if not self.vocab[i].isupper() and not self.vocab[i].isspace()]
    return [self.vocab[i] for i in (capitals + others)[:SAMPLE_STARTS]]

  def milestones(self, total_steps):
    return {max(1, total_steps * k // 3) for k in (1, 2, 3)}

  def at_milestone(self, workdir, step, params, seeds):
    """Appends this step's samples of every seed to ``workdir/samples.md`` (see the module docstring)."""
    if getattr(self, "_sampler", None) is None:
      self._sampler = sampling.Sampler(self.model)
    starts = self.start_characters
    prompt = sampling.encode("".join(starts), self.vocab)[:, None]  # [5, 1]
    modes = [("greedy", 0.0)] + [(f"T={t:g}", t) for t in SAMPLE_TEMPERATURES]
    lines = [f"## Step {step} of {self.num_train_steps}", ""]
    for index, seed in enumerate(seeds):
      seed_params = jax.tree.map(lambda a: a[index], params)
      key = jax.random.fold_in(jax.random.fold_in(jax.random.key(int(seed)), SAMPLE_STREAM), step)
      lines += [f"### Seed {seed}", "", "```text"]
      for name, temperature in modes:
        ids = self._sampler(seed_params, prompt, SAMPLE_LENGTH - 1, key, temperature=temperature)
        for start, row in zip(starts, ids):
          lines.append(f"{name:<7} {sampling.format_sample(start + sampling.decode(row, self.vocab))}")
      lines += ["```", ""]
    write_samples_section(Path(workdir) / "samples.md", step, "\n".join(lines), self._samples_header())

  def _samples_header(self) -> str:
    temps = ", ".join(f"{t:g}" for t in SAMPLE_TEMPERATURES)
    return (f"# Samples during training\n\n"
            f"{SAMPLE_LENGTH} characters each: a start character ({', '.join(self.start_characters)}: the most "
            f"frequent capital letters of the training text) and {SAMPLE_LENGTH - 1} generated ones, from every "
            f"seed's parameters at 1/3, 2/3 and 3/3 of the run. `greedy` = argmax at every step; `T=t` = sampled "
            f"from softmax(logits / t), t in {{{temps}}} (the course's softmax(tau * logits) with tau = 1 / t). "
            "Each sample is a JSON string (\\n = newline).\n")


SAMPLE_LENGTH = 30
SAMPLE_STARTS = 5
SAMPLE_TEMPERATURES = (0.5, 1.0, 2.0)
_SECTION = re.compile(r"^## Step (\d+) ", re.MULTILINE)


def write_samples_section(path: Path, step: int, section: str, header: str) -> None:
  """Rewrites ``path`` as ``header``, the sections of earlier steps already there, then ``section``.

  Sections of later or equal steps are dropped, so a run resumed from an earlier checkpoint
  leaves no duplicates. The file is replaced atomically.
  """
  kept = []
  if path.exists():
    text = path.read_text()
    starts = [m.start() for m in _SECTION.finditer(text)] + [len(text)]
    for begin, end in zip(starts, starts[1:]):
      if int(_SECTION.match(text, begin).group(1)) < step:
        kept.append(text[begin:end].rstrip("\n") + "\n")
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text("\n".join([header, *kept, section.rstrip("\n") + "\n"]))
  tmp.replace(path)
