"""Penn Treebank small GRU (2x200, tied) with dropout -- the suite's main command; the recipe of ptb_lstm_dropout.py.

Command: python launch/main.py --config=experiments/ptb_gru_dropout.py   (one seed: --config.seeds='(0,)')
Runtime on a 2-core CPU: one seed ~2.7 h alone (estimated: 5.4-5.9 steps/s in epoch 1, 53,080 steps); 3 seeds in one process ~6.5 h beside a second training.
Result: target test perplexity <= 90 (mean of 3 seeds); not yet measured (docs/results/ptb.md).
"""
from experiments import ptb_gru, ptb_lstm, ptb_lstm_dropout


def get_config(arg=None):
  c = ptb_lstm_dropout.get_config()
  c.name = "ptb_gru_dropout"
  ptb_gru.use_gru(c)  # cell "gru", reset gate before the recurrent matmul
  # Half the LSTM's rate: at the LSTM's per-token rate (lr 1.0 with windows of 20, i.e. 20 / 35 here)
  # this tied GRU diverged, with and without dropout (docs/results/ptb.md).
  c.learning_rate = 10.0 / 35.0
  return ptb_lstm.finish(c, arg)
