"""Run-level config fields every experiment shares, under the same names everywhere.

Each experiment's base config starts from ``run_config()`` and sets its own values; variants
import that base config and override a few fields.
"""
from ml_collections import ConfigDict


def run_config(name: str, task: str, *, num_train_steps: int | None = None, num_epochs: int | None = None) -> ConfigDict:
  """The shared fields. Exactly one of ``num_train_steps`` (step-based tasks) / ``num_epochs``."""
  c = ConfigDict()
  c.name = name            # default workdir: runs/<name>
  c.task = task            # rnn_jax.train.TASKS
  c.seeds = (0, 1, 2)      # trained side by side, one compiled program
  c.max_devices = 0        # devices for the seed mesh: 0 = all available
  # several seeds on one device: auto (sequential on CPU, vmap on GPU/TPU) | vmap | sequential;
  # see rnn_jax.seed_mesh (sequential: 19-27% less time per step on CPU, README "Performance")
  c.seed_batching = "auto"
  if num_epochs is not None:
    c.num_epochs = num_epochs
  else:
    c.num_train_steps = num_train_steps
  c.batch_size = 32
  c.optimizer = "adam"     # sgd | adam | adamw
  c.learning_rate = 1e-3
  c.weight_decay = 0.0     # adamw only
  # constant | step_decay | exponential; hold/every in epochs (epoch tasks) or steps (rnn_jax.optim)
  c.schedule = ConfigDict({"name": "constant", "hold": 0.0, "every": 1.0, "gamma": 1.0})
  c.grad_clip_norm = 0.0   # global-norm clipping, 0 = off
  c.log_every_steps = 50
  c.eval_every_steps = 0   # 0 = every epoch (epoch tasks) / only at the end (step tasks)
  c.checkpoint_every_steps = 500
  c.keep_checkpoints = 2
  return c


def apply_argument(c: ConfigDict, arg: str | None, smoke) -> ConfigDict:
  """The config argument of a config without its own: none, or `smoke` (applied by ``smoke(c)``)."""
  if arg == "smoke":
    smoke(c)
  elif arg:
    raise ValueError(f"unknown config argument {arg!r}; use none or 'smoke'")
  return c
