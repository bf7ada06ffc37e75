"""Binary palindromes with a GRU (reset-before); otherwise exactly `palindrome_lstm.py`.

Command: python launch/main.py --config=experiments/palindrome_gru.py:10   (or :20, or :smoke)
Runtime on a 2-core CPU: T = 10, 48 s (3 seeds, width/batch 128, early stop: $SET of docs/results/theory.md; beside another training).
Result: eval accuracy 1.000 at T = 6, 10, 20; 0.669 +- 0.010 (the majority rate) at T = 40 (docs/results/theory.md C).
"""
from experiments import palindrome_lstm


def get_config(arg=None):
  c = palindrome_lstm.get_config(arg)
  c.name = c.name.replace("palindrome_lstm", "palindrome_gru")
  c.model.cell = "gru"
  c.model.cell_kwargs.reset_after = False  # reset gate before the recurrent matmul (the reports' GRU); True: PyTorch/cuDNN's
  c.model.bidirectional = False
  return c
