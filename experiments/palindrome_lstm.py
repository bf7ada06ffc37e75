"""Binary palindromes with an LSTM (the 2020 UvA course's sanity check); the argument is the length T or `smoke`.

Command: python launch/main.py --config=experiments/palindrome_lstm.py:10   (or :20; :smoke runs in seconds)
Runtime on a 2-core CPU, 3 seeds, alone: about 50 min at T=10, about 75 min at T=20 (estimated).
Result: evaluation accuracy 1.000 for every seed at step 3,000 at T=10 and T=20 (docs/results/palindrome.md).
Early stopping (off here): --config.early_stop_metric=eval/accuracy --config.early_stop_threshold=0.999, as the
palindrome study across cells and lengths runs it (its command and sizes: launch/sweep.py).
"""
from ml_collections import ConfigDict

from experiments import common


def get_config(arg: str | None = None) -> ConfigDict:
  length, smoke = parse_length(arg)
  c = common.run_config(f"palindrome_lstm_T{length}" + ("_smoke" if smoke else ""), "toy", num_train_steps=3000)
  c.batch_size = 256
  c.optimizer = "adam"
  c.learning_rate = 1e-4
  c.grad_clip_norm = 10.0
  c.log_every_steps = 50
  c.eval_every_steps = 250
  c.checkpoint_every_steps = 500

  c.data = ConfigDict()
  c.data.task = "palindrome"  # or baum_sweet, random_combination (rnn_jax.tasks.toy_data)
  c.data.length = length
  c.data.eval_batches = 10  # fresh batches per evaluation

  c.model = ConfigDict()
  c.model.cell = "lstm"
  c.model.features = 256
  c.model.embed_dim = 256
  c.model.num_layers = 1
  c.model.bidirectional = False
  c.model.kernel_init = "kaiming_normal"
  c.model.cell_kwargs = ConfigDict()

  if smoke:
    c.seeds = (0, 1)
    c.num_train_steps = 6
    c.batch_size = 8
    c.model.features = c.model.embed_dim = 8
    c.log_every_steps = c.eval_every_steps = c.checkpoint_every_steps = 3
    c.data.eval_batches = 2
  return c


def parse_length(arg: str | None) -> tuple[int, bool]:
  """``"20"`` -> (20, False), ``"smoke"`` -> (10, True), ``"20,smoke"`` -> (20, True); default T = 10."""
  items = [item.strip() for item in (arg or "").split(",") if item.strip()]
  smoke = "smoke" in items
  rest = [item for item in items if item != "smoke"]
  if len(rest) > 1 or (rest and not rest[0].isdigit()):
    raise ValueError(f"config argument {arg!r} not understood: give the palindrome length T (an even "
                     "integer), 'smoke', or both, e.g. palindrome_lstm.py:20 or palindrome_lstm.py:20,smoke")
  return (int(rest[0]) if rest else 10), smoke
