"""Train and evaluate one experiment config: all its seeds side by side on the available devices.

  python launch/main.py --config=experiments/palindrome_lstm.py:10 [--workdir=DIR] [--config.seeds='(0,)']

Several hosts (e.g. a TPU pod slice): run the same command on every host with --distributed, which
calls jax.distributed.initialize() and lets JAX detect the cluster (Cloud TPU, SLURM, Open MPI).
Elsewhere give the cluster by hand on each process:
  --coordinator_address=HOST:PORT --num_processes=N --process_id=I
The seeds are then spread over the devices of all processes; process 0 writes every output, and
all processes take part in checkpoints. On CPU the processes talk through gloo.

The config is locked: an unknown key or a value of the wrong type fails at once. The default
workdir is runs/<config.name>; relaunching the same command resumes from its latest checkpoint.

Console: a progress bar with ETA when stderr is a terminal, one line per logging step otherwise.
This project's INFO lines are printed without absl's prefix (level, time, thread, file:line);
warnings, errors and other libraries' lines keep it, and --showprefixforinfo puts it back everywhere.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for `experiments`

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402
from rnn_jax import cli  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (path[:arg]).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default: runs/<config.name>).")
_DISTRIBUTED = flags.DEFINE_boolean("distributed", False, "Multi-process run: call jax.distributed.initialize() "
                                    "with the cluster detected by JAX (Cloud TPU, SLURM, Open MPI).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "Multi-process run without auto-detection: "
                                   "HOST:PORT of process 0 (also give --num_processes and --process_id).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-process run: number of processes.", lower_bound=1)
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-process run: this process's index, 0..N-1.", lower_bound=0)
flags.mark_flags_as_required(["config"])
# absl's own switch for the INFO prefix, off by default here (see _configure_console).
flags.FLAGS.set_default("showprefixforinfo", False)


class _QuietLibraries:
  """Drops INFO lines from Orbax (dozens per checkpoint) and jax's backend probing; warnings and errors still show."""

  def filter(self, record):
    if record.levelno > 20:
      return True
    # Orbax's chatter, and jax probing for a TPU on machines without one.
    return "/orbax/" not in record.pathname and not record.getMessage().startswith("Unable to initialize backend")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  _configure_console()
  import jax
  from rnn_jax import train
  from rnn_jax.errors import UserError

  _initialize_distributed(jax)
  try:
    config = _CONFIG.value
    config.name  # a config file that failed to load raises here, on first use
  except OSError as e:  # ml_collections defers a config file that failed to load to this access
    sys.exit(f"error: cannot load the config file: {cli.one_line(str(e)).split(': ', 1)[-1]}; check the --config path")
  workdir = _WORKDIR.value or os.path.join("runs", config.name)
  logging.info("JAX process %d/%d, local devices %s", jax.process_index(), jax.process_count(), jax.local_devices())
  logging.info("Config %s -> workdir %s", config.name, workdir)
  try:
    train.train_and_evaluate(config, workdir)
  except UserError as e:
    sys.exit(f"error: {e}")


def _configure_console():
  """absl's handler for a person: Orbax's INFO chatter dropped; unless --showprefixforinfo, the
  INFO lines of this project's files without absl's prefix (run_outputs.ConsoleFormatter)."""
  from rnn_jax import run_outputs

  handler = logging.get_absl_handler()
  handler.addFilter(_QuietLibraries())
  if not flags.FLAGS.showprefixforinfo:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    own_dirs = [os.path.dirname(run_outputs.__file__), *(os.path.join(repo, d) for d in ("launch", "experiments"))]
    handler.setFormatter(run_outputs.ConsoleFormatter(own_dirs))


def _initialize_distributed(jax):
  """Joins the processes of a multi-process run; must come before anything touches a device."""
  manual = (_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  if any(v is not None for v in manual) and any(v is None for v in manual):
    sys.exit("error: a multi-process run given by hand needs all of --coordinator_address, --num_processes "
             "and --process_id (or use --distributed where JAX detects the cluster)")
  if not (_DISTRIBUTED.value or _COORDINATOR.value):
    return
  jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices of different processes
  coordinator, num_processes, process_id = manual
  jax.distributed.initialize(coordinator, num_processes, process_id)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
