"""Binary palindromes whose length varies inside a batch: each sample draws T from the even numbers in
[2, 20] (inputs 9 to 81 symbols), right padding + seq_lengths; optionally length buckets.

Otherwise `palindrome_lstm.py` at the palindrome study's size (width 128, batch 128, 20 evaluation
batches every 100 steps; launch/sweep.py says why), with early stopping at evaluation accuracy
0.999 so that the steps to it can be compared. Evaluation batches are always padded to 81 symbols.
The argument is none or `smoke`.

* data.bucket_lengths = () (default): every training batch padded to 81 symbols; expected padding
  44.4% of the input symbols.
* --config.data.bucket_lengths='(8,14)': buckets T in [2, 8], [10, 14], [16, 20], each batch padded
  to its bucket's longest (33, 57 or 81 symbols), the bucket chosen by the step
  (rnn_jax.tasks.length_buckets); expected padding 17.6%, 54.6 time steps per batch on average
  instead of 81. One compiled step holds a branch per bucket: nothing recompiles.
* --config.model.bidirectional=True: the bidirectional LSTM (its backward direction starts at each
  sample's own last symbol).

Commands:
  python launch/varlen.py --config=experiments/palindrome_varlen.py --bucket_lengths=8,14   # padding, step time
  python launch/sweep.py --parent=runs/varlen --configs=experiments/palindrome_varlen.py \
      --grid='data.bucket_lengths=(),(8,14)' --grid=model.bidirectional=False,True          # accuracy
  python launch/report.py --sweep=runs/varlen --rows=data.bucket_lengths --cols=model.bidirectional
Step time (launch/varlen.py above, --cycles=1, 3 seeds; 2 CPU cores shared with two other trainings,
load ~6, so only the ratios hold): LSTM padded 407 ms, bucketed 306 ms per step (0.75x; measured
padding 0.441 / 0.181); bidirectional LSTM 831 ms / 649 ms (0.78x). The scan's 54.6 / 81 = 0.67x is
the floor; the rest (embedding, head, optimizer) does not shrink with the padding.
Runtime of a training run: not yet measured. Result: not yet measured (issue 16 D).
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
