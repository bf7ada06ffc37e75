"""Sample text from a trained language-model run: characters (experiments/grimm_lstm.py) or words (PTB).

  python launch/sample.py --workdir=runs/grimm_lstm --prompt="The king" --length=200 --temperature=0.5 \
      [--seed=0] [--top_k=0] [--checkpoint=best|latest] [--rng_seed=0] [--num_samples=1]
  python launch/sample.py --workdir=runs/ptb_lstm --prompt="the company said" --length=30 --num_samples=5

Prints the prompt followed by ``--length`` generated characters (one block per sample, separated
by a blank line when ``--num_samples > 1``) on stdout. For a word-level run the prompt is words
(a word outside the vocabulary is an error naming it), ``--length`` is the maximum number of
generated words, and each sample ends at its first ``<eos>`` (one line per sample, the ``<eos>``
itself not printed; ``--nostop_at_eos`` generates all ``--length`` words). ``--temperature`` T divides the logits
(0 = greedy); ``--inverse_temperature`` tau = 1 / T is the course's softmax(tau * x) convention
(give one of the two). ``--seed`` picks which trained seed's parameters to use (one of the run's
``config.seeds``, default the first); ``--rng_seed`` is the sampling randomness. ``--checkpoint``:
the best-by-validation parameters (default) or the latest ones, both from the latest checkpoint.
See rnn_jax/sampling.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402
from rnn_jax import cli  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a character-level training run.")
_PROMPT = flags.DEFINE_string("prompt", None, "Text to complete (at least one character of the run's vocabulary).")
_LENGTH = flags.DEFINE_integer("length", 200, "Characters to generate after the prompt.", lower_bound=0)
_TEMPERATURE = flags.DEFINE_float("temperature", None, "T dividing the logits; 0 = greedy (default 1).")
_INVERSE_TEMPERATURE = flags.DEFINE_float("inverse_temperature", None, "tau = 1/T (softmax(tau * x)); instead of T.")
_TOP_K = flags.DEFINE_integer("top_k", 0, "Sample among the k most likely characters only; 0 = off.", lower_bound=0)
_SEED = flags.DEFINE_integer("seed", None, "Trained seed whose parameters to use (default: the run's first).")
_CHECKPOINT = flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Best-by-validation or latest parameters.")
_RNG_SEED = flags.DEFINE_integer("rng_seed", 0, "Seed of the sampling randomness.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 1, "Independent samples to print.", lower_bound=1)
_STOP_AT_EOS = flags.DEFINE_boolean("stop_at_eos", True, "Word-level runs: end each sample at its first <eos>.")
flags.mark_flags_as_required(["workdir", "prompt"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # Orbax reports every restore step at INFO
  import jax
  from rnn_jax import sampling, trained_runs
  from rnn_jax.errors import UserError

  try:
    if not _PROMPT.value:
      raise sampling.SamplingError("--prompt must have at least one character (the model has no start-of-text token)")
    run = trained_runs.load_run(_WORKDIR.value, checkpoint=_CHECKPOINT.value, seed=_SEED.value)
    words = run.config.task == "ptb"
    prompt_ids = sampling.encode_words(_PROMPT.value, run.vocab) if words else sampling.encode(_PROMPT.value, run.vocab)
    if not len(prompt_ids):
      raise sampling.SamplingError("--prompt must have at least one word")
    stop_id = run.vocab.index("<eos>") if words and _STOP_AT_EOS.value and "<eos>" in run.vocab else None
    sampler = sampling.Sampler(run.model)
    ids = sampler(run.params, prompt_ids[None, :].repeat(_NUM_SAMPLES.value, axis=0), _LENGTH.value,
                  jax.random.key(_RNG_SEED.value), temperature=_TEMPERATURE.value,
                  inverse_temperature=_INVERSE_TEMPERATURE.value, top_k=_TOP_K.value, stop_id=stop_id)
  except UserError as e:
    sys.exit(f"error: {e}")
  if words:
    lengths = sampling.generated_lengths(ids, stop_id)
    for row, n in zip(ids, lengths):
      kept = row[:n - 1] if stop_id is not None and n and row[n - 1] == stop_id else row[:n]
      print(" ".join([_PROMPT.value.strip(), *(run.vocab[i] for i in kept)]))
  else:
    print("\n\n".join(_PROMPT.value + sampling.decode(row, run.vocab) for row in ids))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
