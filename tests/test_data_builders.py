"""TFDS text builders (rnn_jax.data): fake files with their own checksums, error paths, real data.

The real-data tests read ../shared/data (relative to the repository root) and run whenever that
directory exists. Every test uses its own TFDS data directory under tmp_path; nothing touches
the network (the download path is exercised with file:// URLs).
"""
from pathlib import Path

import numpy as np
import pytest

from rnn_jax.data import chars, common, ptb
from rnn_jax.data.common import DataError, KnownFile, TextFilesConfig
from rnn_jax.errors import UserError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(),
                                       reason=f"{SHARED_DATA} not on this machine")

PTB_FAKE = {"train": " a b b c <unk> \n c b \n", "valid": " b zz \n", "test": " a \n"}


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
  monkeypatch.delenv(common.DATA_DIR_ENV, raising=False)
  monkeypatch.delenv(common.TFDS_DIR_ENV, raising=False)


def known(path: Path, url: str | None = None) -> KnownFile:
  md5, sha256 = common.file_checksums(path)
  return KnownFile(name=path.name, md5=md5, sha256=sha256, url=url)


def write_fake_ptb(folder: Path) -> TextFilesConfig:
  folder.mkdir(parents=True, exist_ok=True)
  files = {}
  for split, text in PTB_FAKE.items():
    (folder / f"ptb.{split}.txt").write_text(text, encoding="utf-8")
    files[split] = known(folder / f"ptb.{split}.txt")
  return TextFilesConfig(name="fake", corpus="ptb", files=files)


def char_config(file: KnownFile, name: str = "fake") -> TextFilesConfig:
  return TextFilesConfig(name=name, corpus="chars", files={chars.SPLIT: file})


def assert_nothing_prepared(tfds_dir: Path) -> None:
  leftovers = sorted(str(p.relative_to(tfds_dir)) for p in tfds_dir.rglob("*")) \
      if tfds_dir.exists() else []
  assert leftovers == [], f"half-prepared leftovers: {leftovers}"


# ----------------------------------------------------------------------------------------------
# Fake files.


def test_ptb_fake_round_trip_and_vocab_order(tmp_path):
  config = write_fake_ptb(tmp_path / "data" / "ptb")
  data = ptb.load_ptb(manual_dir=tmp_path / "data" / "ptb", tfds_data_dir=tmp_path / "tfds",
                      config=config)
  # Counts b 3, <eos> 2, c 2, <unk> 1, a 1: descending count, ties by word.
  assert data.vocab == ["b", "<eos>", "c", "<unk>", "a"]
  for split in ptb.PTB_SPLITS:
    ids = getattr(data, split)
    assert ids.dtype == np.int32 and ids.ndim == 1
  assert data.words(data.train) == "a b b c <unk> <eos> c b <eos>".split()
  assert data.words(data.valid) == ["b", "<unk>", "<eos>"]  # "zz" is not in the train vocab.
  assert data.words(data.test) == ["a", "<eos>"]


def test_ptb_second_call_reads_prepared_data(tmp_path):
  source = tmp_path / "data" / "ptb"
  config = write_fake_ptb(source)
  first = ptb.load_ptb(manual_dir=source, tfds_data_dir=tmp_path / "tfds", config=config)
  version_dir = tmp_path / "tfds" / "rnn_jax_ptb" / "fake" / "1.0.0"
  assert sorted(p.name for p in version_dir.glob("*.array_record*")) == [
      f"rnn_jax_ptb-{split}.array_record-00000-of-00001" for split in ("test", "train", "valid")]
  for file in source.iterdir():  # Without its sources, only the prepared data can answer.
    file.unlink()
  second = ptb.load_ptb(manual_dir=source, tfds_data_dir=tmp_path / "tfds", config=config)
  assert second.vocab == first.vocab
  for split in ptb.PTB_SPLITS:
    np.testing.assert_array_equal(getattr(second, split), getattr(first, split))


def test_chars_round_trip_is_exact_over_many_chunks(tmp_path):
  lines = [f"Zeile {i}: Grüße, “quotes” — ünïcödé ✓\r\n" for i in range(4000)]
  text = "".join(lines) + "last line without newline"
  assert len(text) > 2 * common.CHUNK_CHARS
  file = tmp_path / "book.txt"
  file.write_bytes("\ufeff".encode() + text.encode("utf-8"))  # With a BOM, which is dropped.
  config = char_config(known(file))
  data = chars.load_chars(manual_dir=tmp_path, tfds_data_dir=tmp_path / "tfds", config=config)
  assert data.decode(data.text_ids) == text
  assert data.vocab == sorted(set(text))
  assert data.text_ids.dtype == np.int32 and data.text_ids.shape == (len(text),)
  builder = chars.RnnJaxChars(config=config, data_dir=tmp_path / "tfds",
                              file_format="array_record")
  assert len(builder.as_data_source(split=chars.SPLIT)) > 2


def test_user_text_file_goes_through_builder_keyed_by_sha256(tmp_path):
  file = tmp_path / "mine.txt"
  file.write_text("hello world\nhello again\n", encoding="utf-8")
  data = chars.load_chars(path=file, tfds_data_dir=tmp_path / "tfds")
  assert data.decode(data.text_ids) == "hello world\nhello again\n"
  assert data.vocab == sorted(set("hello world\nhello again\n"))
  _, sha256 = common.file_checksums(file)
  assert (tmp_path / "tfds" / "rnn_jax_chars" / f"sha256_{sha256}" / "1.0.0").is_dir()


def test_manual_dir_may_be_a_root_with_corpus_folders(tmp_path):
  config = write_fake_ptb(tmp_path / "root" / "ptb")
  data = ptb.load_ptb(manual_dir=tmp_path / "root", tfds_data_dir=tmp_path / "tfds",
                      config=config)
  assert data.words(data.test) == ["a", "<eos>"]


def test_env_data_dir_is_searched(tmp_path, monkeypatch):
  config = write_fake_ptb(tmp_path / "root" / "ptb")
  monkeypatch.setenv(common.DATA_DIR_ENV, str(tmp_path / "root"))
  monkeypatch.setenv(common.TFDS_DIR_ENV, str(tmp_path / "tfds"))
  data = ptb.load_ptb(config=config)
  assert data.words(data.test) == ["a", "<eos>"]
  assert (tmp_path / "tfds" / "rnn_jax_ptb" / "fake" / "1.0.0").is_dir()


def test_download_from_url_into_cache(tmp_path):
  remote = tmp_path / "remote" / "story.txt"
  remote.parent.mkdir()
  remote.write_text("once upon a time\n", encoding="utf-8")
  config = char_config(known(remote, url=remote.as_uri()))
  data = chars.load_chars(tfds_data_dir=tmp_path / "tfds", config=config)
  assert data.decode(data.text_ids) == "once upon a time\n"
  assert (tmp_path / "tfds" / "downloads" / "rnn_jax" / "chars" / "story.txt").is_file()


def test_tfds_dir_default_and_env(monkeypatch, tmp_path):
  assert common.resolve_tfds_dir() == Path("~/tensorflow_datasets").expanduser()
  monkeypatch.setenv(common.TFDS_DIR_ENV, str(tmp_path))
  assert common.resolve_tfds_dir() == tmp_path
  assert common.resolve_tfds_dir(tmp_path / "x") == tmp_path / "x"


# ----------------------------------------------------------------------------------------------
# Error paths: a DataError naming file and checksums, and nothing half-prepared.


def test_missing_file_in_manual_dir(tmp_path):
  config = write_fake_ptb(tmp_path / "made")
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataError) as error:
    ptb.load_ptb(manual_dir=tmp_path / "empty", tfds_data_dir=tmp_path / "tfds", config=config)
  message = str(error.value)
  assert isinstance(error.value, UserError) and isinstance(error.value, ValueError)
  assert "\n" not in message
  assert "ptb.train.txt not found" in message
  assert config.files["train"].sha256 in message and config.files["train"].md5 in message
  assert str(tmp_path / "empty" / "ptb.train.txt") in message  # Where to put it.
  assert_nothing_prepared(tmp_path / "tfds")


def test_missing_file_and_failed_download(tmp_path, monkeypatch):
  monkeypatch.setenv(common.DATA_DIR_ENV, str(tmp_path / "root"))
  url = (tmp_path / "nowhere" / "story.txt").as_uri()
  file = KnownFile(name="story.txt", sha256="0" * 64, md5="1" * 32, url=url)
  with pytest.raises(DataError) as error:
    chars.load_chars(tfds_data_dir=tmp_path / "tfds", config=char_config(file))
  message = str(error.value)
  assert "story.txt not found" in message and "0" * 64 in message and "1" * 32 in message
  assert f"download failed: {url}" in message
  assert "$RNN_JAX_DATA_DIR/chars/story.txt" in message
  assert str(tmp_path / "root" / "chars" / "story.txt") in message
  assert f"public source: {url}" in message
  assert_nothing_prepared(tmp_path / "tfds")


def test_corrupt_file_leaves_other_datasets_alone(tmp_path):
  good = tmp_path / "good.txt"
  good.write_text("good text\n", encoding="utf-8")
  tfds_dir = tmp_path / "tfds"
  chars.load_chars(manual_dir=tmp_path, tfds_data_dir=tfds_dir, config=char_config(known(good)))
  before = sorted(p for p in tfds_dir.rglob("*"))

  bad = tmp_path / "bad.txt"
  bad.write_text("original\n", encoding="utf-8")
  expected = known(bad)
  bad.write_text("tampered\n", encoding="utf-8")
  md5, sha256 = common.file_checksums(bad)
  with pytest.raises(DataError) as error:
    chars.load_chars(manual_dir=tmp_path, tfds_data_dir=tfds_dir,
                     config=char_config(expected, name="tampered"))
  message = str(error.value)
  assert f"{bad} is corrupt" in message
  assert f"expected md5 {expected.md5} sha256 {expected.sha256}" in message
  assert f"got md5 {md5} sha256 {sha256}" in message
  assert f"put a correct copy at {bad}" in message
  assert sorted(p for p in tfds_dir.rglob("*")) == before  # No "tampered" or incomplete folder.


def test_corrupt_file_fresh_tfds_dir(tmp_path):
  config = write_fake_ptb(tmp_path / "ptb")
  (tmp_path / "ptb" / "ptb.valid.txt").write_text(" b b \n", encoding="utf-8")
  with pytest.raises(DataError, match=r"ptb\.valid\.txt is corrupt"):
    ptb.load_ptb(manual_dir=tmp_path / "ptb", tfds_data_dir=tmp_path / "tfds", config=config)
  assert_nothing_prepared(tmp_path / "tfds")


def test_non_utf8_user_file(tmp_path):
  file = tmp_path / "latin1.txt"
  file.write_bytes("Grüße\n".encode("latin-1"))
  with pytest.raises(DataError, match=r"latin1\.txt is not UTF-8 text \(byte 2"):
    chars.load_chars(path=file, tfds_data_dir=tmp_path / "tfds")
  assert_nothing_prepared(tmp_path / "tfds")


def test_empty_or_missing_user_file(tmp_path):
  (tmp_path / "empty.txt").write_bytes(b"")
  with pytest.raises(DataError, match=r"empty\.txt is empty"):
    chars.load_chars(path=tmp_path / "empty.txt", tfds_data_dir=tmp_path / "tfds")
  with pytest.raises(DataError, match=r"nope\.txt: cannot read"):
    chars.load_chars(path=tmp_path / "nope.txt", tfds_data_dir=tmp_path / "tfds")
  assert_nothing_prepared(tmp_path / "tfds")


# ----------------------------------------------------------------------------------------------
# The real corpora (../shared/data).


@needs_shared_data
def test_real_ptb(tmp_path):
  data = ptb.load_ptb(manual_dir=SHARED_DATA / "ptb", tfds_data_dir=tmp_path)
  assert data.vocab_size == 10_000
  assert data.vocab[:5] == ["the", "<unk>", "<eos>", "N", "of"]
  assert (len(data.train), len(data.valid), len(data.test)) == (929_589, 73_760, 82_430)
  eos = data.vocab.index("<eos>")
  assert int(np.sum(data.train == eos)) == 42_068  # 887,521 words + 42,068 line ends.
  first_line = (SHARED_DATA / "ptb" / "ptb.train.txt").open(encoding="utf-8").readline()
  assert data.words(data.train[:len(first_line.split()) + 1]) == first_line.split() + ["<eos>"]
  for split in ptb.PTB_SPLITS:  # Exact round trip; valid/test have no words outside train.
    text = (SHARED_DATA / "ptb" / f"ptb.{split}.txt").read_text(encoding="utf-8")
    assert data.words(getattr(data, split)) == ptb.tokenize(text)


@needs_shared_data
def test_real_grimm(tmp_path):
  raw = (SHARED_DATA / "grimm" / "grimms_fairy_tales.txt").read_text(encoding="utf-8")
  assert (len(raw), len(set(raw)), raw[0]) == (540_241, 87, "\ufeff")  # The file: BOM included.
  data = chars.load_chars(manual_dir=SHARED_DATA, tfds_data_dir=tmp_path)  # Root layout.
  assert (len(data.text_ids), data.vocab_size) == (540_240, 86)  # BOM dropped.
  assert data.decode(data.text_ids) == raw[1:]
  assert data.vocab[:2] == ["\n", " "] and "\ufeff" not in data.vocab
  body = chars.gutenberg_body(raw[1:])  # The tales only: 520,873 characters, 80 distinct.
  assert (len(body), len(set(body))) == (520_873, 80)
  assert body.lstrip().startswith("Produced by") and "GUTENBERG EBOOK" not in body and "LICENSE" not in body
  assert body.rstrip().endswith("Grimms’ Fairy Tales, by The Brothers Grimm")


def test_gutenberg_body_cuts_at_the_marker_lines_only():
  book = "Title\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nOnce upon a time.\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nLicence"
  assert chars.gutenberg_body(book) == "Once upon a time.\n"
  assert chars.gutenberg_body("Once upon a time.\n*** END OF THIS PROJECT GUTENBERG EBOOK\nx") == "Once upon a time.\n"
  plain = "A story that mentions *** START OF THE PROJECT GUTENBERG EBOOK inside a line.\n"
  assert chars.gutenberg_body(plain) == plain  # Markers count only at the start of a line.
