"""Binary palindromes with a bidirectional LSTM; otherwise exactly `palindrome_lstm.py`.

Command: python launch/main.py --config=experiments/palindrome_bilstm.py:10   (or :20, or :smoke)
Runtime on a 2-core CPU: not yet measured.
Result: not yet measured (the palindrome study across cells, issue 16, will run it).
"""
from experiments import palindrome_lstm


def get_config(arg=None):
  c = palindrome_lstm.get_config(arg)
  c.name = c.name.replace("palindrome_lstm", "palindrome_bilstm")
  c.model.cell = "lstm"
  c.model.bidirectional = True
  return c
