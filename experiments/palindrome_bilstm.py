"""Binary palindromes with a bidirectional LSTM; otherwise exactly `palindrome_lstm.py`.

Command: python launch/main.py --config=experiments/palindrome_bilstm.py:10   (or :20, or :smoke)
Runtime on a 2-core CPU: T = 10, 4 min (3 seeds, width/batch 128, early stop: $SET of docs/results/theory.md; beside another training).
Result: eval accuracy 1.000 at T = 6, 10, 20 (0.999 first at step 400 +- 0 at T = 10); T = 40: 0.729 +- 0.094 (docs/results/theory.md C).
"""
from experiments import palindrome_lstm


def get_config(arg=None):
  c = palindrome_lstm.get_config(arg)
  c.name = c.name.replace("palindrome_lstm", "palindrome_bilstm")
  c.model.cell = "lstm"
  c.model.bidirectional = True
  return c
