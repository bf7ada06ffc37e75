"""Trains a grid of configs: every combination of config files, config arguments and field values, each
point a normal `launch/main.py` run in its own workdir under --parent.

  python launch/sweep.py --parent=runs/cells \
      --configs=experiments/palindrome_lstm.py,experiments/palindrome_gru.py \
      --grid=arg=10,20 --grid=model.features=64,128 --set=early_stop_metric=eval/accuracy \
      --set=early_stop_threshold=0.999 [--dry_run] [--point_index=I]

--configs: config files (PATH or PATH:ARG), comma-separated. --grid=FIELD=V1,V2,... (repeatable): an
axis over a dotted config field or `arg`, the config argument. --set=FIELD=VALUE (repeatable): a
value every point gets. Values are written as after --config.FIELD= on main.py's command line; a
list splits at commas outside brackets and quotes (`--grid='data.bucket_lengths=(),(8,14)'`,
`--grid="arg='10,smoke','20,smoke'"`). Point names: `<config stem>__FIELD=VALUE...` (one part per
--grid axis), workdir PARENT/NAME.

Every point's config is built and checked before anything is written: an unknown field, a value
that does not parse or that the config checks refuse (an unknown cell, an odd palindrome length)
ends the sweep with one line naming the point. Then the points run one after another, each as a
subprocess (`python launch/main.py ...`, output in PARENT/logs/NAME.log). Relaunching the same
command skips finished points (summary.json in the workdir) and resumes unfinished ones from their
checkpoints. Exit status 1 if a point failed (the others still run).

--dry_run prints one launch command per point, in grid order, and writes nothing: line I + 1 is
point I, so a SLURM job array can run `sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" cmds.txt | bash`,
or give each point its own TPU VM. --point_index=I runs point I alone (the same, without the file).
Summarise with `python launch/report.py --sweep=PARENT --rows=config --cols=arg`.

## The palindrome study (issue 16 C): 5 cells x T x 3 seeds, early stopping

  python launch/sweep.py --parent=runs/palindrome_sweep \
      --configs=experiments/palindrome_rnn.py,experiments/palindrome_lstm.py,experiments/palindrome_peephole_lstm.py,experiments/palindrome_gru.py,experiments/palindrome_bilstm.py \
      --grid=arg=6,10,20,40 \
      --set=model.features=128 --set=model.embed_dim=128 --set=batch_size=128 \
      --set=data.eval_batches=20 --set=eval_every_steps=100 \
      --set=early_stop_metric=eval/accuracy --set=early_stop_threshold=0.999

then, for the cells that still solve T = 40, the same command with their --configs and --grid=arg=80
(the points join the same parent). Each point trains seeds 0, 1, 2 for at most 3,000 steps and stops
once every seed's evaluation accuracy is >= 0.999 at two consecutive evaluations.

Decisions, and why:
* T = 6, not 5: the palindrome generator refuses odd T (toy_data.check_palindrome_length; the
  course's code can overflow its padding there). 6 is the course's own default.
* Width 128 (embedding 128) and batch 128 instead of the course's 256/256. Timing probe (LSTM, T =
  10, 3 seeds one after another, the run's own compiled step, interleaved; 2 busy CPU cores):
  256/256 924 ms/step, 128/128 168 ms/step -- 0.18x. From the measured 256/256 runs alone
  (docs/results/palindrome.md: ~1.0 s/step at T = 10, ~1.5 s at T = 20) and a step time roughly
  proportional to the input length 4T+1, one LSTM point at 128/128 costs at most (3,000 steps)
  about 5, 9, 17 and 34 min at T = 6, 10, 20, 40 -- 64 min for the four. With the other cells
  weighted by guess, not measured (SimpleRNN ~0.4x an LSTM step, GRU ~0.8x, peephole ~1.2x: it has
  no fused loop, bidirectional ~2x), the grid needs ~5.8 h if no point stopped early; the solved
  points stop early, leaving room for the T = 80 points within about 8 hours. At 256/256 the same
  grid would need ~30 h. Remembering one bit needs no width; Adam keeps the course's learning rate
  (1e-4) at batch 128.
* 20 evaluation batches (2,560 sequences, as in the published 256-batch runs), so >= 0.999 still
  means at most 2 errors; evaluations every 100 steps (about 7% of the training time) resolve the
  steps to threshold to 100 and stop a solved point 100 steps after it got there.
"""
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for `experiments`

from absl import app, flags  # noqa: E402

_CONFIGS = flags.DEFINE_string("configs", None, "Config files, comma-separated: PATH or PATH:ARG.")
_GRID = flags.DEFINE_multi_string("grid", [], "An axis: FIELD=V1,V2,... (FIELD a dotted config field or arg).")
_SET = flags.DEFINE_multi_string("set", [], "A value for every point: FIELD=VALUE.")
_PARENT = flags.DEFINE_string("parent", None, "Directory holding one workdir per point.")
_DRY_RUN = flags.DEFINE_boolean("dry_run", False, "Print one launch command per point and write nothing.")
_POINT_INDEX = flags.DEFINE_integer("point_index", None, "Run only this point (0-based, grid order).", lower_bound=0)
flags.mark_flags_as_required(["configs", "parent"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from rnn_jax import sweep
  from rnn_jax.errors import UserError

  try:
    points = sweep.make_points(sweep.split_values(_CONFIGS.value), _GRID.value, _SET.value, _PARENT.value)
    if _POINT_INDEX.value is not None and _POINT_INDEX.value >= len(points):
      raise sweep.SweepError(f"--point_index={_POINT_INDEX.value}, but the grid has {len(points)} points (0..{len(points) - 1})")
    sweep.check_points(points, _PARENT.value)
  except UserError as e:
    sys.exit(f"error: {e}")
  if _POINT_INDEX.value is not None:
    points = [points[_POINT_INDEX.value]]
  if _DRY_RUN.value:
    for point in points:
      print(shlex.join(point.command()))
    return
  sweep.write_manifest(_PARENT.value, points, shlex.join(["python", *sys.argv]))
  failed = sweep.run_points(points, _PARENT.value)
  if failed:
    sys.exit(f"error: {len(failed)} of {len(points)} points failed ({', '.join(failed)}); their logs are in "
             f"{os.path.join(_PARENT.value, 'logs')}; relaunch the same command to retry them")


if __name__ == "__main__":
  app.run(main)
