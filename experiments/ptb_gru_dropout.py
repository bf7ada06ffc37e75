"""Penn Treebank small architecture with GRU layers and dropout -- the suite's main command.

Command:
  python launch/main.py --config=experiments/ptb_gru_dropout.py                  # 3 seeds
  python launch/main.py --config=experiments/ptb_gru_dropout.py --config.seeds='(0,)'   # one seed on CPU
  python launch/main.py --config=experiments/ptb_gru_dropout.py:smoke

Everything as `ptb_lstm_dropout.py` but the cell (reset-before GRU, the reports' equations) and the
learning rate: 0.5, as `ptb_gru.py` (lr 1.0 diverged for the GRU without dropout; see there).
Expected runtime on a 2-core CPU, one seed: ~1.1 hours alone (25 epochs of 2,323 steps at the
15 steps/s measured alone for ptb_gru_dropout on 2026-11-24, after the seed-batching and accuracy
speed-ups, plus evaluation); not yet measured end to end.
Expected result: test perplexity <= 92 (the reports: 92.4 and 104.5). Measured: see README.
"""
from experiments import ptb_gru, ptb_lstm, ptb_lstm_dropout


def get_config(arg=None):
  c = ptb_lstm_dropout.get_config()
  c.name = "ptb_gru_dropout"
  ptb_gru.use_gru(c)  # cell "gru", lr 0.5 (1.0 diverges for the GRU), reset gate before the matmul
  return ptb_lstm.finish(c, arg)
