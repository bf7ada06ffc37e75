"""Collates training workdirs into one results table and one comparison plot.

  python launch/report.py --workdirs runs/palindrome_lstm_T10 runs/palindrome_peephole_T10 \
      --out=reports/palindrome_T10 --split=eval --metric=accuracy

writes reports/palindrome_T10/results.md (the results table, then the compared curve as a table of
mean ± std per step; --curve_every=500 keeps every 500th step) and
reports/palindrome_T10/comparison_eval_accuracy.png, and prints results.md. --workdirs takes a comma-separated list, or several paths separated by
spaces. The rules (which values are "final", sample std) are in rnn_jax/reporting.py.
"""

import shlex
import sys

from absl import app
from absl import flags

from rnn_jax import reporting

_WORKDIRS = flags.DEFINE_list(
    "workdirs", None, "Workdirs of training runs, comma-separated or separated by spaces.")
_OUT = flags.DEFINE_string("out", "reports", "Directory for results.md and the comparison plot.")
_METRIC = flags.DEFINE_string("metric", "accuracy", "Metric of the comparison plot.")
_SPLIT = flags.DEFINE_string("split", "eval", "Split of the comparison plot (train, eval, ...).")
_CURVE_EVERY = flags.DEFINE_float("curve_every", 0, "Rows of the curve table: steps (or epochs) that are "
                                  "multiples of this, plus the last; 0 = every logged point.", lower_bound=0)


def main(argv):
  workdirs = [*_WORKDIRS.value, *argv[1:]]  # absl leaves "--workdirs A B C"'s B and C in argv.
  command = shlex.join(["python", *sys.argv])
  try:
    text = reporting.report(workdirs, _OUT.value, metric=_METRIC.value, split=_SPLIT.value,
                            command=command, curve_every=_CURVE_EVERY.value)
  except reporting.ReportError as e:
    sys.exit(f"error: {e}")
  print(text, end="")


if __name__ == "__main__":
  flags.mark_flag_as_required("workdirs")
  app.run(main)
