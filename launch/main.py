"""Train and evaluate one experiment config: all its seeds side by side on the available devices.

  python launch/main.py --config=experiments/palindrome_lstm.py:10 [--workdir=DIR] [--config.seeds='(0,)']

The config is locked: an unknown key or a value of the wrong type fails at once. The default
workdir is runs/<config.name>; relaunching the same command resumes from its latest checkpoint.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for `experiments`

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (path[:arg]).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default: runs/<config.name>).")
flags.mark_flags_as_required(["config"])


class _QuietLibraries:
  """Drops INFO lines from Orbax (dozens per checkpoint); its warnings and errors still show."""

  def filter(self, record):
    return record.levelno > 20 or "/orbax/" not in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  import jax
  from rnn_jax import train
  from rnn_jax.errors import UserError

  logging.get_absl_handler().addFilter(_QuietLibraries())
  config = _CONFIG.value
  workdir = _WORKDIR.value or os.path.join("runs", config.name)
  logging.info("JAX process %d/%d, local devices %s", jax.process_index(), jax.process_count(), jax.local_devices())
  logging.info("Config %s -> workdir %s", config.name, workdir)
  try:
    train.train_and_evaluate(config, workdir)
  except UserError as e:
    sys.exit(f"error: {e}")


def parse_flags(argv):
  """absl's parsing, with one-line errors for unknown config keys and bad values."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f"error: {e} (see --helpshort)")
  except (AttributeError, KeyError) as e:  # ml_collections: an override names a key the config lacks
    key = str(e).strip("'\"")
    flag = next((a.split("=")[0] for a in argv if a.startswith("--config.") and key in a), f"--config...{key}")
    sys.exit(f"error: the config has no field {key!r} ({flag}); check its spelling against the "
             "fields defined in the config file")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
