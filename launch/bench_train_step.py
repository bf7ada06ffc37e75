"""Times a config's whole training step (all seeds, one compiled program) under each seed batching.

  python launch/bench_train_step.py --config=experiments/ptb_lstm.py --config.seeds='(0,1,2)' \
      [--batchings=vmap,sequential] [--repeats=20]

Prints the median and minimum ms per step and the time relative to the first batching. Needs the
config's data (e.g. RNN_JAX_DATA_DIR for PTB); writes nothing. See rnn_jax/seed_mesh.py for what
the batchings do and rnn_jax/benchmarking.py (``time_train_steps``) for what is timed.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for `experiments`

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (path[:arg]).", lock_config=True)
_BATCHINGS = flags.DEFINE_list("batchings", ["vmap", "sequential"], "Seed batchings to compare (auto, vmap, sequential).")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed steps per batching (median reported).", lower_bound=1)
flags.mark_flags_as_required(["config"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  import jax
  from rnn_jax import benchmarking
  from rnn_jax.errors import UserError

  config = _CONFIG.value
  print("environment:", benchmarking.environment(), "devices:", len(jax.devices()), flush=True)
  try:
    times = benchmarking.time_train_steps(config, _BATCHINGS.value, _REPEATS.value)
  except UserError as e:
    sys.exit(f"error: {e}")
  first = statistics.median(next(iter(times.values())))
  print(f"| config | seeds | batching | median ms / step | min ms | time / {next(iter(times))} |")
  print("|---|---|---|---|---|---|")
  for name, ts in times.items():
    med = statistics.median(ts)
    print(f"| {config.name} | {len(config.seeds)} | {name} | {med * 1e3:.1f} | {min(ts) * 1e3:.1f} | {med / first:.2f} |")
  print("load average after the run:", os.getloadavg())


if __name__ == "__main__":
  app.run(main)
