"""Penn Treebank small GRU (reset gate before the recurrent matmul), tied, no dropout; as `ptb_lstm.py` but clip 2.

Command: python launch/main.py --config=experiments/ptb_gru.py --config.seeds='(0,)'   (3 seeds: drop the flag)
Runtime on a 2-core CPU, one seed: 39 min beside a 3-seed training (docs/results/ptb.md).
Result: test perplexity 114.6 for seed 0 (target <= 114 as a mean of 3 seeds; docs/results/ptb.md).
"""
from experiments import ptb_lstm


def get_config(arg=None):
  c = ptb_lstm.get_config()
  c.name = "ptb_gru"
  use_gru(c)
  c.grad_clip_norm = 2.0  # the LSTM's lr 1.0 diverges for this GRU at clip 5, not at 2 (docs/results/ptb.md)
  return ptb_lstm.finish(c, arg)


def use_gru(c) -> None:
  """The GRU's differences from an LSTM config, shared with `ptb_gru_dropout.py`."""
  c.model.cell = "gru"
  c.model.cell_kwargs.reset_after = False  # reset gate before the recurrent matmul (the reports' GRU); True: PyTorch/cuDNN's
