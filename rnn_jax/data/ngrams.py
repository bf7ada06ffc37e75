"""Word n-grams of Penn Treebank sentences (4-grams by default), as a TFDS dataset without TF.

Derived from the checksummed PTB files of ``ptb.py`` (Mikolov's text): the builder finds and
verifies ``ptb.{train,valid,test}.txt`` exactly as the PTB builder does (``common.find_verified_file``,
same search order and one-line ``DataError``s), then stores the n-grams themselves, so a run reads
arrays and never tokenises again. Offline, put the files in ``$RNN_JAX_DATA_DIR/ptb/`` or pass
``manual_dir``.

Conventions (CMU 10-707's 4-gram homework, made exact):
  * A sentence is one non-blank line of a file, its words split on whitespace; it becomes
    ``START w_1 ... w_L END``. N-grams never cross a sentence boundary: a sentence of L words gives
    ``max(0, L + 3 - n)`` n-grams (every n consecutive tokens), in order of appearance.
  * Vocabulary, from the train file only: every token of the train sentences is counted, ``START``
    and ``END`` (once per sentence) included. PTB already replaced its rare words by ``<unk>``; we
    read ``<unk>`` as our ``UNK``. The ``vocab_size - 1`` most frequent other tokens are kept (ties:
    the word's code-point order) and ``UNK`` stands for ``<unk>`` and every token not kept (also in
    valid/test). Ids are then assigned by descending train count, ``UNK`` counted as all the tokens
    it stands for, ties by word, so an id is a frequency rank: the 1,000 most frequent types are
    ids 0..999. PTB, 8,000 types: ``UNK`` 0 (56,895 train tokens: 45,020 ``<unk>`` and 11,875 of
    the 1,999 rarest words), ``the`` 1 (50,770), ``END`` 2 and ``START`` 3 (42,068 each).
  * ``START``/``END``/``UNK`` are reserved: a source file using them as words is a ``DataError``.

Stored per split: the n-grams as int32 rows ``[w_1 .. w_n]`` in records of at most ``CHUNK_ROWS``
rows with an ``index`` feature (one record per n-gram would make reading ~845k records take
seconds); the vocabulary, its train counts, sentences and n-grams per split and the source files'
sha256 go into the dataset's ``metadata.json``. One builder config per (source files, n, vocabulary
size), named e.g. ``mikolov_n4_v8000``. A failed preparation leaves nothing behind
(``common.prepare``).

Measured on the real files (n = 4, 8,000 types): sentences 42,068 / 3,370 / 3,761, 4-grams
845,453 / 67,020 / 74,908 (train / valid / test).
"""
from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from rnn_jax.data import ptb
from rnn_jax.data.common import (DataError, PathLike, TextFilesConfig, decode_text,
                                 find_verified_file, file_checksums, prepare,
                                 resolve_tfds_dir)

START, END, UNK = "START", "END", "UNK"
RESERVED = (START, END, UNK)
SOURCE_UNK = ptb.UNK  # PTB's own rare-word token, read as UNK
DEFAULT_ORDER = 4
DEFAULT_VOCAB_SIZE = 8000
CHUNK_ROWS = 1 << 16


@dataclasses.dataclass(eq=False)
class NgramConfig(tfds.core.BuilderConfig):
  """Builder config: which files, which n, how many vocabulary types (``UNK`` included).

  Attributes:
    source: the text files, one sentence per line; must have a ``train`` split.
    order: n of the n-grams (context of ``n - 1`` words, then the word to predict).
    vocab_size: types in the vocabulary, ``UNK`` included (fewer if the train text has fewer).
  """
  source: TextFilesConfig = ptb.PTB_CONFIG
  order: int = DEFAULT_ORDER
  vocab_size: int = DEFAULT_VOCAB_SIZE


def ngram_config(order: int = DEFAULT_ORDER, vocab_size: int = DEFAULT_VOCAB_SIZE,
                 source: TextFilesConfig = ptb.PTB_CONFIG) -> NgramConfig:
  """The builder config of ``source`` at (order, vocab_size), named ``<source>_n<order>_v<size>``."""
  if isinstance(order, bool) or not isinstance(order, int) or order < 2:
    raise ValueError(f"n-gram order must be an int >= 2 (a context word and a target), got {order!r}")
  if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 4:
    raise ValueError(f"vocab_size must be an int >= 4 (START, END, UNK and a word), got {vocab_size!r}")
  if "train" not in source.files:
    raise ValueError(f"the source config {source.name!r} has no train file (splits: {sorted(source.files)})")
  return _cached_config(order, vocab_size, source)


@functools.lru_cache(maxsize=None)
def _cached_config(order: int, vocab_size: int, source: TextFilesConfig) -> NgramConfig:
  # One object per (order, size, source): TFDS refuses a second config object under a name its
  # builder already knows (configs compare by identity).
  return NgramConfig(name=f"{source.name}_n{order}_v{vocab_size}", source=source, order=order,
                     vocab_size=vocab_size,
                     description=f"{order}-grams of the sentences of {source.name}, {vocab_size} types.")


DEFAULT_CONFIG = ngram_config()


# ----------------------------------------------------------------------------------------------
# Sentences, vocabulary, n-grams (pure functions; the tests use them on hand-written text).


def sentences(text: str) -> list[list[str]]:
  """The words of every non-blank line."""
  return [words for words in (line.split() for line in text.splitlines()) if words]


def build_vocab(train_sentences: Sequence[Sequence[str]], vocab_size: int) -> tuple[list[str], list[int]]:
  """(types by descending train count with ties by word, their counts); see the module docstring."""
  counts = collections.Counter()
  for words in train_sentences:
    counts.update(words)
  reserved = sorted(set(RESERVED) & set(counts))
  if reserved:
    raise DataError(f"the train text uses the reserved token(s) {', '.join(reserved)} as words; "
                    "they mark sentence starts/ends and unknown words here")
  unk_count = counts.pop(SOURCE_UNK, 0)
  counts[START] = counts[END] = len(train_sentences)
  ranked = sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))
  kept, dropped = ranked[:vocab_size - 1], ranked[vocab_size - 1:]
  unk_count += sum(count for _, count in dropped)
  final = sorted(kept + [(UNK, unk_count)], key=lambda wc: (-wc[1], wc[0]))
  return [w for w, _ in final], [c for _, c in final]


def extract_ngrams(split_sentences: Sequence[Sequence[str]], vocab: Sequence[str], order: int) -> np.ndarray:
  """``[count, order]`` int32: every window of ``order`` tokens inside one ``START .. END`` sentence."""
  word_to_id = {word: i for i, word in enumerate(vocab)}
  unk, start, end = word_to_id[UNK], word_to_id[START], word_to_id[END]
  ids, sentence_of = [], []
  for index, words in enumerate(split_sentences):
    ids += [start, *(word_to_id.get(w, unk) for w in words), end]
    sentence_of += [index] * (len(words) + 2)
  if len(ids) < order:
    return np.zeros((0, order), np.int32)
  windows = np.lib.stride_tricks.sliding_window_view(np.asarray(ids, np.int32), order)  # [tokens-n+1, n]
  owner = np.asarray(sentence_of)
  inside = owner[:len(windows)] == owner[order - 1:]  # first and last token in the same sentence
  return np.ascontiguousarray(windows[inside])


def ngram_frequencies(ngrams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Distinct rows and their counts, by descending count, ties by the rows' ids (lexicographic)."""
  if len(ngrams) == 0:
    return np.zeros((0, ngrams.shape[1]), ngrams.dtype), np.zeros(0, np.int64)
  rows, counts = np.unique(ngrams, axis=0, return_counts=True)  # rows sorted lexicographically
  order = np.argsort(-counts, kind="stable")
  return rows[order], counts[order]


# ----------------------------------------------------------------------------------------------
# The TFDS builder.


class RnnJaxWordNgrams(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """TFDS builder ``rnn_jax_word_ngrams``: n-gram rows and the vocabulary (module docstring)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "n-grams in int32 chunks with an index; vocabulary in metadata.json."}
  BUILDER_CONFIGS = [DEFAULT_CONFIG]

  def __init__(self, *, manual_dir: PathLike | None = None, **kwargs: Any):
    self._manual_dir = Path(manual_dir).expanduser() if manual_dir is not None else None
    super().__init__(**kwargs)

  @property
  def ngram_config(self) -> NgramConfig:
    config = self.builder_config
    if not isinstance(config, NgramConfig):
      raise TypeError(f"{type(self).__name__} needs an NgramConfig, got {config!r}")
    return config

  def _info(self) -> tfds.core.DatasetInfo:
    order = self.ngram_config.order
    features = tfds.features.FeaturesDict({
        "index": tfds.features.Scalar(dtype=np.int64),
        "ngrams": tfds.features.Tensor(shape=(None, order), dtype=np.int32,
                                       encoding=tfds.features.Encoding.ZLIB),
    })
    return self.dataset_info_from_configs(features=features, metadata=tfds.core.MetadataDict(),
                                          homepage=ptb.RnnJaxPtb.HOMEPAGE, disable_shuffling=True)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
    config = self.ngram_config
    source = config.source
    texts, sha256 = {}, {}
    for split, known in source.files.items():
      path = find_verified_file(known, source.corpus, self._manual_dir, Path(dl_manager.download_dir))
      texts[split] = decode_text(path)
      sha256[split] = file_checksums(path)[1]
    split_sentences = {split: sentences(text) for split, text in texts.items()}
    vocab, counts = build_vocab(split_sentences["train"], config.vocab_size)
    ngrams = {split: extract_ngrams(s, vocab, config.order) for split, s in split_sentences.items()}
    self.info.metadata.update({
        "vocab": vocab, "vocab_counts": counts, "source_sha256": sha256,
        "sentences": {split: len(s) for split, s in split_sentences.items()},
        "ngrams": {split: len(rows) for split, rows in ngrams.items()},
    })
    return {split: self._generate_examples(rows) for split, rows in ngrams.items()}

  def _generate_examples(self, rows: np.ndarray) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, begin in enumerate(range(0, max(len(rows), 1), CHUNK_ROWS)):
      yield index, {"index": index, "ngrams": rows[begin:begin + CHUNK_ROWS]}


@dataclasses.dataclass(frozen=True)
class NgramData:
  """The n-grams of every split (int32 ``[count, order]``) and the vocabulary (index = id)."""
  order: int
  vocab: list[str]
  vocab_counts: list[int]
  ngrams: Mapping[str, np.ndarray]
  sentences: Mapping[str, int]

  @property
  def vocab_size(self) -> int:
    return len(self.vocab)

  def words(self, ids: Sequence[int] | np.ndarray) -> list[str]:
    return [self.vocab[i] for i in np.asarray(ids).reshape(-1).tolist()]


def _read_split(builder: tfds.core.DatasetBuilder, split: str, order: int) -> np.ndarray:
  source = builder.as_data_source(split=split)
  records = sorted((source[i] for i in range(len(source))), key=lambda r: int(r["index"]))
  if [int(r["index"]) for r in records] != list(range(len(records))):
    raise DataError(f"prepared split {split!r} in {builder.data_path} has gaps in its chunk indices; "
                    "delete that folder to prepare it again")
  return np.concatenate([np.asarray(r["ngrams"], np.int32).reshape(-1, order) for r in records])


def load_ngrams(order: int = DEFAULT_ORDER, vocab_size: int = DEFAULT_VOCAB_SIZE, *,
                manual_dir: PathLike | None = None, tfds_data_dir: PathLike | None = None,
                source: TextFilesConfig = ptb.PTB_CONFIG) -> NgramData:
  """The n-grams of ``source`` (default: PTB), prepared once as a TFDS array_record dataset.

  Args:
    order, vocab_size: n and the number of types (``UNK`` included); see the module docstring.
    manual_dir: folder holding the source files (or a root with a ``ptb/`` folder); when None,
      ``$RNN_JAX_DATA_DIR/ptb/`` and then a download are tried.
    tfds_data_dir: TFDS data directory; default ``$RNN_JAX_TFDS_DIR``, else ~/tensorflow_datasets.
    source: which files to expect (tests pass fake files' checksums).

  Raises:
    DataError: a file is missing, corrupt, not UTF-8, empty or uses a reserved token (nothing is
      left prepared).
  """
  config = ngram_config(order, vocab_size, source)
  builder = RnnJaxWordNgrams(config=config, data_dir=resolve_tfds_dir(tfds_data_dir),
                             file_format="array_record", manual_dir=manual_dir)
  prepare(builder)
  meta = builder.info.metadata
  ngrams = {split: _read_split(builder, split, order) for split in source.files}
  expected = {split: int(n) for split, n in meta["ngrams"].items()}
  if {split: len(rows) for split, rows in ngrams.items()} != expected:
    raise DataError(f"prepared n-grams in {builder.data_path} do not match their metadata "
                    f"({expected}); delete that folder to prepare it again")
  return NgramData(order=order, vocab=list(meta["vocab"]), vocab_counts=[int(c) for c in meta["vocab_counts"]],
                   ngrams=ngrams, sentences={split: int(n) for split, n in meta["sentences"].items()})
