"""What a trained n-gram model learnt: nearest neighbours, embedding plots, generated text.

  python launch/ngram_analysis.py --workdir=runs/ngram_nplm_linear_D16_H128 [--out=DIR] [--seed=0] \
      [--checkpoint=best|latest] [--words=days,financial,chairman,bonds,into] [--among=1000] \
      [--prompts="the company said;in new york"] [--length=10] [--temperatures=0.5,1] [--rng_seed=0]

Writes to --out (default <workdir>/analysis) and prints analysis.md:
  * for each of --words, its 4 nearest neighbours by cosine distance among the --among most
    frequent words (ids are frequency ranks, rnn_jax/data/ngrams.py);
  * embedding_top100.png and embedding_top500.png: the 100 and 500 most frequent words, the
    embedding itself when D = 2, else its first two principal components; labels that would
    overlap are left out (most frequent first), the plot says how many;
  * --length words after each 3-word prompt, greedy and at each --temperature (T divides the logits),
    with the character model's sampler (rnn_jax/sampling.py); text after END is cut.
Parameters: one seed (--seed, default the run's first), best-by-validation by default.
"""
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402
from rnn_jax import cli  # noqa: E402

DEFAULT_PROMPTS = "the company said;in new york;the stock market;he said that;it is not"
_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of an n-gram training run (config.task 'ngram').")
_OUT = flags.DEFINE_string("out", None, "Output directory (default: <workdir>/analysis).")
_SEED = flags.DEFINE_integer("seed", None, "Trained seed whose parameters to use (default: the run's first).")
_CHECKPOINT = flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Best-by-validation or latest parameters.")
_WORDS = flags.DEFINE_list("words", ["days", "financial", "chairman", "bonds", "into"], "Words whose neighbours to list.")
_AMONG = flags.DEFINE_integer("among", 1000, "Neighbours are drawn from this many most frequent words.", lower_bound=2)
_PROMPTS = flags.DEFINE_string("prompts", DEFAULT_PROMPTS, "Prompts separated by ';', each of the same number of words.")
_LENGTH = flags.DEFINE_integer("length", 10, "Words to generate after each prompt.", lower_bound=0)
_TEMPERATURES = flags.DEFINE_list("temperatures", ["0.5", "1"], "Sampling temperatures besides greedy (T > 0).")
_RNG_SEED = flags.DEFINE_integer("rng_seed", 0, "Seed of the sampling randomness.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # Orbax reports every restore step at INFO
  import jax
  from rnn_jax import ngram_analysis
  from rnn_jax.errors import UserError

  try:
    temperatures = [float(t) for t in _TEMPERATURES.value]
  except ValueError:
    sys.exit(f"error: --temperatures must be numbers, got {','.join(_TEMPERATURES.value)}")
  try:
    run = ngram_analysis.load_ngram_run(_WORKDIR.value, checkpoint=_CHECKPOINT.value, seed=_SEED.value)
    text = ngram_analysis.analysis_md(
        run, _OUT.value or os.path.join(_WORKDIR.value, "analysis"), words=_WORDS.value,
        prompts=[p.strip() for p in _PROMPTS.value.split(";") if p.strip()], temperatures=temperatures,
        length=_LENGTH.value, key=jax.random.key(_RNG_SEED.value), among=_AMONG.value,
        command=shlex.join(["python", *sys.argv]))
  except UserError as e:
    sys.exit(f"error: {e}")
  print(text, end="")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
