"""Run-level config fields every experiment shares, under the same names everywhere.

Each experiment's base config starts from ``run_config()`` and sets its own values; variants
import that base config and override a few fields.
"""
from ml_collections import ConfigDict, config_dict


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
  # How the recurrent layers run; unset = the platform's choice (rnn_jax.platform, one table for all four):
  c.rnn_implementation = config_dict.placeholder(str)  # fused | scan (fused: the hand-differentiated loop)
  c.hoist_inputs = config_dict.placeholder(bool)       # input projection of all steps before the loop
  c.matmul_dtype = config_dict.placeholder(str)        # float32 | bfloat16: the cells' matmuls (state stays float32)
  if num_epochs is not None:
    c.num_epochs = num_epochs
  else:
    c.num_train_steps = num_train_steps
  c.batch_size = 32
  c.optimizer = "adam"     # sgd | adam | adamw
  c.learning_rate = 1e-3
  c.weight_decay = 0.0     # adamw only
  c.schedule = schedule("constant", "epochs" if num_epochs is not None else "steps")
  c.grad_clip_norm = 0.0   # global-norm clipping, 0 = off
  c.frozen_params = ()     # glob patterns of parameter paths that get no updates, e.g. ("rnn/*/cell/*kernel",)
  c.log_every_steps = 50
  c.eval_every_steps = 0   # 0 = every epoch (epoch tasks) / only at the end (step tasks)
  c.checkpoint_every_steps = 500
  c.keep_checkpoints = 2
  # Early stopping: "<split>/<metric>" (e.g. "eval/accuracy") at early_stop_threshold (>=; <= for loss and
  # perplexity) for every seed at two consecutive evaluations ends the run (rnn_jax.train.EarlyStop).
  c.early_stop_metric = config_dict.placeholder(str)
  c.early_stop_threshold = config_dict.placeholder(float)
  return c


def schedule(name: str, unit: str, *, hold: float = 0.0, every: float = 1.0, gamma: float = 1.0,
             divide_by: float = 4.0, patience_evals: int = 0) -> ConfigDict:
  """A learning-rate schedule config holding every kind's fields, so ``--config.schedule.name`` can pick any.

  ``unit`` is the run's duration unit, ``epochs`` or ``steps``: it names the fields
  ``hold_<unit>`` / ``every_<unit>``. Kinds (rnn_jax.optim): constant | step_decay | exponential
  (read hold_*, every_*, gamma) | plateau (reads divide_by, patience_evals).
  """
  if unit not in ("epochs", "steps"):
    raise ValueError(f"schedule unit {unit!r}: use 'epochs' or 'steps'")
  return ConfigDict({"name": name, f"hold_{unit}": float(hold), f"every_{unit}": float(every), "gamma": float(gamma),
                     "divide_by": float(divide_by), "patience_evals": int(patience_evals)})


def apply_argument(c: ConfigDict, arg: str | None, smoke) -> ConfigDict:
  """The config argument of a config without its own: none, or `smoke` (applied by ``smoke(c)``)."""
  if arg == "smoke":
    smoke(c)
  elif arg:
    raise ValueError(f"unknown config argument {arg!r}; use none or 'smoke'")
  return c


def parse_argument(arg: str | None, fields: dict[str, type]) -> tuple[dict, bool]:
  """A config argument such as ``"H=256,act=tanh,smoke"`` -> ``({"H": 256, "act": "tanh"}, True)``.

  ``fields`` maps each accepted KEY to the type its value is converted with; ``smoke`` takes no
  value. An unknown or repeated key, or a value that does not convert, raises ValueError naming
  the accepted keys. Ranges are left to the task's config checks (one-line ``ConfigError``s).
  """
  values, smoke = {}, False
  for item in (part.strip() for part in (arg or "").split(",")):
    if not item:
      continue
    if item == "smoke":
      smoke = True
      continue
    key, has_value, text = item.partition("=")
    if not has_value or key not in fields or key in values:
      why = "repeated" if key in values else "not understood"
      raise ValueError(f"config argument {item!r} {why}; expected a comma-separated list of smoke and "
                       f"KEY=VALUE with KEY in {sorted(fields)}")
    try:
      values[key] = fields[key](text)
    except ValueError:
      raise ValueError(f"config argument {item!r}: expected {key}=<{fields[key].__name__}>") from None
  return values, smoke
