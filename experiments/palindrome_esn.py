"""Binary palindromes with an echo-state network: a SimpleRNN whose input and recurrent weights stay as
initialised, the recurrent matrix rescaled to spectral radius 0.9; only the readout is trained.

Otherwise `palindrome_rnn.py` (the trained SimpleRNN it is compared with), except the learning rate:
training the readout alone is a logistic regression on fixed features (convex), so it takes Adam's
1e-3 where the whole network takes 1e-4. The argument is the length T (even) or `smoke`; the issue's
T = 5 is odd, which the palindrome generator refuses (toy_data.check_palindrome_length), so run T = 4
or 6 beside T = 10.

Frozen (config.frozen_params, no updates and no optimizer state): the embedding (the ESN's input
weights include it: it is the first half of the input map), the cell's input kernel and bias, and
the recurrent kernel. Trained: the readout `head/kernel`, `head/bias`.
--config.model.recurrent_spectral_radius=R sets another radius (> 0).

Command: python launch/main.py --config=experiments/palindrome_esn.py:10   (or :6, or :smoke)
Runtime on a 2-core CPU: not yet measured (cheaper per step than palindrome_rnn.py: no gradient
reaches the recurrence).
Result: not yet measured (issue 16 B, against palindrome_rnn.py at the same T).
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
