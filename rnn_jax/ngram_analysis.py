"""What the n-gram data hold and what a trained n-gram model learnt: statistics, plots, neighbours, text.

* ``ngram_statistics_md`` and ``plot_ngram_frequencies``: split sizes, the most common n-grams and
  the count-vs-rank plot of the training n-grams (``launch/ngrams.py``).
* ``nearest_neighbours``: by cosine similarity of embedding rows, among a candidate set (the 1,000
  most frequent words: ids 0..999, since ids are frequency ranks, ``rnn_jax.data.ngrams``).
* ``plot_embedding``: the words of a 2-D embedding (or the first two principal components of a
  wider one) as a scatter plot with labels that never overlap (``place_labels``).
* ``SlidingWindowLM`` and ``generate``: an n-gram model continued word by word with
  ``rnn_jax.sampling.Sampler``, so greedy decoding, temperature (T divides the logits, T = 0 is
  greedy) and the randomness (step t draws with ``fold_in(key, t)``) follow the character model's
  conventions exactly.
* ``load_ngram_run``: model, vocabulary and one seed's parameters from a training workdir
  (``launch/ngram_analysis.py``).

Plots use Matplotlib's object API (``Figure`` + Agg canvas), as ``rnn_jax.reporting``.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rnn_jax import checkpointing, sampling, trained_runs
from rnn_jax.errors import UserError
from rnn_jax.reporting import save_figure

Array = jax.Array


class AnalysisError(UserError, ValueError):
  """Bad analysis arguments (unknown words, a workdir of another task...); the message is one line."""


def word_ids(words: Sequence[str], vocab: Sequence[str]) -> np.ndarray:
  """Ids of ``words``; words outside ``vocab`` raise ``AnalysisError`` naming them."""
  index = {w: i for i, w in enumerate(vocab)}
  unknown = [w for w in words if w not in index]
  if unknown:
    raise AnalysisError(f"not in the run's vocabulary of {len(vocab)} words: {', '.join(map(repr, unknown))}")
  return np.array([index[w] for w in words], np.int32)


# --- data statistics ---------------------------------------------------------------------------------

def ngram_statistics_md(data, top: int = 50) -> str:
  """Markdown: sentences, n-grams and distinct n-grams per split, then the ``top`` training n-grams."""
  from rnn_jax.data.ngrams import ngram_frequencies

  n = data.order
  lines = [f"| split | sentences | {n}-grams | distinct {n}-grams |", "|:--|--:|--:|--:|"]
  for split, rows in data.ngrams.items():
    distinct = len(ngram_frequencies(rows)[0])
    lines.append(f"| {split} | {data.sentences[split]:,} | {len(rows):,} | {distinct:,} |")
  rows, counts = ngram_frequencies(data.ngrams["train"])
  lines += ["", f"The {top} most common training {n}-grams (ties by the words' frequency ranks):", "",
            f"| rank | {n}-gram | count |", "|--:|:--|--:|"]
  for rank, (row, count) in enumerate(zip(rows[:top], counts[:top]), 1):
    lines.append(f"| {rank} | {' '.join(data.words(row))} | {count:,} |")
  return "\n".join(lines) + "\n"


def plot_ngram_frequencies(counts: np.ndarray, path: str | Path, order: int = 4) -> Path:
  """Log-log plot of the distinct n-grams' counts against their rank (1 = most common)."""
  counts = np.sort(np.asarray(counts))[::-1]
  fig = Figure(figsize=(6.4, 4.2), dpi=110, layout="constrained")
  ax = fig.add_subplot()
  ax.loglog(np.arange(1, len(counts) + 1), counts, color="tab:blue", linewidth=1.2)
  ax.set_xlabel(f"rank of the {order}-gram (1 = most common)")
  ax.set_ylabel("count in the training split")
  singletons = int(np.sum(counts == 1))
  ax.set_title(f"Training {order}-grams: {len(counts):,} distinct, {singletons:,} seen once", fontsize=10)
  ax.grid(True, which="major", alpha=0.3)
  return save_figure(fig, path)


# --- nearest neighbours ---------------------------------------------------------------------------------

def nearest_neighbours(embedding: np.ndarray, queries: Sequence[int], candidates: Sequence[int],
                       k: int = 4) -> list[list[tuple[int, float]]]:
  """For every query id, its ``k`` nearest candidate ids by cosine distance (``1 - cos``), nearest first.

  The query itself is never its own neighbour; ties go to the candidate listed first (with
  frequency-ranked ids: the more frequent word). A zero vector has cosine 0 with everything.
  """
  e = np.asarray(embedding, np.float64)
  norms = np.linalg.norm(e, axis=1, keepdims=True)
  unit = np.divide(e, norms, out=np.zeros_like(e), where=norms > 0)
  candidates = np.asarray(candidates)
  result = []
  for q in queries:
    similarity = unit[candidates] @ unit[q]  # [candidates]
    keep = candidates != q
    order = np.argsort(-similarity[keep], kind="stable")[:k]
    result.append([(int(candidates[keep][i]), float(1.0 - similarity[keep][i])) for i in order])
  return result


def neighbours_md(embedding: np.ndarray, vocab: Sequence[str], words: Sequence[str], k: int = 4,
                  among: int = 1000) -> str:
  """A Markdown table: each word and its ``k`` nearest of the ``among`` most frequent words (cosine distance)."""
  ids = word_ids(words, vocab)
  table = nearest_neighbours(embedding, ids, np.arange(min(among, len(vocab))), k)
  lines = ["| word | " + " | ".join(f"neighbour {i + 1}" for i in range(k)) + " |",
           "|:--|" + ":--|" * k]
  for word, row in zip(words, table):
    lines.append(f"| {word} | " + " | ".join(f"{vocab[i]} ({d:.3f})" for i, d in row) + " |")
  return "\n".join(lines) + "\n"


# --- 2-D embedding plot ------------------------------------------------------------------------------

#: Where a label may sit around its point, tried in this order: (ha, va, dx, dy in points).
_LABEL_SPOTS = (("left", "bottom", 2, 2), ("right", "bottom", -2, 2), ("left", "top", 2, -2),
                ("right", "top", -2, -2), ("center", "bottom", 0, 4), ("center", "top", 0, -4),
                ("left", "center", 4, 0), ("right", "center", -4, 0))


def project_2d(embedding: np.ndarray) -> tuple[np.ndarray, str]:
  """The embedding itself when it is 2-D, else its first two principal components; and axis names."""
  e = np.asarray(embedding, np.float64)
  if e.shape[1] == 2:
    return e, "dimension"
  centred = e - e.mean(0)
  _, _, vt = np.linalg.svd(centred, full_matrices=False)
  return centred @ vt[:2].T, "principal component"


def place_labels(ax, points: np.ndarray, labels: Sequence[str], fontsize: float = 7.0) -> list[np.ndarray]:
  """Labels the points in order, each at the first spot around it (``_LABEL_SPOTS``) where its text
  overlaps no label already placed and stays inside the axes; a label with no such spot is left out.

  Returns the placed labels' display-space boxes ``[x0, y0, x1, y1]`` (one per placed label).
  The axes limits must be final: boxes are measured with the figure's renderer.
  """
  renderer = ax.figure.canvas.get_renderer()
  frame = ax.get_window_extent(renderer)
  placed: list[np.ndarray] = []
  for (x, y), label in zip(points, labels):
    for ha, va, dx, dy in _LABEL_SPOTS:
      text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                         fontsize=fontsize)
      box = text.get_window_extent(renderer)
      b = np.array([box.x0, box.y0, box.x1, box.y1])
      inside = b[0] >= frame.x0 and b[1] >= frame.y0 and b[2] <= frame.x1 and b[3] <= frame.y1
      if inside and not any(_overlap(b, other) for other in placed):
        placed.append(b)
        break
      text.remove()
  return placed


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
  return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def plot_embedding(embedding: np.ndarray, vocab: Sequence[str], count: int, path: str | Path,
                   title: str = "") -> tuple[Path, int]:
  """Scatter plot of the ``count`` most frequent words (ids 0..count-1) with non-overlapping labels.

  Returns the file and how many of the ``count`` words got a label (the most frequent first).
  """
  points, axis_name = project_2d(embedding)
  points = points[:count]
  size = 7.0 if count <= 200 else 12.0
  fig = Figure(figsize=(size, size), dpi=110)
  FigureCanvasAgg(fig)  # a renderer, to measure the labels
  ax = fig.add_axes((0.1, 0.08, 0.86, 0.85))
  ax.scatter(points[:, 0], points[:, 1], s=6, color="tab:blue", alpha=0.6)
  low, high = points.min(0), points.max(0)
  pad = 0.06 * np.maximum(high - low, 1e-6)
  ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
  ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
  ax.set_xlabel(f"{axis_name} 1")
  ax.set_ylabel(f"{axis_name} 2")
  placed = place_labels(ax, points, [vocab[i] for i in range(len(points))])
  ax.set_title(f"{title}{' ' if title else ''}{len(points)} most frequent words, {len(placed)} labelled "
               "(a label that would overlap another is left out)", fontsize=10)
  return save_figure(fig, path), len(placed)


# --- generation -------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SlidingWindowLM:
  """An n-gram model (``[batch, n-1] -> logits``) seen as a carried-state LM for ``sampling.Sampler``.

  ``apply(variables, tokens [batch, time], carry)`` returns ``(carry, logits [batch, time, vocab])``,
  the contract of ``models.LanguageModel``: the carry is the last ``context`` ids, and position t's
  logits predict the word after ``tokens[:, t]`` from the ``context`` words ending there. A sample
  starts from a carry of ``pad_id`` (``START``), so a prompt shorter than the context reads as the
  start of a sentence.
  """

  model: Any
  context: int
  vocab_size: int
  pad_id: int

  def apply(self, variables, tokens: Array, carry: Array | None = None) -> tuple[Array, Array]:
    batch, time = tokens.shape
    if carry is None:
      carry = jnp.full((batch, self.context), self.pad_id, tokens.dtype)
    sequence = jnp.concatenate([carry, tokens], axis=1)  # [batch, context + time]
    windows = jnp.stack([sequence[:, t + 1:t + 1 + self.context] for t in range(time)], axis=1)
    logits = self.model.apply(variables, windows.reshape(batch * time, self.context))
    return sequence[:, -self.context:], logits.reshape(batch, time, -1)


def generate(sampler: sampling.Sampler, params, vocab: Sequence[str], prompts: Sequence[str], length: int,
             key: Array, temperature: float) -> list[str]:
  """Every prompt (words separated by spaces) followed by ``length`` generated words.

  ``sampler`` is ``sampling.Sampler(SlidingWindowLM(...))`` (compiled once, whatever the
  temperature); ``temperature`` 0 is greedy. Generation goes on after an ``END``, but the text is cut after it:
  the model never saw a context that crosses a sentence end.
  """
  from rnn_jax.data.ngrams import END

  split = [p.split() for p in prompts]
  if any(len(words) != len(split[0]) or not words for words in split):
    raise AnalysisError(f"prompts must have the same number (>= 1) of words, got {[len(w) for w in split]}")
  ids = np.stack([word_ids(words, vocab) for words in split])  # [prompts, words]
  generated = sampler(params, ids, length, key, temperature=temperature)
  texts = []
  for words, row in zip(split, generated):
    new = [vocab[i] for i in row.tolist()]
    if END in new:
      new = new[:new.index(END) + 1]
    texts.append(" ".join(words) + " | " + " ".join(new))
  return texts


# --- a training workdir -------------------------------------------------------------------------------

@dataclasses.dataclass
class NgramRun:
  """One seed of an n-gram run: its model seen as a carried-state LM, parameters and vocabulary."""
  lm: SlidingWindowLM
  params: Any
  vocab: list[str]
  config: Any
  seed: int
  step: int

  @property
  def embedding(self) -> np.ndarray:
    return np.asarray(self.params["embed"]["embedding"])


def load_ngram_run(workdir: str | Path, *, checkpoint: str = "best", seed: int | None = None) -> NgramRun:
  """The model, vocabulary and one seed's parameters of the n-gram run in ``workdir``.

  ``checkpoint``: the best-by-validation parameters (``best``) or the latest (``latest``), both
  from the latest checkpoint; ``seed``: one of ``config.seeds`` (default the first).
  """
  from ml_collections import ConfigDict

  from rnn_jax.data.ngrams import START
  from rnn_jax.tasks import ngram

  workdir = Path(workdir)
  if checkpoint not in trained_runs.CHECKPOINT_KINDS:
    raise AnalysisError(f"checkpoint must be one of {trained_runs.CHECKPOINT_KINDS}, got {checkpoint!r}")
  config_path, vocab_path = workdir / "config.json", workdir / "vocab.json"
  if not config_path.is_file():
    raise AnalysisError(f"{workdir} has no config.json: not a training workdir (pass the --workdir of a run)")
  config = ConfigDict(json.loads(config_path.read_text()))
  if config.get("task") != "ngram":
    raise AnalysisError(f"{workdir} is a {config.get('task')!r} run, not an n-gram one (config.task 'ngram')")
  if not vocab_path.is_file():
    raise AnalysisError(f"{workdir} has no vocab.json; it is written when an n-gram run starts")
  vocab = json.loads(vocab_path.read_text())
  seeds = [int(s) for s in config.seeds]
  seed = seeds[0] if seed is None else int(seed)
  if seed not in seeds:
    raise AnalysisError(f"seed {seed} was not trained in {workdir}; its seeds are {tuple(seeds)}")
  step, state = checkpointing.restore_latest_on_one_device(workdir / "checkpoints")
  if step is None:
    raise AnalysisError(f"{workdir} has no checkpoint in {workdir / 'checkpoints'}; train it first")
  state = checkpointing.train_state(state)
  params = jax.tree.map(lambda a: np.asarray(a)[seeds.index(seed)],
                        state["best_params" if checkpoint == "best" else "params"])
  model = ngram.build_model(config, len(vocab))
  lm = SlidingWindowLM(model, int(config.data.order) - 1, len(vocab), vocab.index(START))
  return NgramRun(lm=lm, params=params, vocab=vocab, config=config, seed=seed, step=int(step))


def analysis_md(run: NgramRun, out_dir: str | Path, *, words: Sequence[str], prompts: Sequence[str],
                temperatures: Sequence[float], length: int, key: Array, among: int = 1000,
                plot_counts: Sequence[int] = (100, 500), command: str | None = None) -> str:
  """Writes the neighbours table, the embedding plots and the generated text to ``out_dir``; returns the Markdown."""
  out_dir = Path(out_dir)
  m = run.config.model
  parts = [f"# What the {m.kind} (D = {m.embed_dim}, H = {m.features}) learnt: seed {run.seed}, step {run.step}", ""]
  if command:
    parts += [f"Made by: `{command}`", ""]
  parts += [f"## Nearest neighbours (cosine distance, among the {among:,} most frequent words)", "",
            neighbours_md(run.embedding, run.vocab, words, among=among)]
  parts += ["## Embedding", ""]
  for count in (min(c, len(run.vocab)) for c in plot_counts):
    path, labelled = plot_embedding(run.embedding, run.vocab, count, out_dir / f"embedding_top{count}.png")
    parts.append(f"![{count} most frequent words]({path.name}) ({labelled} of {count} labelled)")
  modes = [("greedy", 0.0)] + [(f"T={t:g}", float(t)) for t in temperatures if t > 0]
  parts += ["", f"## Generation: {length} words after each prompt (`|` marks where the model takes over; "
            "text after END is cut)", "", "```text"]
  sampler = sampling.Sampler(run.lm)
  for name, temperature in modes:
    for line in generate(sampler, run.params, run.vocab, prompts, length, key, temperature):
      parts.append(f"{name:<7} {line}")
  parts += ["```", ""]
  text = "\n".join(parts)
  out_dir.mkdir(parents=True, exist_ok=True)
  (out_dir / "analysis.md").write_text(text)
  return text
