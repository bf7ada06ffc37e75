"""Zaremba et al. (2014) "medium" PTB LSTM, exactly as published -- for accelerators.

Command: python launch/main.py --config=experiments/ptb_lstm_medium.py   (or :smoke)

2 layers of 650 units, embedding 650, batch 20, 35 unrolled steps, dropout 0.5 (keep 0.5),
uniform init ±0.05, SGD lr 1.0 for 6 epochs then x0.8 per epoch, 39 epochs, clipping at 5,
untied embeddings.
Expected runtime: not measured here (no accelerator on the development machines); the CPU would
need days. Expected result (Zaremba et al.): valid 86.2, test 82.7.
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
