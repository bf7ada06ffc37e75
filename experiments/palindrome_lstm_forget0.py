"""Binary palindromes with an LSTM whose forget gate is forced to 0; otherwise exactly `palindrome_lstm.py`.

Command: python launch/main.py --config=experiments/palindrome_lstm_forget0.py:10   (or :20, or :smoke)
Runtime on a 2-core CPU: 3 seeds x 3,000 steps at T = 10, 8 min with another training running (width/batch 128, early stop: $SET of docs/results/theory.md).
Result: eval accuracy 0.668 at T = 10 (the majority rate; the normal LSTM 1.000; docs/results/theory.md B2).
"""
from experiments import palindrome_lstm


def get_config(arg=None):
  c = palindrome_lstm.get_config(arg)
  c.name = c.name.replace("palindrome_lstm", "palindrome_lstm_forget0")
  c.model.cell = "lstm"
  c.model.cell_kwargs.forget_gate = "zero"  # rnn_jax.cells.LSTM: learned | zero | one
  return c
