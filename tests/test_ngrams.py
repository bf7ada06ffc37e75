"""The n-gram data (rnn_jax.data.ngrams): hand-counted small texts, the TFDS builder, the real PTB 4-grams."""
from pathlib import Path

import numpy as np
import pytest

from rnn_jax.data import common, ngrams
from rnn_jax.data.common import DataError, KnownFile, TextFilesConfig

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Counts: a 4, START 4, END 4, b 2, c 2, d 1, e 1, <unk> 1. With 5 types the 4 kept are END,
# START, a (ties at 4 by code point: upper case first) and b (b and c tie at 2: b wins); UNK takes
# <unk>, c, d, e = 1 + 2 + 1 + 1 = 5 and so comes first.
TRAIN = " b a c \n a b \n c d a \n a <unk> e \n"
VALID = " a z \n\n b \n"  # a blank line is no sentence; z is unknown
TEST = " a \n"
VOCAB = ["UNK", "END", "START", "a", "b"]
UNK, END, START, A, B = range(5)


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
  monkeypatch.delenv(common.DATA_DIR_ENV, raising=False)
  monkeypatch.delenv(common.TFDS_DIR_ENV, raising=False)


def test_vocabulary_counts_start_end_and_unk_and_breaks_ties_by_word():
  vocab, counts = ngrams.build_vocab(ngrams.sentences(TRAIN), vocab_size=5)
  assert vocab == VOCAB
  assert counts == [5, 4, 4, 4, 2]
  # Room for every word: nothing but PTB's own <unk> is UNK, which sorts by its count of 1.
  vocab, counts = ngrams.build_vocab(ngrams.sentences(TRAIN), vocab_size=100)
  assert vocab == ["END", "START", "a", "b", "c", "UNK", "d", "e"] and counts == [4, 4, 4, 2, 2, 1, 1, 1]


def test_four_grams_stay_inside_start_end_sentences():
  rows = ngrams.extract_ngrams(ngrams.sentences(TRAIN), VOCAB, order=4)
  # "b a c" -> START b a c END: 2 windows; "a b" -> 1; "c d a" -> 2; "a <unk> e" -> 2.
  np.testing.assert_array_equal(rows, [
      [START, B, A, UNK], [B, A, UNK, END],
      [START, A, B, END],
      [START, UNK, UNK, A], [UNK, UNK, A, END],
      [START, A, UNK, UNK], [A, UNK, UNK, END]])
  assert rows.dtype == np.int32
  np.testing.assert_array_equal(ngrams.extract_ngrams(ngrams.sentences(VALID), VOCAB, 4), [[START, A, UNK, END]])
  assert ngrams.extract_ngrams(ngrams.sentences(TEST), VOCAB, 4).shape == (0, 4)  # START a END is too short
  # Bigrams: L + 1 per sentence of L words.
  assert len(ngrams.extract_ngrams(ngrams.sentences(TRAIN), VOCAB, 2)) == 4 + 3 + 4 + 4


def test_ngram_frequencies_count_rows_and_break_ties_by_ids():
  rows = np.array([[3, 1], [0, 2], [3, 1], [0, 1], [0, 2], [2, 2]], np.int32)
  distinct, counts = ngrams.ngram_frequencies(rows)
  np.testing.assert_array_equal(distinct, [[0, 2], [3, 1], [0, 1], [2, 2]])
  np.testing.assert_array_equal(counts, [2, 2, 1, 1])


def write_fake_ptb(folder: Path, train: str = TRAIN) -> TextFilesConfig:
  folder.mkdir(parents=True, exist_ok=True)
  files = {}
  for split, text in (("train", train), ("valid", VALID), ("test", TEST)):
    path = folder / f"ptb.{split}.txt"
    path.write_text(text, encoding="utf-8")
    md5, sha256 = common.file_checksums(path)
    files[split] = KnownFile(name=path.name, md5=md5, sha256=sha256)
  return TextFilesConfig(name="fake", corpus="ptb", files=files)


def test_builder_round_trip_then_reads_only_the_prepared_data(tmp_path):
  source = write_fake_ptb(tmp_path / "ptb")
  data = ngrams.load_ngrams(4, 5, manual_dir=tmp_path / "ptb", tfds_data_dir=tmp_path / "tfds", source=source)
  assert data.vocab == VOCAB and data.vocab_counts == [5, 4, 4, 4, 2]
  assert data.sentences == {"train": 4, "valid": 2, "test": 1}
  assert {split: len(rows) for split, rows in data.ngrams.items()} == {"train": 7, "valid": 1, "test": 0}
  np.testing.assert_array_equal(data.ngrams["train"], ngrams.extract_ngrams(ngrams.sentences(TRAIN), VOCAB, 4))
  assert data.words(data.ngrams["valid"][0]) == ["START", "a", "UNK", "END"]
  assert (tmp_path / "tfds" / "rnn_jax_word_ngrams" / "fake_n4_v5" / "1.0.0").is_dir()
  for file in (tmp_path / "ptb").iterdir():  # without the sources only the prepared data can answer
    file.unlink()
  again = ngrams.load_ngrams(4, 5, manual_dir=tmp_path / "ptb", tfds_data_dir=tmp_path / "tfds", source=source)
  assert again.vocab == data.vocab and again.sentences == data.sentences
  for split in data.ngrams:
    np.testing.assert_array_equal(again.ngrams[split], data.ngrams[split])


def test_rows_are_stored_in_chunks_and_come_back_in_order(tmp_path, monkeypatch):
  monkeypatch.setattr(ngrams, "CHUNK_ROWS", 3)
  source = write_fake_ptb(tmp_path / "ptb")
  data = ngrams.load_ngrams(2, 5, manual_dir=tmp_path / "ptb", tfds_data_dir=tmp_path / "tfds", source=source)
  np.testing.assert_array_equal(data.ngrams["train"], ngrams.extract_ngrams(ngrams.sentences(TRAIN), VOCAB, 2))
  builder = ngrams.RnnJaxWordNgrams(config=ngrams.ngram_config(2, 5, source), data_dir=tmp_path / "tfds",
                                    file_format="array_record")
  assert len(builder.as_data_source(split="train")) == 5  # 15 bigrams in records of 3


def assert_nothing_prepared(tfds_dir: Path) -> None:
  leftovers = sorted(str(p.relative_to(tfds_dir)) for p in tfds_dir.rglob("*")) if tfds_dir.exists() else []
  assert leftovers == [], f"half-prepared leftovers: {leftovers}"


def test_corrupt_source_file_is_a_one_line_error_and_leaves_nothing(tmp_path):
  source = write_fake_ptb(tmp_path / "ptb")
  (tmp_path / "ptb" / "ptb.valid.txt").write_text(" a a \n", encoding="utf-8")
  with pytest.raises(DataError, match=r"ptb\.valid\.txt is corrupt") as error:
    ngrams.load_ngrams(4, 5, manual_dir=tmp_path / "ptb", tfds_data_dir=tmp_path / "tfds", source=source)
  assert "\n" not in str(error.value)
  assert_nothing_prepared(tmp_path / "tfds")


def test_reserved_tokens_in_the_text_are_refused(tmp_path):
  source = write_fake_ptb(tmp_path / "ptb", train=" a START b \n")
  with pytest.raises(DataError, match="reserved token"):
    ngrams.load_ngrams(4, 5, manual_dir=tmp_path / "ptb", tfds_data_dir=tmp_path / "tfds", source=source)
  assert_nothing_prepared(tmp_path / "tfds")


@pytest.mark.parametrize("order,vocab_size,message", [(1, 8000, "order must be an int >= 2"),
                                                      (4, 3, "vocab_size must be an int >= 4")])
def test_bad_sizes(order, vocab_size, message):
  with pytest.raises(ValueError, match=message):
    ngrams.ngram_config(order, vocab_size)


def test_real_ptb_four_grams(tmp_path_factory):
  """The real files (../shared/data, as in CI); the TFDS directory is the one the training tests share."""
  data = ngrams.load_ngrams(manual_dir=SHARED_DATA / "ptb", tfds_data_dir=tmp_path_factory.getbasetemp() / "tfds")
  assert data.vocab_size == 8000
  assert data.vocab[:6] == ["UNK", "the", "END", "START", "N", "of"]
  assert data.vocab_counts[:4] == [56_895, 50_770, 42_068, 42_068]
  assert data.sentences == {"train": 42_068, "valid": 3_370, "test": 3_761}
  # A sentence of L words gives L - 1 4-grams: 887,521 train words - 42,068 sentences.
  assert {s: len(r) for s, r in data.ngrams.items()} == {"train": 845_453, "valid": 67_020, "test": 74_908}
  assert len(ngrams.ngram_frequencies(data.ngrams["train"])[0]) == 711_077
  first_line = (SHARED_DATA / "ptb" / "ptb.train.txt").open(encoding="utf-8").readline().split()
  vocab = set(data.vocab)
  expected = [w if w in vocab else "UNK" for w in ["START", *first_line[:3]]]
  assert data.words(data.ngrams["train"][0]) == expected
