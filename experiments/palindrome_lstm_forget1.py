"""Binary palindromes with an LSTM whose forget gate is forced to 1; otherwise exactly `palindrome_lstm.py`.

Command: python launch/main.py --config=experiments/palindrome_lstm_forget1.py:10   (or :20, or :smoke)
Runtime on a 2-core CPU: 3 seeds x 3,000 steps at T = 10, 7.5 min with another training running (width/batch 128, early stop: $SET of docs/results/theory.md).
Result: eval accuracy 0.997 at T = 10, 0.999 first at step 2,767 +- 208 (normal LSTM: 467; docs/results/theory.md B2).
"""
from experiments import palindrome_lstm


def get_config(arg=None):
  c = palindrome_lstm.get_config(arg)
  c.name = c.name.replace("palindrome_lstm", "palindrome_lstm_forget1")
  c.model.cell = "lstm"
  c.model.cell_kwargs.forget_gate = "one"  # rnn_jax.cells.LSTM: learned | zero | one
  return c
