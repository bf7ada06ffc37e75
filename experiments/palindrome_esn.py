"""Binary palindromes with an echo-state network: SimpleRNN with frozen input/recurrent weights (spectral radius 0.9), readout trained.

Command: python launch/main.py --config=experiments/palindrome_esn.py:10   (or :6, or :smoke; T must be even)
Runtime on a 2-core CPU: 3 seeds x 3,000 steps at T = 10, 165 s with another training running (width/batch 128, early stop: $SET of docs/results/theory.md).
Result: eval accuracy 0.665 at T = 10 (the majority rate), 0.707 at T = 6; the trained RNN 1.000 (docs/results/theory.md B1).
"""
from experiments import palindrome_rnn

FROZEN = ("embed/embedding", "rnn/layer_0/cell/x_proj/*", "rnn/layer_0/cell/recurrent_kernel")


def get_config(arg=None):
  c = palindrome_rnn.get_config(arg)
  c.name = c.name.replace("palindrome_rnn", "palindrome_esn")
  c.model.cell = "rnn"
  c.model.recurrent_spectral_radius = 0.9  # models.with_spectral_radius: the reservoir's memory
  c.frozen_params = FROZEN
  c.learning_rate = 1e-3
  return c
