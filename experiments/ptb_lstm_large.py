"""Zaremba et al. (2014) "large" PTB LSTM as published (2x1500, windows of 35, dropout 0.65, 55 epochs, untied).

Command: python launch/main.py --config=experiments/ptb_lstm_large.py   (or :smoke)
Runtime on a 2-core CPU: not measured (meant for accelerators).
Result: not measured here; Zaremba et al. report valid 82.2, test 78.4.
"""
from ml_collections import ConfigDict

from experiments import common, ptb_lstm


def get_config(arg: str | None = None) -> ConfigDict:
  c = ptb_lstm.get_config()
  c.name = "ptb_lstm_large"
  c.num_epochs = 55
  c.schedule = common.schedule("step_decay", "epochs", hold=14.0, every=1.0, gamma=1 / 1.15)  # epochs
  c.grad_clip_norm = 10.0
  c.data.window_tokens = 35
  c.model.features = c.model.embed_dim = 1500
  c.model.input_dropout = c.model.between_dropout = c.model.output_dropout = 0.65
  c.model.init_scale = 0.04
  c.model.tie_embeddings = False
  return ptb_lstm.finish(c, arg)
