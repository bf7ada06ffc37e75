"""Penn Treebank 4-grams at a glance: counts, the most common 4-grams and their frequency plot.

  RNN_JAX_DATA_DIR=../shared/data python launch/ngrams.py --out=reports/ngrams [--order=4] [--vocab_size=8000] [--top=50]

Prints (and writes to <out>/ngrams.md) the sentences, n-grams and distinct n-grams of every split
and the --top most common training n-grams, and writes <out>/ngram_frequencies.png: count against
rank of every distinct training n-gram, log-log (the report's Figure 1). The n-grams are those the
n-gram experiments train on (rnn_jax/data/ngrams.py: START/END per sentence, 7,999 words + UNK);
they are prepared once as a TFDS dataset, like every corpus here.
"""
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

_OUT = flags.DEFINE_string("out", "reports/ngrams", "Directory for ngrams.md and ngram_frequencies.png.")
_ORDER = flags.DEFINE_integer("order", 4, "n of the n-grams.", lower_bound=2)
_VOCAB_SIZE = flags.DEFINE_integer("vocab_size", 8000, "Vocabulary types, UNK included.", lower_bound=4)
_TOP = flags.DEFINE_integer("top", 50, "How many of the most common training n-grams to list.", lower_bound=0)
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "Folder with ptb.{train,valid,test}.txt (default: "
                                  "$RNN_JAX_DATA_DIR/ptb, then a download).")
_TFDS_DIR = flags.DEFINE_string("tfds_dir", None, "TFDS data directory (default $RNN_JAX_TFDS_DIR or ~/tensorflow_datasets).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from rnn_jax import ngram_analysis
  from rnn_jax.data import ngrams
  from rnn_jax.errors import UserError

  try:
    data = ngrams.load_ngrams(_ORDER.value, _VOCAB_SIZE.value, manual_dir=_MANUAL_DIR.value,
                              tfds_data_dir=_TFDS_DIR.value)
  except UserError as e:
    sys.exit(f"error: {e}")
  out = Path(_OUT.value)
  _, counts = ngrams.ngram_frequencies(data.ngrams["train"])
  plot = ngram_analysis.plot_ngram_frequencies(counts, out / "ngram_frequencies.png", data.order)
  text = (f"# Penn Treebank {data.order}-grams ({data.vocab_size:,} types)\n\n"
          f"Made by: `{shlex.join(['python', *sys.argv])}`\n\n"
          + ngram_analysis.ngram_statistics_md(data, _TOP.value)
          + f"\n![count against rank of the training {data.order}-grams]({plot.name})\n")
  (out / "ngrams.md").write_text(text)
  print(text, end="")


if __name__ == "__main__":
  app.run(main)
