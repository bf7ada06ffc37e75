"""Penn Treebank small GRU (reset gate before the recurrent matmul), tied, no dropout; otherwise as `ptb_lstm.py`.

Command: python launch/main.py --config=experiments/ptb_gru.py --config.seeds='(0,)'
Runtime on a 2-core CPU, one seed: 104 min with another training sharing the CPU (docs/results/ptb.md).
Result: test perplexity 120.8 for seed 0, target <= 114 missed; lr 1.0 diverged, hence 0.5 (docs/results/ptb.md).
"""
from experiments import ptb_lstm


def get_config(arg=None):
  c = ptb_lstm.get_config()
  c.name = "ptb_gru"
  use_gru(c)
  return ptb_lstm.finish(c, arg)


def use_gru(c) -> None:
  """The GRU's differences from an LSTM config, shared with `ptb_gru_dropout.py`."""
  c.model.cell = "gru"
  c.learning_rate = 0.5  # 1.0 diverges for this GRU (see docstring)
  c.model.cell_kwargs.reset_after = False  # reset gate before the recurrent matmul (the reports' GRU); True: PyTorch/cuDNN's
