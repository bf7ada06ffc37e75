"""Binary palindromes whose length T varies inside a batch (even T in [2, 20]): padding + seq_lengths, or length buckets.

Command: python launch/main.py --config=experiments/palindrome_varlen.py   (buckets: --config.data.bucket_lengths='(8,14)'; :smoke)
Runtime on a 2-core CPU: 14 min padded, 12 min bucketed (3 seeds, LSTM, beside other jobs; a bucketed step 0.75x a padded one).
Result: eval accuracy 1.000 for every seed in both layouts, 0.999 first at step 1,233 (docs/results/theory.md D1).
"""
from ml_collections import ConfigDict

from experiments import common, palindrome_lstm


def get_config(arg: str | None = None) -> ConfigDict:
  c = palindrome_lstm.get_config("20")
  c.name = "palindrome_varlen"
  c.batch_size = 128
  c.model.features = c.model.embed_dim = 128
  c.data.length = 20         # the longest T
  c.data.min_length = 2      # the shortest T; each sample draws T uniformly from the even numbers between
  c.data.bucket_lengths = ()  # the longest T of each bucket but the last; () = no buckets (plain padding)
  c.data.eval_batches = 20
  c.eval_every_steps = 100
  c.early_stop_metric = "eval/accuracy"
  c.early_stop_threshold = 0.999
  return common.apply_argument(c, arg, smoke)


def smoke(c: ConfigDict) -> None:
  c.name += "_smoke"
  c.seeds = (0, 1)
  c.num_train_steps = 6
  c.batch_size = 8
  c.model.features = c.model.embed_dim = 8
  c.log_every_steps = c.eval_every_steps = c.checkpoint_every_steps = 3
  c.data.length = 6
  c.data.eval_batches = 2
