"""Collates training workdirs into one results table, seed statistics and one comparison plot.

  python launch/report.py --workdirs runs/palindrome_lstm_T10 runs/palindrome_peephole_T10 \
      --out=reports/palindrome_T10 --split=eval --metric=accuracy

writes reports/palindrome_T10/results.md (the results table; per run and final metric the mean, std
and 95% confidence interval over seeds; then the compared curve as a table of mean ± std per step;
--curve_every=500 keeps every 500th step) and reports/palindrome_T10/comparison_eval_accuracy.png,
and prints results.md. --workdirs takes a comma-separated list, or several paths separated by spaces.

  python launch/report.py --compare runs/palindrome_lstm_T10 runs/palindrome_peephole_T10 --out=...

does the same for the two runs A and B, plus a section on A − B for every final metric both have:
the difference of the seed means, its 95% confidence interval and a Welch t-test p-value, or a
plain sentence where either run has fewer than 2 seeds. Give both flags to put more runs in the
table; the paths of each list are then separated by commas (--workdirs=X,Y --compare=A,B).
"A+B" in place of a workdir joins workdirs holding other seeds of the same config into one run
(e.g. runs/ptb_seed0+runs/ptb_seeds12). The rules (which values are "final", sample std, the intervals and the test) are in
rnn_jax/reporting.py.

  python launch/report.py --sweep=runs/palindrome_sweep --rows=config --cols=arg [--where=model.features=128]

summarises a grid that launch/sweep.py trained: a table with one row per value of --rows and one
column per value of --cols (each: config = the config file, arg = the config argument, a --grid
axis, or any dotted config field such as model.cell or data.length); each cell the final --split
--metric, mean ± std over seeds, and with early stopping the steps to the threshold; then a table of
steps trained and training time. Written to PARENT/grid.md (or --out/grid.md when --out is given)
and printed. Unfinished points show their latest evaluation.
"""

import shlex
import sys

from absl import app
from absl import flags

from rnn_jax import reporting

_WORKDIRS = flags.DEFINE_list(
    "workdirs", None, "Workdirs of training runs, comma-separated or separated by spaces.")
_COMPARE = flags.DEFINE_list(
    "compare", None, "Two workdirs A and B (comma-separated or separated by a space): adds A − B "
    "of each final metric with its 95% confidence interval and a Welch t-test p-value.")
_OUT = flags.DEFINE_string("out", "reports", "Directory for results.md and the comparison plot.")
_METRIC = flags.DEFINE_string("metric", "accuracy", "Metric of the comparison plot.")
_SPLIT = flags.DEFINE_string("split", "eval", "Split of the comparison plot (train, eval, ...).")
_SWEEP = flags.DEFINE_string("sweep", None, "Parent directory of a launch/sweep.py grid: report it as a table.")
_ROWS = flags.DEFINE_string("rows", "config", "--sweep: the key of the table's rows (config, arg, a config field).")
_COLS = flags.DEFINE_string("cols", "arg", "--sweep: the key of the table's columns.")
_WHERE = flags.DEFINE_multi_string("where", [], "--sweep: only points with KEY=VALUE (repeatable).")
_CURVE_EVERY = flags.DEFINE_float("curve_every", 0, "Rows of the curve table: steps (or epochs) that are "
                                  "multiples of this, plus the last; 0 = every logged point.", lower_bound=0)


def main(argv):
  if _SWEEP.value:
    _report_sweep(argv)
    return
  workdirs, compare = list(_WORKDIRS.value or []), list(_COMPARE.value or [])
  # absl leaves "--workdirs A B C"'s B and C in argv; they belong to whichever list flag was given.
  extra = argv[1:]
  if extra and workdirs and compare:
    sys.exit(f"error: cannot tell whether {' '.join(extra)} belong to --workdirs or --compare; "
             "with both flags, separate each list's paths with commas (--workdirs=X,Y --compare=A,B)")
  (compare if compare else workdirs).extend(extra)
  command = shlex.join(["python", *sys.argv])
  try:
    text = reporting.report(workdirs, _OUT.value, metric=_METRIC.value, split=_SPLIT.value,
                            command=command, curve_every=_CURVE_EVERY.value, compare=compare)
  except reporting.ReportError as e:
    sys.exit(f"error: {e}")
  print(text, end="")


def _report_sweep(argv):
  from pathlib import Path
  from rnn_jax import sweep

  if len(argv) > 1 or _WORKDIRS.value or _COMPARE.value:
    sys.exit("error: --sweep reports a grid on its own; drop --workdirs/--compare and extra paths")
  try:
    text = sweep.grid_report(_SWEEP.value, rows=_ROWS.value, columns=_COLS.value, split=_SPLIT.value,
                             metric=_METRIC.value, where=_WHERE.value, command=shlex.join(["python", *sys.argv]))
  except (sweep.SweepError, reporting.ReportError) as e:
    sys.exit(f"error: {e}")
  out = Path(_OUT.value if flags.FLAGS["out"].present else _SWEEP.value) / "grid.md"
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(text)
  print(text, end="")


if __name__ == "__main__":
  app.run(main)
