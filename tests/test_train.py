"""The training engine: every config end to end, seed/device invariance, kill-and-resume, bad input, NaN guard."""
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnn_jax import train
from rnn_jax.errors import ConfigError, TrainingError

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# Training configs (hopfield.py configs launch/hopfield.py, not the trainer; its own test runs it).
EXPERIMENTS = sorted(p.stem for p in (REPO / "experiments").glob("*.py") if p.stem not in ("__init__", "common", "hopfield"))


@pytest.fixture(autouse=True)
def data_env(monkeypatch, tmp_path_factory):
  """Real corpora from ../shared/data; a TFDS directory private to the test session."""
  monkeypatch.setenv("RNN_JAX_DATA_DIR", str(SHARED_DATA))
  monkeypatch.setenv("RNN_JAX_TFDS_DIR", str(tmp_path_factory.getbasetemp() / "tfds"))


def load_config(name, arg="smoke"):
  return importlib.import_module(f"experiments.{name}").get_config(arg)


def tiny_palindrome(**overrides):
  c = load_config("palindrome_lstm")
  c.update(overrides)
  return c


def read_metrics(workdir):
  return [json.loads(line) for line in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_config_runs_end_to_end_when_shrunk(name, tmp_path):
  config = load_config(name)
  assert config.name.endswith("_smoke")
  summary = train.train_and_evaluate(config, tmp_path)
  for output in ("config.json", "metrics.jsonl", "summary.json", "results.md", "timing.json"):
    assert (tmp_path / output).stat().st_size > 0, output
  assert list((tmp_path / "plots").glob("*.png"))
  assert len(list((tmp_path / "tensorboard").iterdir())) == len(config.seeds)
  assert sorted(summary["per_seed"]) == sorted(str(s) for s in config.seeds)
  final = [r for r in read_metrics(tmp_path) if r["split"].startswith("final/")]
  assert final and all(np.isfinite(r["loss"]) for r in final)


def test_the_main_command_config_loads_and_builds_the_model():
  config = load_config("ptb_gru_dropout", None)
  assert config.model.cell == "gru" and config.model.output_dropout > 0 and len(config.seeds) == 3
  train.validate_config(config)


# --- kill and resume ----------------------------------------------------------------------------

def launch(workdir, *overrides):
  cmd = [sys.executable, str(REPO / "launch" / "main.py"), f"--config={REPO / 'experiments' / 'palindrome_lstm.py'}:smoke",
         f"--workdir={workdir}", *overrides]
  return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "XLA_FLAGS": ""})


RESUME_FLAGS = ("--config.num_train_steps=1500", "--config.log_every_steps=50", "--config.eval_every_steps=100",
                "--config.checkpoint_every_steps=100", "--config.keep_checkpoints=3")


def test_killed_run_resumes_to_bit_identical_results(tmp_path):
  full = launch(tmp_path / "full", *RESUME_FLAGS)
  killed = launch(tmp_path / "killed", *RESUME_FLAGS)
  deadline = time.time() + 300
  while not (tmp_path / "killed" / "checkpoints" / "200").exists():
    assert killed.poll() is None, killed.stderr.read()
    assert time.time() < deadline, "no checkpoint within 300 s"
    time.sleep(0.05)
  assert killed.poll() is None, "the run ended before it could be killed: make it longer"
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  resumed = launch(tmp_path / "killed", *RESUME_FLAGS)
  assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
  assert full.wait(timeout=600) == 0, full.stderr.read()
  assert "Resuming from the checkpoint" in resumed.stderr.read()
  summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("full", "killed")]
  assert summaries[0]["per_seed"] == summaries[1]["per_seed"]
  assert read_metrics(tmp_path / "full") == read_metrics(tmp_path / "killed")


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("flag,message", [
    ("--config.no_such_key=1", "no_such_key"),
    ("--config.batch_size=abc", "batch_size"),
    ("--config.seeds=()", "config.seeds must be a non-empty"),
    ("--config.num_train_steps=0", "config.num_train_steps must be a positive integer, got 0"),
    ("--config.learning_rate=-1.0", "config.learning_rate must be a positive number, got -1.0"),
    ("--config.seed_batching=batched", "config.seed_batching 'batched' is not one of"),
    ("--num_processes=2", "needs all of --coordinator_address, --num_processes and --process_id"),
    ("--config.model.cell=transformer", "config.model.cell 'transformer' is not one of gru, lstm, peephole_lstm, rnn"),
    ("--config.model.features=0", "config.model.features must be a positive integer, got 0"),
    ("CONFIG=palindrome_lstm.py:11", "config.data.length: palindrome: length T must be even, got 11"),
    ("CONFIG=palindrome_lstm.py:banana", "config argument 'banana' not understood"),
    ("CONFIG=no_such_config.py", "cannot load the config file"),
])
def test_bad_config_fails_with_one_clear_line_and_writes_nothing(flag, message, tmp_path):
  if flag.startswith("CONFIG="):  # the config path itself
    proc = subprocess.Popen([sys.executable, str(REPO / "launch" / "main.py"),
                             f"--config={REPO / 'experiments' / flag[len('CONFIG='):]}", f"--workdir={tmp_path / 'run'}"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "XLA_FLAGS": ""})
  else:
    proc = launch(tmp_path / "run", flag)
  _, stderr = proc.communicate(timeout=120)
  assert proc.returncode != 0
  last = [line for line in stderr.strip().splitlines() if line.strip()][-1]
  assert message in last, stderr
  assert "Traceback" not in stderr
  assert not (tmp_path / "run").exists()


def test_unwritable_workdir_is_a_clear_error(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  proc = launch(blocker / "run")
  _, stderr = proc.communicate(timeout=120)
  assert proc.returncode != 0
  assert stderr.strip().splitlines()[-1].startswith(f"error: cannot write to workdir {blocker / 'run'}")


def test_relaunch_with_another_config_is_refused_and_keeps_the_checkpoints(tmp_path):
  train.train_and_evaluate(tiny_palindrome(), tmp_path)
  before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
  metrics_before = (tmp_path / "metrics.jsonl").read_text()
  with pytest.raises(ConfigError, match="different config .*learning_rate"):
    train.train_and_evaluate(tiny_palindrome(learning_rate=0.5), tmp_path)
  assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before
  assert (tmp_path / "metrics.jsonl").read_text() == metrics_before


def test_relaunch_with_another_seed_batching_resumes(tmp_path):
  """seed_batching only says how seeds sharing a device run (train.PLACEMENT_KEYS): a resume may change it."""
  train.train_and_evaluate(tiny_palindrome(seeds=(0, 1, 2), seed_batching="sequential"), tmp_path)
  summary = train.train_and_evaluate(tiny_palindrome(seeds=(0, 1, 2), seed_batching="vmap"), tmp_path)
  assert sorted(summary["per_seed"]) == ["0", "1", "2"]
  assert json.loads((tmp_path / "config.json").read_text())["seed_batching"] == "vmap"  # as launched last


def test_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
  config = tiny_palindrome(optimizer="adam", learning_rate=1e38, grad_clip_norm=0.0, num_train_steps=20,
                           log_every_steps=1, checkpoint_every_steps=1, eval_every_steps=0)
  with pytest.raises(TrainingError, match=r"seed \d: non-finite loss or gradient at step (\d+)") as error:
    train.train_and_evaluate(config, tmp_path)
  bad_step = int(__import__("re").search(r"at step (\d+)", str(error.value)).group(1))
  steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
  assert steps and max(steps) < bad_step
  assert f"last good checkpoint (step {max(steps)})" in str(error.value)
  # The kept checkpoint restores and holds finite parameters.
  from rnn_jax import checkpointing
  import orbax.checkpoint as ocp
  restored = ocp.CheckpointManager(tmp_path / "checkpoints").restore(max(steps))
  leaves = [np.asarray(x) for x in __import__("jax").tree.leaves(checkpointing.train_state(restored)["params"])]
  assert all(np.all(np.isfinite(x)) for x in leaves)


def test_validate_config_rejects_duplicate_seeds():
  with pytest.raises(ConfigError, match="duplicates"):
    train.validate_config(tiny_palindrome(seeds=(1, 1)))


# --- the plateau schedule and resuming mid-window -------------------------------------------------

def plateau_config():
  """PTB smoke, plateau schedule at a learning rate high enough to make validations stall."""
  config = load_config("ptb_lstm_dropout")
  config.update(num_train_steps=30, learning_rate=8.0, log_every_steps=5, eval_every_steps=5,
                checkpoint_every_steps=7, keep_checkpoints=10)  # checkpoints fall inside logging windows
  config.schedule.name, config.schedule.divide_by, config.schedule.patience_evals = "plateau", 4.0, 0
  return config


def test_plateau_divides_exactly_after_stalled_validations_and_resumes_bit_identically(tmp_path):
  import shutil
  config = plateau_config()
  train.train_and_evaluate(config, tmp_path / "full")
  records = read_metrics(tmp_path / "full")
  divisions = 0
  for seed in config.seeds:
    valid = [r["perplexity"] for r in sorted((r for r in records if r["seed"] == seed and r["split"] == "valid"),
                                             key=lambda r: r["step"])]
    lrs = [r["learning_rate"] for r in sorted((r for r in records if r["seed"] == seed and r["split"] == "train"),
                                              key=lambda r: r["step"])]
    # The rule from its definition: a new best by more than 1e-4 relative, else divide by 4.
    best, scale, expected = float("inf"), 1.0, [1.0]
    for value in valid[:-1]:
      if value < (1 - 1e-4) * best:
        best = value
      else:
        scale /= 4.0
      expected.append(scale)
    np.testing.assert_allclose(lrs, [8.0 * s for s in expected], rtol=1e-6)
    divisions += expected[-1] < 1.0
  assert divisions > 0, "no validation stalled: the test saw no division (raise the learning rate)"
  # A run killed after the checkpoint at step 14 (mid-window: logs at 10 and 15) and relaunched.
  shutil.copytree(tmp_path / "full", tmp_path / "resumed")
  for step in (21, 28, 30):
    shutil.rmtree(tmp_path / "resumed" / "checkpoints" / str(step))
  train.train_and_evaluate(config, tmp_path / "resumed")
  assert read_metrics(tmp_path / "resumed") == records
  timing = json.loads((tmp_path / "resumed" / "timing.json").read_text())
  assert timing["launches"] == 2 and timing["first_step"] == 14 and timing["timed_steps"] == 28  # 2-14, 16-30
  # Evaluations at 5, 10 | 15, 20, 25, 30: each launch's first compiles and is not timed.
  assert timing["timed_evals"] == 4 and 0 < timing["eval_seconds"] < timing["train_seconds"]


BAD_FIELDS = [  # (config, field override, the message's start) -- checked before anything is loaded or written
    ("palindrome_lstm", {"model.kernel_init": "zeros"}, "config.model.kernel_init 'zeros' is not one of"),
    ("palindrome_lstm", {"model.num_layers": 0}, "config.model.num_layers must be a positive integer"),
    ("palindrome_lstm", {"model.cell_kwargs": {"forget_bais": 1.0}}, "config.model.cell_kwargs.forget_bais is not an attribute"),
    ("palindrome_lstm", {"model.cell_kwargs": {"forget_gate": "half"}}, "config.model.cell_kwargs: forget_gate='half'"),
    ("palindrome_lstm", {"data.task": "parity"}, "config.data.task 'parity' is not one of"),
    ("palindrome_lstm", {"data.eval_batches": 0}, "config.data.eval_batches must be a positive integer"),
    ("palindrome_lstm", {"schedule.name": "plateau"}, "config.schedule.name 'plateau' needs a validation split"),
    ("palindrome_lstm", {"task": "vision"}, "config.task 'vision' is not one of"),
    ("palindrome_lstm", {"weight_decay": -0.1}, "config.weight_decay must be >= 0"),
    ("palindrome_lstm", {"schedule.name": "step_decay", "schedule.every_steps": 0.0}, "config.schedule.every_steps must be a positive number"),
    ("ptb_lstm", {"model.input_dropout": 1.0}, "config.model.input_dropout must be in [0, 1)"),
    ("ptb_lstm", {"model.word_dropout": -0.1}, "config.model.word_dropout must be in [0, 1)"),
    ("ptb_lstm", {"data.window_tokens": 0}, "config.data.window_tokens must be a positive integer"),
    ("ptb_lstm", {"model.embed_dim": 32}, "config.model.tie_embeddings needs model.embed_dim == model.features"),
    ("ptb_lstm", {"model.init_scale": -0.1}, "config.model.init_scale must be a positive number"),
    ("ptb_lstm", {"data.manual_dir": "/no/such/folder"}, "config.data.manual_dir: no folder '/no/such/folder'"),
    ("ptb_lstm", {"schedule.name": "plateau", "schedule.divide_by": 1.0}, "config.schedule.divide_by must be > 1"),
    ("ptb_lstm", {"schedule.name": "plateau", "schedule.patience_evals": -1}, "config.schedule.patience_evals must be >= 0"),
    ("grimm_lstm", {"data.path": "/no/such/book.txt"}, "config.data.path: no file '/no/such/book.txt'"),
    ("grimm_lstm", {"data.valid_fraction": 1.0}, "config.data.valid_fraction must be in (0, 1)"),
]


@pytest.mark.parametrize("name,overrides,message", BAD_FIELDS, ids=[f"{n}:{','.join(o)}" for n, o, _ in BAD_FIELDS])
def test_every_config_field_is_checked_before_anything_is_written(name, overrides, message, tmp_path):
  config = load_config(name)
  for dotted, value in overrides.items():
    *parents, leaf = dotted.split(".")
    node = config
    for part in parents:
      node = node[part]
    with node.unlocked() if hasattr(node, "unlocked") else __import__("contextlib").nullcontext():
      node[leaf] = value
  with pytest.raises(ConfigError) as error:
    train.train_and_evaluate(config, tmp_path / "run")
  assert str(error.value).startswith(message), str(error.value)
  assert "\n" not in str(error.value)
  assert not (tmp_path / "run").exists()


def test_the_training_step_compiles_once_over_logging_evaluation_and_checkpoints(tmp_path, monkeypatch):
  made = []
  original = train.make_steps
  monkeypatch.setattr(train, "make_steps", lambda *a: made.append(original(*a)) or made[-1])
  train.train_and_evaluate(tiny_palindrome(num_train_steps=12, log_every_steps=3, eval_every_steps=4,
                                           checkpoint_every_steps=5), tmp_path)
  assert [steps.train_traces for steps in made] == [1]


def test_frozen_params_stay_bit_identical_through_training(tmp_path):
  import orbax.checkpoint as ocp
  config = tiny_palindrome(frozen_params=("rnn/layer_0/cell/*kernel", "embed/*"), seeds=(0,), num_train_steps=6)
  train.train_and_evaluate(config, tmp_path)
  restored = ocp.CheckpointManager(tmp_path / "checkpoints").restore(6)["state"]
  steps = train.make_steps(config, train.make_task(config))
  initial = steps.init(steps.mesh.seed_array())["params"]
  for path in (("rnn", "layer_0", "cell", "recurrent_kernel"), ("rnn", "layer_0", "cell", "x_proj", "kernel"),
               ("embed", "embedding")):
    before, after = initial, restored["params"]
    for key in path:
      before, after = before[key], after[key]
    np.testing.assert_array_equal(np.asarray(after), np.asarray(before))
  assert not np.array_equal(np.asarray(restored["params"]["head"]["kernel"]), np.asarray(initial["head"]["kernel"]))


def test_a_frozen_pattern_that_matches_nothing_is_refused(tmp_path):
  with pytest.raises(ConfigError, match="config.frozen_params: 'rnn/\\*/recurent_kernel' matches no parameter"):
    train.train_and_evaluate(tiny_palindrome(frozen_params=("rnn/*/recurent_kernel",)), tmp_path / "run")
  assert not (tmp_path / "run").exists()


def test_a_field_added_after_the_run_started_resumes_at_its_off_value(tmp_path):
  config = tiny_palindrome(seeds=(0,), num_train_steps=6)
  train.prepare_workdir(tmp_path, config, True)
  saved = json.loads((tmp_path / "config.json").read_text())
  del saved["frozen_params"]  # as written by a version of the suite before the field existed
  (tmp_path / "config.json").write_text(json.dumps(saved))
  train.prepare_workdir(tmp_path, config, True)  # off value: the same run
  (tmp_path / "config.json").write_text(json.dumps(saved))
  with pytest.raises(ConfigError, match="differs in frozen_params"):
    train.prepare_workdir(tmp_path, tiny_palindrome(seeds=(0,), num_train_steps=6, frozen_params=("head/*",)), True)


def test_early_stop_ends_the_run_after_two_evaluations_at_the_threshold_and_stays_stopped(tmp_path):
  # A threshold every evaluation meets: the run stops at the second evaluation (step 4 of 30).
  config = tiny_palindrome(num_train_steps=30, eval_every_steps=2, log_every_steps=2, checkpoint_every_steps=10,
                           early_stop_metric="eval/accuracy", early_stop_threshold=0.0)
  train.train_and_evaluate(config, tmp_path)
  records = read_metrics(tmp_path)
  assert max(r["step"] for r in records) == 4
  final = [r for r in records if r["split"] == "final/eval"]
  assert [r["steps_to_threshold"] for r in final] == [2, 2]
  assert (tmp_path / "checkpoints" / "4").exists()
  train.train_and_evaluate(config, tmp_path)  # relaunched: nothing more to train
  assert read_metrics(tmp_path) == records


def test_early_stop_rule_needs_every_seed_twice_in_a_row():
  stop = train.EarlyStop("eval/accuracy", 0.9, seeds=(0, 1))
  results = lambda a, b: {"eval": {"accuracy": np.array([a, b])}}
  assert not stop.update(10, results(0.95, 0.80))
  assert not stop.update(20, results(0.95, 0.95))
  assert not stop.update(30, results(0.85, 0.95))  # seed 0 fell back
  assert not stop.update(40, results(0.91, 0.99))
  assert stop.update(50, results(0.99, 0.92))
  assert stop.first_reached() == [10, 20]
  low = train.EarlyStop("valid/perplexity", 100.0, seeds=(0,))
  assert not low.update(1, {"valid": {"perplexity": np.array([99.0])}})
  assert low.update(2, {"valid": {"perplexity": np.array([98.0])}})
