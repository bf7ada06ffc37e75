"""Binary palindromes with an LSTM whose forget gate is forced to 1; otherwise exactly `palindrome_lstm.py`.

Command: python launch/main.py --config=experiments/palindrome_lstm_forget1.py:10   (or :20, or :smoke)
Runtime on a 2-core CPU: not yet measured.
Result: not yet measured (the forget-gate ablation of issue 16, against `palindrome_lstm.py` at T = 10).
"""
from experiments import palindrome_lstm


def get_config(arg=None):
  c = palindrome_lstm.get_config(arg)
  c.name = c.name.replace("palindrome_lstm", "palindrome_lstm_forget1")
  c.model.cell = "lstm"
  c.model.cell_kwargs.forget_gate = "one"  # rnn_jax.cells.LSTM: learned | zero | one
  return c
