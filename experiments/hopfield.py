"""Hopfield network capacity: recall of corrupted probes against the load P/N (rnn_jax/hopfield.py).

Stores P random ±1 patterns of N units with Hebb's rule, probes with copies whose bits are flipped at
``flip_rate``, runs asynchronous and synchronous sign dynamics, and sweeps the load over several seeds.
The argument is none (the full sweep) or `smoke` (seconds, for checks).

Command: python launch/hopfield.py --config=experiments/hopfield.py
Runtime on a 2-core CPU: about 20 s (sweep 18 s; measured with two trainings sharing the CPU).
Result (measured, 5 seeds, N = 500, flip rate 0.1): recall (final overlap >= 0.9) 1.000 up to P/N = 0.10,
0.97 at 0.12, 0.88 at 0.14, 0.58 at 0.16, 0.27 at 0.18, 0.07 at 0.20 and 0 from 0.26 -- the breakdown
around α_c ≈ 0.138, smeared at this N; exact recall (m = 1) falls earlier: 0.94 at 0.08, 0.69 at 0.10,
0.19 at 0.14. Asynchronous and synchronous updates agree within the seeds' spread, but above P/N = 0.16
only 0.44-0.73 of the synchronous probes reach a fixed point (the rest end in 2-cycles).
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
