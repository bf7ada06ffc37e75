"""Zaremba et al. (2014) "large" PTB LSTM, exactly as published -- for accelerators.

Command: python launch/main.py --config=experiments/ptb_lstm_large.py   (or :smoke)

2 layers of 1500 units, embedding 1500, batch 20, 35 unrolled steps, dropout 0.65 (keep 0.35),
uniform init ±0.04, SGD lr 1.0 for 14 epochs then /1.15 per epoch, 55 epochs, clipping at 10,
untied embeddings.
Expected runtime: not measured here (no accelerator on the development machines).
Expected result (Zaremba et al.): valid 82.2, test 78.4.
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
