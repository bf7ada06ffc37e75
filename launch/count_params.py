"""Print the trainable parameters of an experiment's model, per parameter array and in total.

  python launch/count_params.py --config=experiments/ptb_lstm.py

No training and no parameter memory: shapes come from ``jax.eval_shape``. Word/character
tasks read their corpus to learn the vocabulary size.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for `experiments`

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (path[:arg]).", lock_config=True)
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  import jax
  from rnn_jax import models, train
  from rnn_jax.errors import UserError

  try:
    task = train.make_task(_CONFIG.value)
  except UserError as e:
    sys.exit(f"error: {e}")
  shapes = jax.eval_shape(task.init_params, jax.random.key(0))
  rows = [("/".join(str(getattr(k, "key", k)) for k in path), leaf.shape)
          for path, leaf in jax.tree_util.tree_leaves_with_path(shapes)]
  width = max(len(name) for name, _ in rows)
  for name, shape in rows:
    size = 1
    for d in shape:
      size *= d
    print(f"{name:<{width}}  {str(tuple(shape)):>16}  {size:>12,}")
  print(f"{'total':<{width}}  {'':>16}  {models.count_params(shapes):>12,}")


if __name__ == "__main__":
  app.run(main)
