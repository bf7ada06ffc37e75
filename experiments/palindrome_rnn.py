"""Binary palindromes with a plain RNN (Elman); otherwise exactly `palindrome_lstm.py`.

Command: python launch/main.py --config=experiments/palindrome_rnn.py:10   (or :20, or :smoke)
Runtime on a 2-core CPU: T = 10, 66 s (3 seeds, width/batch 128, early stop: $SET of docs/results/theory.md; beside another training).
Result: eval accuracy 1.000 at T = 6, 10, 20; T = 40: one seed of three (0.673 / 1.000 / 0.652); T = 80: 0.671 (docs/results/theory.md C).
"""
from experiments import palindrome_lstm


def get_config(arg=None):
  c = palindrome_lstm.get_config(arg)
  c.name = c.name.replace("palindrome_lstm", "palindrome_rnn")
  c.model.cell = "rnn"
  c.model.bidirectional = False
  return c
