"""Zaremba et al. (2014) "medium" PTB LSTM as published (2x650, windows of 35, dropout 0.5, 39 epochs, untied).

Command: python launch/main.py --config=experiments/ptb_lstm_medium.py   (or :smoke)
Runtime on a 2-core CPU: not measured (days; meant for accelerators).
Result: not measured here; Zaremba et al. report valid 86.2, test 82.7.
"""
from ml_collections import ConfigDict

from experiments import common, ptb_lstm


def get_config(arg: str | None = None) -> ConfigDict:
  c = ptb_lstm.get_config()
  c.name = "ptb_lstm_medium"
  c.num_epochs = 39
  c.schedule = common.schedule("step_decay", "epochs", hold=6.0, every=1.0, gamma=0.8)  # epochs
  c.data.window_tokens = 35
  c.model.features = c.model.embed_dim = 650
  c.model.input_dropout = c.model.between_dropout = c.model.output_dropout = 0.5
  c.model.init_scale = 0.05
  c.model.tie_embeddings = False
  return ptb_lstm.finish(c, arg)
