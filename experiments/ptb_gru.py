"""Penn Treebank small architecture with GRU layers, no dropout; otherwise as `ptb_lstm.py`.

Command: python launch/main.py --config=experiments/ptb_gru.py --config.seeds='(0,)'
Expected runtime on a 2-core CPU, one seed: about 30-40 minutes.
Expected result: test perplexity <= 114 (the reports: 114.1 and 118.6). Measured: see README.
"""
from experiments import ptb_lstm


def get_config(arg=None):
  c = ptb_lstm.get_config()
  c.name = "ptb_gru"
  c.model.cell = "gru"
  return ptb_lstm.finish(c, arg)
