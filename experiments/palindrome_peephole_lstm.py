"""Binary palindromes with a peephole LSTM (gates read the previous cell state); otherwise exactly `palindrome_lstm.py`.

Command: python launch/main.py --config=experiments/palindrome_peephole_lstm.py:10   (or :20, or :smoke)
Runtime on a 2-core CPU, 3 seeds, alone: 51 min at T=10 (measured), about 95 min at T=20 (estimated).
Result: evaluation accuracy 1.000 for every seed from step 1,250 (T=10) / 2,750 (T=20) (docs/results/palindrome.md).
"""
from experiments import palindrome_lstm


def get_config(arg=None):
  c = palindrome_lstm.get_config(arg)
  c.name = c.name.replace("palindrome_lstm", "palindrome_peephole_lstm")
  c.model.cell = "peephole_lstm"
  c.model.bidirectional = False
  return c
