"""Binary palindromes with a peephole LSTM (gates read the previous cell state); otherwise exactly `palindrome_lstm.py`.

Command: python launch/main.py --config=experiments/palindrome_peephole_lstm.py:10   (or :20, or :smoke)
Expected runtime on a 2-core CPU (3 seeds, measured): T=10 51 minutes alone (~1 step/s, seeds
vmapped); T=20 ~0.66 steps/s alone with the seeds run one after another (steps 1,000-3,000 in 63
min), i.e. ~75 minutes for the whole run. Expected result (measured): T=10 evaluation accuracy
0.79 / 0.89 / 0.99 at steps 250 / 500 / 750 and 1.0 for every seed from step 1,250; T=20 0.71 /
0.79 / 0.80 at steps 250 / 500 / 1,000, 1.0 for every seed from step 2,750. Slower than the LSTM
at both lengths; see README.
"""
from experiments import palindrome_lstm


def get_config(arg=None):
  c = palindrome_lstm.get_config(arg)
  c.name = c.name.replace("palindrome_lstm", "palindrome_peephole_lstm")
  c.model.cell = "peephole_lstm"
  c.model.bidirectional = False
  return c
