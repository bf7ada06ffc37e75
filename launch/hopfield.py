"""Hopfield network capacity: recall against the load P/N over several seeds, as a table and a plot.

  python launch/hopfield.py --config=experiments/hopfield.py [--config.num_units=1000] [--out=DIR]

Writes hopfield.json and hopfield_recall.png to --out (default reports/hopfield/<config.name>) and
prints the table (per load: recall, exact recall, mean ± std over seeds, and the mean final overlap
per update rule). Definitions of recall, overlap and the dynamics: rnn_jax/hopfield.py.
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

_CONFIG = config_flags.DEFINE_config_file("config", None, "Hopfield config file (path[:arg]).", lock_config=True)
_OUT = flags.DEFINE_string("out", None, "Output directory (default: reports/hopfield/<config.name>).")
flags.mark_flags_as_required(["config"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from rnn_jax import hopfield
  from rnn_jax.errors import UserError

  t0 = time.perf_counter()
  config = _CONFIG.value
  out = Path(_OUT.value or Path("reports", "hopfield", config.name))
  try:
    hopfield.check_config(config)
    cli.require_writable(out)
  except UserError as e:
    sys.exit(f"error: {e}")
  results = hopfield.sweep(config)
  elapsed = time.perf_counter() - t0
  result = {"config": config.to_dict(), "command": shlex.join(["python", *sys.argv]),
            "seconds": round(elapsed, 1), **results}
  title = (f"Hopfield network, N = {config.num_units}, flip rate {config.flip_rate}, "
           f"{config.num_probes} probes per seed and load, recall: overlap ≥ {config.overlap_threshold}")
  written = [hopfield.write_json(result, out), hopfield.plot(results, title, out / hopfield.PLOT_FILE)]
  print(f"{title}; seeds {tuple(config.seeds)}; mean ± std over seeds\n")
  print(hopfield.format_table(results), end="")
  print(f"\nwrote {', '.join(str(p) for p in written)}; the sweep took {elapsed:.1f} s")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
