"""Binary palindromes with a plain RNN (Elman); otherwise exactly `palindrome_lstm.py`.

Command: python launch/main.py --config=experiments/palindrome_rnn.py:10   (or :20, or :smoke)
Runtime on a 2-core CPU: not yet measured.
Result: not yet measured (the palindrome study across cells, issue 16, will run it).
"""
from experiments import palindrome_lstm


def get_config(arg=None):
  c = palindrome_lstm.get_config(arg)
  c.name = c.name.replace("palindrome_lstm", "palindrome_rnn")
  c.model.cell = "rnn"
  c.model.bidirectional = False
  return c
