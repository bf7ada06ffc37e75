"""Character-level corpora: Grimms' Fairy Tales by default, or any UTF-8 text file, via TFDS.

Source of the default corpus: Grimms' Fairy Tales (Project Gutenberg eBook #2591) as distributed
with the University of Amsterdam Deep Learning course 2020, GitHub repository
uvadlc/uvadlc_practicals_2020, `assignment_2/2_recurrentnns_gnns/code/Part 2/assets/
book_EN_grimms_fairy_tails.txt`, checked by md5 and sha256 and stored locally as
`grimms_fairy_tales.txt`. Offline, put it in a folder passed as `manual_dir` or in
`$RNN_JAX_DATA_DIR/grimm/` (see `common.py` for the search order, the TFDS data directory and
the error handling).

Decisions:
  * The file starts with a UTF-8 byte-order mark; it is dropped when decoding (for every file,
    see `common.py`), so Grimm has 540,240 characters and 86 distinct ones (the file itself,
    BOM included, has 540,241 and 87).
  * Vocabulary: the distinct characters of the whole text sorted by code point; id = position.
  * A text file of the user's choice (`path=`) also goes through the TFDS builder, under a
    builder config named `sha256_<hex digest of the file>`: the checksum is measured when
    `load_chars` is called, so the prepared dataset is reused while the file is unchanged and a
    changed file gets a new dataset (old ones stay in the TFDS data directory until deleted).
    It is read as UTF-8 (BOM dropped) and must not be empty; otherwise `DataError`.
  * The text is stored as one split named "full"; splitting into train/valid is left to callers.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rnn_jax.data.common import (DataError, KnownFile, PathLike, TextFilesBuilder,
                                 TextFilesConfig, file_checksums, load_split_texts)

SPLIT = "full"
GRIMM_URL = ("https://raw.githubusercontent.com/uvadlc/uvadlc_practicals_2020/master/"
             "assignment_2/2_recurrentnns_gnns/code/Part%202/assets/book_EN_grimms_fairy_tails.txt")
GRIMM_FILE = KnownFile(
    name="grimms_fairy_tales.txt", url=GRIMM_URL, md5="4ea833fff2e13e3424e8f2b06d91be48",
    sha256="e6439bd511820742e842e21b75e89b394d3809eec82ca56b506c39ff39d4a7d6")
GRIMM_CONFIG = TextFilesConfig(
    name="grimm", corpus="grimm", files={SPLIT: GRIMM_FILE},
    description="Grimms' Fairy Tales (Gutenberg #2591) from uvadlc/uvadlc_practicals_2020.")


class RnnJaxChars(TextFilesBuilder):
  """TFDS builder `rnn_jax_chars`: one text file, verbatim (BOM dropped), as text chunks."""
  BUILDER_CONFIGS = [GRIMM_CONFIG]
  HOMEPAGE = "https://github.com/uvadlc/uvadlc_practicals_2020"


@dataclasses.dataclass(frozen=True)
class CharData:
  """Character ids of the whole text (np.int32, 1-D) and the vocabulary (index = id)."""
  text_ids: np.ndarray
  vocab: list[str]

  @property
  def vocab_size(self) -> int:
    return len(self.vocab)

  def decode(self, ids: Sequence[int] | np.ndarray) -> str:
    return "".join(self.vocab[i] for i in np.asarray(ids).tolist())


def char_data_from_text(text: str) -> CharData:
  """Numbers the characters of `text` by their rank among its distinct characters."""
  code_points = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
  vocab_points = np.unique(code_points)
  ids = np.searchsorted(vocab_points, code_points).astype(np.int32)
  return CharData(text_ids=ids, vocab=[chr(c) for c in vocab_points.tolist()])


_GUTENBERG_START = re.compile(r"^\*\*\* ?START OF (?:THIS|THE) PROJECT GUTENBERG EBOOK[^\n]*\n", re.MULTILINE)
_GUTENBERG_END = re.compile(r"^\*\*\* ?END OF (?:THIS|THE) PROJECT GUTENBERG EBOOK", re.MULTILINE)


def gutenberg_body(text: str) -> str:
  """The book between Project Gutenberg's ``*** START OF ...`` and ``*** END OF ...`` lines.

  Text without those markers is returned unchanged; with only one of them, only that side is cut.
  Grimm (#2591): 540,240 characters (86 distinct) -> 520,873 (80 distinct), without the
  750-character header and the 18,600-character licence, which would otherwise be 70% of a
  last-5% hold-out.
  """
  start = _GUTENBERG_START.search(text)
  end = _GUTENBERG_END.search(text, start.end() if start else 0)
  return text[start.end() if start else 0:end.start() if end else len(text)]


def text_file_config(path: PathLike) -> TextFilesConfig:
  """Builder config for a user's text file, named after (and checked against) its sha256."""
  path = Path(path).expanduser()
  try:
    md5, sha256 = file_checksums(path)
  except OSError as e:
    raise DataError(f"{path}: cannot read the text file ({e.strerror or e})") from e
  return TextFilesConfig(name=f"sha256_{sha256}", corpus="", description=f"Text of {path}",
                         files={SPLIT: KnownFile(name=path.name, md5=md5, sha256=sha256)})


def load_chars(path: PathLike | None = None, manual_dir: PathLike | None = None,
               tfds_data_dir: PathLike | None = None, *,
               config: TextFilesConfig | None = None, gutenberg_body_only: bool = False) -> CharData:
  """A text as character ids, prepared once as a TFDS array_record dataset.

  Args:
    path: a UTF-8 text file to use instead of Grimm (no expected checksum).
    manual_dir: folder holding grimms_fairy_tales.txt (or a root with a `grimm/` folder); when
      None, `$RNN_JAX_DATA_DIR/grimm/` and then a download are tried. Not with `path`.
    tfds_data_dir: TFDS data directory; default `$RNN_JAX_TFDS_DIR`, else ~/tensorflow_datasets.
    config: which file to expect instead of Grimm (tests pass fake files' checksums); one split
      named "full". Not with `path`.
    gutenberg_body_only: keep only the book between Project Gutenberg's START/END lines
      (`gutenberg_body`); the vocabulary is then that text's characters.

  Raises:
    DataError: the file is missing, corrupt, not UTF-8 or empty (nothing is left prepared).
  """
  if path is not None:
    if manual_dir is not None or config is not None:
      raise ValueError("load_chars: give either path or manual_dir/config, not both")
    config, manual_dir = text_file_config(path), Path(path).expanduser().parent
  config = config or GRIMM_CONFIG
  if set(config.files) != {SPLIT}:
    raise ValueError(f"a character corpus config needs one file, split {SPLIT!r}")
  texts = load_split_texts(RnnJaxChars, config, manual_dir=manual_dir, tfds_data_dir=tfds_data_dir)
  text = gutenberg_body(texts[SPLIT]) if gutenberg_body_only else texts[SPLIT]
  return char_data_from_text(text)
