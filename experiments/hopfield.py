"""Hopfield network capacity: recall of corrupted probes against the load P/N (rnn_jax/hopfield.py); argument: none or smoke.

Command: python launch/hopfield.py --config=experiments/hopfield.py
Runtime on a 2-core CPU: 32 s (measured, two trainings sharing the CPU).
Result: recall 1.000 up to P/N = 0.10, 0.88 at 0.14, 0.07 at 0.20 (5 seeds, N = 500; docs/results/theory.md).
"""
from ml_collections import ConfigDict

from experiments import common


def get_config(arg: str | None = None) -> ConfigDict:
  c = ConfigDict()
  c.name = "hopfield"
  c.seeds = (0, 1, 2, 3, 4)
  c.num_units = 500                # N
  c.loads = tuple(round(0.02 * k, 2) for k in range(1, 16))  # P/N = 0.02 ... 0.30; P = round(load * N)
  c.flip_rate = 0.1                # each probe bit flipped independently with this probability
  c.num_probes = 200               # per (seed, load); probe k starts from pattern k mod P
  c.updates = ("async", "sync")    # rnn_jax.hopfield.UPDATES
  c.max_sweeps = 50                # sweeps of N unit updates (async) / synchronous steps
  c.overlap_threshold = 0.9        # recall: final overlap with the pattern >= this

  def smoke(c):
    c.seeds = (0, 1)
    c.num_units = 64
    c.loads = (0.05, 0.3)
    c.num_probes = 16

  return common.apply_argument(c, arg, smoke)
