"""Gradient flow through time: ‖∂L_T/∂s_t‖ per step for a palindrome model, at init and after training.

  python launch/gradient_flow.py --config=experiments/palindrome_lstm.py:10 --cells=rnn,lstm,peephole_lstm,gru
  python launch/gradient_flow.py --config=experiments/palindrome_lstm.py:10 --workdir=runs/palindrome_lstm_T10

For every cell (``--cells``, default the config's ``model.cell``) and every seed of the config: the
norm of the gradient of the last step's loss with respect to the recurrent state at every step t
(mean over the seed's first training batch) and each step's part of ∂L_T/∂W_hh, at the parameters
the trainer starts from and -- with ``--workdir``, a run of the same config -- at the trained ones
(its latest checkpoint; the best parameters when the task keeps them). Definitions and the JSON
layout: rnn_jax/gradient_flow.py.

Writes to --out (default: <workdir>/gradient_flow, or reports/gradient_flow/<name>)
gradient_flow.json and gradient_flow_init.png (+ gradient_flow_trained.png), and prints a table of
the fitted decay rates (slope of ln-norm per step of distance T - t, mean ± std over seeds).
``config.model.cell_kwargs`` apply to every cell of --cells; ``--config.batch_size`` sets the batch.
"""
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for `experiments`

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from rnn_jax import cli  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Palindrome (toy task) config file (path[:arg]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "A training run of --config: also measure its trained parameters.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default: <workdir>/gradient_flow, else "
                           "reports/gradient_flow/<name>).")
_CELLS = flags.DEFINE_list("cells", None, "Cells to measure, e.g. rnn,lstm,peephole_lstm,gru "
                           "(default: the config's model.cell).")
flags.mark_flags_as_required(["config"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from rnn_jax import gradient_flow
  from rnn_jax.errors import UserError

  t0 = time.perf_counter()
  config = _CONFIG.value
  workdir = Path(_WORKDIR.value) if _WORKDIR.value else None
  try:
    cells = gradient_flow.resolve_cells(config, _CELLS.value, workdir)
    out = Path(_OUT.value) if _OUT.value else gradient_flow.default_out_dir(config, cells, workdir)
    cli.require_writable(out)
  except UserError as e:
    sys.exit(f"error: {e}")
  result = {**gradient_flow.run(config, cells, workdir), "command": shlex.join(["python", *sys.argv])}
  text, paths = gradient_flow.write_outputs(result, out)
  print(text, end="")
  print(f"\nwrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
