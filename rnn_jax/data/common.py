"""Shared machinery of the text corpora: known files, where they are found, verification, TFDS.

Every corpus (Penn Treebank in `ptb.py`, character corpora in `chars.py`) is described by a
`TextFilesConfig`: a TFDS builder config naming, per split, one `KnownFile` (file name, sha256,
optionally md5 and a public URL). One builder base class, `TextFilesBuilder`, turns such a config
into an `array_record` dataset and the loaders read it back with `as_data_source`, so TensorFlow
is never imported. Tests inject fake files simply by building their own `TextFilesConfig` with the
fake files' checksums (the load functions take a `config=` argument).

Where a file is looked up (first hit wins):
  1. the explicit `manual_dir` argument: `manual_dir/<file>` or `manual_dir/<corpus>/<file>` (so
     both the corpus folder itself and a root laid out like `$RNN_JAX_DATA_DIR` work). When
     `manual_dir` is given, nothing else is tried: the caller said where the data is.
  2. `$RNN_JAX_DATA_DIR/<corpus>/<file>` (one folder per corpus, e.g. `.../ptb/ptb.train.txt`).
  3. the download cache `<tfds data dir>/downloads/rnn_jax/<corpus>/<file>`, else a download from
     the file's public URL into that cache (plain urllib with a timeout and no retries: TFDS's
     own downloader retries with back-off for minutes before failing offline).
A file that is missing everywhere, or whose md5/sha256 differ from the expected ones, raises
`DataError` (a `ValueError`) with a one-line message naming the file, the expected (and actual)
checksums, where to put a correct copy and the public URL.

Decisions:
  * Files are decoded as UTF-8 with "utf-8-sig": one leading byte-order mark (U+FEFF) is
    dropped, since it marks the encoding and is not text. This matters for Grimm's Fairy Tales,
    whose file starts with a BOM (540,241 characters and 87 distinct in the file; 540,240 and 86
    once the BOM is dropped). Files that are not UTF-8, or are empty, raise `DataError`.
  * The dataset stores the decoded text itself, cut at line ends into chunks of about
    `CHUNK_CHARS` characters, one example per chunk with an integer `index` feature; reading
    sorts by `index` and joins, which restores the text exactly. (One example per line made
    reading the 42k-line PTB train split take over a second; ~80 chunks take milliseconds.)
    Tokenisation is done by the loaders on the restored text, so the stored data is the corpus
    verbatim.
  * Default TFDS data directory: `$RNN_JAX_TFDS_DIR` if set, else `~/tensorflow_datasets`.
  * If preparing fails for any reason, every directory the attempt created in the TFDS data
    directory (data dir itself, builder/config/version folders, TFDS's `incomplete.*` folder,
    the `downloads` folder) is removed again; folders that existed before are left alone.
  * A prepared dataset is reused: later calls read the `array_record` files and never look at
    the source files again.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from rnn_jax.errors import UserError

DATA_DIR_ENV = "RNN_JAX_DATA_DIR"
TFDS_DIR_ENV = "RNN_JAX_TFDS_DIR"
DEFAULT_TFDS_DIR = "~/tensorflow_datasets"
CHUNK_CHARS = 1 << 16
DOWNLOAD_TIMEOUT_S = 60.0
_DOWNLOAD_SUBDIR = "rnn_jax"

PathLike = str | os.PathLike[str]


class DataError(UserError, ValueError):
  """A corpus file is missing, corrupt (wrong checksum), not UTF-8 or empty (one-line message)."""


@dataclasses.dataclass(frozen=True)
class KnownFile:
  """A source file identified by its checksums; `name` is its file name in a manual directory."""
  name: str
  sha256: str
  md5: str | None = None
  url: str | None = None

  def expected(self) -> str:
    md5 = f"md5 {self.md5} " if self.md5 else ""
    return f"{md5}sha256 {self.sha256}"


@dataclasses.dataclass(eq=False)
class TextFilesConfig(tfds.core.BuilderConfig):
  """Builder config: which file makes which split.

  Attributes:
    corpus: folder name of the corpus under `$RNN_JAX_DATA_DIR` (and in the download cache).
    files: split name -> the file holding that split.
  """
  corpus: str = ""
  files: Mapping[str, KnownFile] = dataclasses.field(default_factory=dict)


def file_checksums(path: Path) -> tuple[str, str]:
  """(md5, sha256) hex digests of a file."""
  md5, sha256 = hashlib.md5(), hashlib.sha256()
  with path.open("rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      md5.update(block)
      sha256.update(block)
  return md5.hexdigest(), sha256.hexdigest()


def resolve_tfds_dir(tfds_data_dir: PathLike | None = None) -> Path:
  """The TFDS data directory: the argument, else `$RNN_JAX_TFDS_DIR`, else ~/tensorflow_datasets."""
  chosen = tfds_data_dir or os.environ.get(TFDS_DIR_ENV) or DEFAULT_TFDS_DIR
  return Path(chosen).expanduser()


# ----------------------------------------------------------------------------------------------
# Locating and verifying files.


def _where_to_put(known: KnownFile, corpus: str, manual_dir: Path | None) -> str:
  if manual_dir is not None:
    where = f"put a correct copy at {manual_dir / known.name}"
  else:
    env = os.environ.get(DATA_DIR_ENV)
    where = f"put a correct copy at ${DATA_DIR_ENV}/{corpus}/{known.name}"
    where += f" (now {Path(env) / corpus / known.name})" if env else " or pass manual_dir"
  if known.url:
    where += f" (public source: {known.url})"
  return where


def _one_line(text: str) -> str:
  return " ".join(str(text).split())


def _missing_error(known: KnownFile, corpus: str, looked_in: Sequence[Path],
                   manual_dir: Path | None, download_failure: str | None = None) -> DataError:
  places = ", ".join(str(d) for d in looked_in) or "nowhere (no manual_dir, no $RNN_JAX_DATA_DIR)"
  failure = f"; download failed: {_one_line(download_failure)}" if download_failure else ""
  return DataError(f"{known.name} not found (looked in {places}{failure}); expected "
                   f"{known.expected()}; {_where_to_put(known, corpus, manual_dir)}")


def _search_dirs(corpus: str, manual_dir: Path | None, download_dir: Path) -> list[Path]:
  if manual_dir is not None:
    dirs = [manual_dir, manual_dir / corpus]
  else:
    env = os.environ.get(DATA_DIR_ENV)
    dirs = ([Path(env).expanduser() / corpus] if env else []) + [download_dir]
  return list(dict.fromkeys(dirs))  # Drops duplicates (corpus "" -> manual_dir twice).


def _download(url: str, target: Path) -> None:
  """Downloads `url` to `target` through a temporary file, so `target` is never partial."""
  target.parent.mkdir(parents=True, exist_ok=True)
  partial = target.with_name(target.name + ".part")
  try:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, \
        partial.open("wb") as out:
      shutil.copyfileobj(response, out)
    partial.replace(target)
  finally:
    partial.unlink(missing_ok=True)


def find_local_file(known: KnownFile, corpus: str, manual_dir: Path | None,
                    download_dir: Path) -> Path | None:
  """Path of `known` on disk (search order in the module docstring), or None; never downloads."""
  cache_dir = download_dir / _DOWNLOAD_SUBDIR / corpus
  for directory in _search_dirs(corpus, manual_dir, cache_dir):
    if (directory / known.name).is_file():
      return directory / known.name
  return None


def locate_file(known: KnownFile, corpus: str, manual_dir: Path | None,
                download_dir: Path) -> Path:
  """Path of `known` (search order in the module docstring), downloading it if need be."""
  found = find_local_file(known, corpus, manual_dir, download_dir)
  if found is not None:
    return found
  cache_dir = download_dir / _DOWNLOAD_SUBDIR / corpus
  looked_in = _search_dirs(corpus, manual_dir, cache_dir)
  if manual_dir is not None or not known.url:
    raise _missing_error(known, corpus, looked_in, manual_dir)
  try:
    _download(known.url, cache_dir / known.name)
  except (OSError, ValueError) as e:  # URLError and timeouts are OSErrors.
    raise _missing_error(known, corpus, looked_in, manual_dir, f"{known.url}: {e}") from e
  return cache_dir / known.name


def verify_file(known: KnownFile, path: Path, corpus: str, manual_dir: Path | None) -> None:
  """Raises DataError unless `path` has the expected sha256 (and md5, when one is known)."""
  md5, sha256 = file_checksums(path)
  if sha256 == known.sha256 and (known.md5 is None or md5 == known.md5):
    return
  raise DataError(f"{path} is corrupt: expected {known.expected()}, got md5 {md5} sha256 "
                  f"{sha256}; {_where_to_put(known, corpus, manual_dir)}")


def find_verified_file(known: KnownFile, corpus: str, manual_dir: Path | None,
                       download_dir: Path) -> Path:
  """`locate_file` then `verify_file`; a corrupt file in the download cache is deleted."""
  path = locate_file(known, corpus, manual_dir, download_dir)
  try:
    verify_file(known, path, corpus, manual_dir)
  except DataError:
    if path.parent == download_dir / _DOWNLOAD_SUBDIR / corpus:
      path.unlink(missing_ok=True)
    raise
  return path


def decode_text(path: Path) -> str:
  """The file's text, decoded as UTF-8 without a leading BOM; DataError if not UTF-8 or empty."""
  try:
    text = path.read_bytes().decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise DataError(f"{path} is not UTF-8 text (byte {e.start}: {e.reason}); "
                    "the text loaders read UTF-8 files only") from e
  if not text:
    raise DataError(f"{path} is empty; a text corpus needs at least one character")
  return text


def chunk_lines(text: str, chunk_chars: int = CHUNK_CHARS) -> Iterator[str]:
  """Cuts `text` at line ends into pieces of about `chunk_chars`; "".join() restores it."""
  chunk: list[str] = []
  size = 0
  for line in text.splitlines(keepends=True):
    chunk.append(line)
    size += len(line)
    if size >= chunk_chars:
      yield "".join(chunk)
      chunk, size = [], 0
  if chunk:
    yield "".join(chunk)


# ----------------------------------------------------------------------------------------------
# The TFDS builder.


class TextFilesBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Stores each split's file as text chunks with an `index` feature (see module docstring).

  Subclasses set `BUILDER_CONFIGS` to their `TextFilesConfig`s. `manual_dir` is the explicit
  place to look for the files first (and only).
  """
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Text chunks with an integer index; files verified by checksum."}
  HOMEPAGE: str | None = None

  def __init__(self, *, manual_dir: PathLike | None = None, **kwargs: Any):
    self._manual_dir = Path(manual_dir).expanduser() if manual_dir is not None else None
    super().__init__(**kwargs)

  @property
  def text_config(self) -> TextFilesConfig:
    config = self.builder_config
    if not isinstance(config, TextFilesConfig):
      raise TypeError(f"{type(self).__name__} needs a TextFilesConfig, got {config!r}")
    return config

  def _info(self) -> tfds.core.DatasetInfo:
    features = tfds.features.FeaturesDict({"index": tfds.features.Scalar(dtype=np.int64),
                                           "text": tfds.features.Text()})
    return self.dataset_info_from_configs(features=features, homepage=self.HOMEPAGE,
                                          disable_shuffling=True)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
    config = self.text_config
    texts = {split: self._read_verified(known, Path(dl_manager.download_dir))
             for split, known in config.files.items()}
    return {split: self._generate_examples(text) for split, text in texts.items()}

  def _read_verified(self, known: KnownFile, download_dir: Path) -> str:
    path = find_verified_file(known, self.text_config.corpus, self._manual_dir, download_dir)
    return decode_text(path)

  def _generate_examples(self, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, chunk in enumerate(chunk_lines(text)):
      yield index, {"index": index, "text": chunk}


def _dirs_prepare_may_create(builder: tfds.core.DatasetBuilder) -> list[Path]:
  """Outermost first: what `download_and_prepare` creates in the data directory."""
  root = Path(builder.data_dir_root)
  version_dir = Path(builder.data_path)
  return [root, root / "downloads", root / builder.name, version_dir.parent, version_dir]


def prepare(builder: tfds.core.DatasetBuilder, **kwargs: Any) -> None:
  """`download_and_prepare`, removing whatever the attempt created if it fails."""
  created = [d for d in _dirs_prepare_may_create(builder) if not d.exists()]
  try:
    builder.download_and_prepare(**kwargs)
  except BaseException:
    for directory in created:
      shutil.rmtree(directory, ignore_errors=True)
    raise


def read_split_text(builder: tfds.core.DatasetBuilder, split: str) -> str:
  """The text of one prepared split, chunks put back in their original order."""
  source = builder.as_data_source(split=split)
  records = sorted((source[i] for i in range(len(source))), key=lambda r: int(r["index"]))
  if [int(r["index"]) for r in records] != list(range(len(records))):
    raise DataError(f"prepared split {split!r} in {builder.data_path} has gaps in its chunk "
                    "indices; delete that folder to prepare it again")
  return "".join(r["text"].decode("utf-8") for r in records)


def missing_offline(builder_cls: type[TextFilesBuilder], config: TextFilesConfig, *,
                    manual_dir: PathLike | None = None, tfds_data_dir: PathLike | None = None) -> list[str]:
  """The files `load_split_texts` would have to download: none when the dataset is prepared or
  every file is on disk (checksums are checked later, by the load itself)."""
  data_dir = resolve_tfds_dir(tfds_data_dir)
  builder = builder_cls(config=config, data_dir=data_dir, file_format="array_record", manual_dir=manual_dir)
  if builder.is_prepared():
    return []
  manual = Path(manual_dir).expanduser() if manual_dir is not None else None
  return [known.name for known in config.files.values()
          if find_local_file(known, config.corpus, manual, data_dir / "downloads") is None]


def load_split_texts(builder_cls: type[TextFilesBuilder], config: TextFilesConfig, *,
                     manual_dir: PathLike | None = None,
                     tfds_data_dir: PathLike | None = None) -> dict[str, str]:
  """Prepares `config` with `builder_cls` if needed and returns split name -> text."""
  builder = builder_cls(config=config, data_dir=resolve_tfds_dir(tfds_data_dir),
                        file_format="array_record", manual_dir=manual_dir)
  prepare(builder)
  return {split: read_split_text(builder, split) for split in config.files}
