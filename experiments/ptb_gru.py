"""Penn Treebank small GRU (reset gate before the recurrent matmul), tied, no dropout; as `ptb_lstm.py` but clip 2.

Command: python launch/main.py --config=experiments/ptb_gru.py --config.seeds='(0,)'   (3 seeds: drop the flag)
Runtime on a 2-core CPU, one seed: 82 min beside a second one-seed training.
Result: test perplexity 115.0 +- 0.5 over seeds 0, 1, 2 (114.6 / 114.84 / 115.50); target <= 114 missed by 1.0.
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
