"""launch/sweep.py and the grid report (issue 16 C): grid syntax, points and their commands, checks before
anything is written, a sweep run end to end with skip/resume, and the rows x columns table."""
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_jax import sweep
from rnn_jax.sweep import SweepError

REPO = Path(__file__).resolve().parents[1]
LSTM = str(REPO / "experiments" / "palindrome_lstm.py")
BILSTM = str(REPO / "experiments" / "palindrome_bilstm.py")


@pytest.mark.parametrize("text, values", [
    ("rnn,lstm,gru", ["rnn", "lstm", "gru"]),
    ("(),(8,14)", ["()", "(8,14)"]),
    ("'10,smoke',\"20,smoke\", 40", ["10,smoke", "20,smoke", "40"]),
    ("[1, 2],{'a': 1}", ["[1, 2]", "{'a': 1}"]),
    ("eval/accuracy", ["eval/accuracy"]),
    ("'',x", ["", "x"]),
])
def test_values_split_at_commas_outside_brackets_and_quotes(text, values):
  assert sweep.split_values(text) == values


@pytest.mark.parametrize("text, message", [("(1,2", "unbalanced"), ("'a,b", "unbalanced"), ("a,,b", "empty value")])
def test_broken_value_lists_are_refused(text, message):
  with pytest.raises(SweepError, match=message):
    sweep.split_values(text)


def test_points_are_the_product_of_configs_and_axes_with_names_workdirs_and_commands(tmp_path):
  points = sweep.make_points([LSTM, BILSTM], ["arg=6,10", "config.data.eval_batches=5,20"],
                             ["early_stop_metric=eval/accuracy", "seeds=(0,1)"], tmp_path)
  assert [p.name for p in points] == [
      "palindrome_lstm__arg=6__data.eval_batches=5", "palindrome_lstm__arg=6__data.eval_batches=20",
      "palindrome_lstm__arg=10__data.eval_batches=5", "palindrome_lstm__arg=10__data.eval_batches=20",
      "palindrome_bilstm__arg=6__data.eval_batches=5", "palindrome_bilstm__arg=6__data.eval_batches=20",
      "palindrome_bilstm__arg=10__data.eval_batches=5", "palindrome_bilstm__arg=10__data.eval_batches=20"]
  last = points[-1]
  assert last.workdir == str(tmp_path / last.name)
  assert last.command("python", "launch/main.py") == [
      "python", "launch/main.py", f"--config={BILSTM}:10", "--config.early_stop_metric=eval/accuracy",
      "--config.seeds=(0,1)", "--config.data.eval_batches=20", f"--workdir={tmp_path / last.name}"]
  assert dict(last.axes) == {"arg": "10", "data.eval_batches": "20"}
  fixed = sweep.make_points([f"{LSTM}:20"], ["data.bucket_lengths=(),(8,14)"], [], tmp_path)
  assert [p.name for p in fixed] == ["palindrome_lstm__data.bucket_lengths=none",
                                     "palindrome_lstm__data.bucket_lengths=8-14"]
  assert fixed[1].arg == "20" and fixed[1].overrides == (("data.bucket_lengths", "(8,14)"),)


@pytest.mark.parametrize("configs, grid, sets, message", [
    ([], [], [], "no config files"),
    ([LSTM], ["model.cell"], [], "--grid='model.cell' not understood"),
    ([LSTM], ["model.cell=rnn,rnn"], [], "repeats a value"),
    ([LSTM], ["arg=6,10"], ["arg=20"], "arg is given more than once"),
    ([f"{LSTM}:20"], ["arg=6,10"], [], "both after ':' and as arg"),
    ([LSTM], [], ["model.cell=rnn,lstm"], "a --set takes one"),
    ([LSTM, LSTM], [], [], "share the name 'palindrome_lstm'"),
])
def test_grid_syntax_errors_are_one_line(configs, grid, sets, message, tmp_path):
  with pytest.raises(SweepError, match=message) as error:
    sweep.make_points(configs, grid, sets, tmp_path)
  assert "\n" not in str(error.value)


@pytest.mark.parametrize("grid, sets, message", [
    (["model.cell=rnn,lstmm"], [], "point palindrome_lstm__model.cell=lstmm: config.model.cell 'lstmm' is not one of"),
    (["model.cel=rnn"], [], "config.model has no field 'cel' (its fields: bidirectional, cell,"),
    (["model.features=128,12x"], [], "cannot parse the value: flag --config.model.features=12x"),
    (["arg=5,10"], [], "point palindrome_lstm__arg=5: config.data.length: palindrome: length T must be even, got 5"),
    (["arg=banana"], [], "config argument 'banana' not understood"),
    ([], ["early_stop_metric=eval/accuracy", "early_stop_threshold=1.5"],
     "config.early_stop_threshold must be in [0, 1] for an accuracy, got 1.5"),
])
def test_bad_points_are_refused_with_one_line_before_anything_is_written(grid, sets, message, tmp_path):
  points = sweep.make_points([LSTM], grid, sets, tmp_path / "sweep")
  with pytest.raises(SweepError) as error:
    sweep.check_points(points, tmp_path / "sweep")
  assert message in str(error.value) and "\n" not in str(error.value)
  assert not (tmp_path / "sweep").exists()


def test_a_workdir_of_another_config_is_refused_at_the_check(tmp_path):
  point = sweep.make_points([LSTM], ["arg=10"], [], tmp_path)[0]
  other = sweep.make_points([LSTM], ["arg=20"], [], tmp_path)[0]
  Path(point.workdir).mkdir()
  from rnn_jax import train
  train.prepare_workdir(point.workdir, sweep.load_config(other), is_writer=True)
  with pytest.raises(SweepError, match="holds a run of a different config .*data.length"):
    sweep.check_points([point], tmp_path)


def run_sweep(*flags):
  return subprocess.run([sys.executable, str(REPO / "launch" / "sweep.py"), *flags], cwd=REPO,
                        capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_sweep_runs_each_point_then_skips_finished_ones_and_resumes_unfinished_ones(tmp_path):
  parent = tmp_path / "sweep"
  flags = [f"--parent={parent}", f"--configs={LSTM},{BILSTM}", "--set=arg='4,smoke'", "--set=seeds=(0,)",
           "--set=early_stop_metric=eval/accuracy", "--set=early_stop_threshold=0.0"]
  dry = run_sweep(*flags, "--dry_run")
  assert dry.returncode == 0, dry.stderr
  commands = dry.stdout.splitlines()
  names = ["palindrome_lstm", "palindrome_bilstm"]
  assert [shlex.split(c)[-1] for c in commands] == [f"--workdir={parent / n}" for n in names]
  assert shlex.split(commands[0])[1:3] == ["launch/main.py", f"--config={LSTM}:4,smoke"]
  assert not parent.exists()  # a dry run writes nothing

  first = run_sweep(*flags)
  assert first.returncode == 0, first.stdout + first.stderr
  for name in names:
    assert (parent / name / "summary.json").exists() and (parent / "logs" / f"{name}.log").exists()
  manifest = json.loads((parent / "sweep.json").read_text())
  assert sorted(manifest["points"]) == sorted(names) and len(manifest["sweeps"]) == 1

  (parent / "palindrome_bilstm" / "summary.json").unlink()  # as if killed before the end
  log_before = (parent / "logs" / "palindrome_lstm.log").read_text()
  again = run_sweep(*flags)
  assert again.returncode == 0, again.stdout + again.stderr
  assert "[1/2] palindrome_lstm: finished, skipped" in again.stdout
  assert "[2/2] palindrome_bilstm: resuming" in again.stdout
  assert (parent / "logs" / "palindrome_lstm.log").read_text() == log_before
  assert "Resuming from the checkpoint at step" in (parent / "logs" / "palindrome_bilstm.log").read_text()
  assert (parent / "palindrome_bilstm" / "summary.json").exists()

  table = sweep.grid_report(parent)
  row = next(line for line in table.splitlines() if line.startswith("| palindrome_lstm "))
  assert "; 3 ± 0 steps (1/1)" in row  # evaluations at steps 3 and 6, the threshold met at the first


def test_the_cli_refuses_a_bad_grid_with_one_line_and_writes_nothing(tmp_path):
  result = run_sweep(f"--parent={tmp_path / 'sweep'}", f"--configs={LSTM}", "--grid=model.cell=rnn,gru,elman")
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      "error: point palindrome_lstm__model.cell=elman: config.model.cell 'elman' is not one of")
  assert not (tmp_path / "sweep").exists()


# --- the grid report on hand-written workdirs ----------------------------------------------------------

def write_point(parent, name, config, records, timing=None):
  workdir = parent / name
  workdir.mkdir(parents=True)
  (workdir / "config.json").write_text(json.dumps(config))
  (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
  if timing:
    (workdir / "timing.json").write_text(json.dumps(timing))


def finals(step, accuracies, reached):
  records = []
  for seed, (accuracy, first) in enumerate(zip(accuracies, reached)):
    record = {"seed": seed, "step": step, "split": "final/eval", "accuracy": accuracy, "loss": 0.1}
    if first is not None:
      record["steps_to_threshold"] = first
    records.append(record)
  return records


def test_the_grid_table_has_one_row_per_config_one_column_per_length_and_seed_statistics(tmp_path):
  stop = {"early_stop_metric": "eval/accuracy", "early_stop_threshold": 0.999}
  write_point(tmp_path, "palindrome_lstm__arg=10", {"name": "a", "data": {"length": 10}, **stop},
              finals(700, [1.0, 1.0, 0.998], [500, 700, 600]), {"train_seconds": 600.0})
  write_point(tmp_path, "palindrome_lstm__arg=40", {"name": "b", "data": {"length": 40}, **stop},
              finals(3000, [0.7, 0.6, 0.8], [None, None, None]), {"train_seconds": 7200.0})
  write_point(tmp_path, "palindrome_rnn__arg=10", {"name": "c", "data": {"length": 10}, **stop},
              finals(3000, [1.0, 0.9, 0.95], [2500, None, None]))
  write_point(tmp_path, "palindrome_rnn__arg=40", {"name": "d", "data": {"length": 40}, **stop},
              [{"seed": s, "step": 500, "split": "eval", "accuracy": a} for s, a in enumerate([0.8, 0.9, 1.0])])
  text = sweep.grid_report(tmp_path, rows="config", columns="data.length")
  lines = text.splitlines()
  assert "| config \\ data.length" in lines[lines.index("## final eval accuracy") + 2]
  lstm = next(line for line in lines if line.startswith("| palindrome_lstm "))
  cells = [cell.strip() for cell in lstm.strip("|").split("|")]
  assert cells == ["palindrome_lstm", "0.999 ± 0.001; 600 ± 100 steps (3/3)", "0.700 ± 0.100; never (0/3)"]
  rnn = next(line for line in lines if line.startswith("| palindrome_rnn "))
  cells = [cell.strip() for cell in rnn.strip("|").split("|")]
  assert cells == ["palindrome_rnn", "0.950 ± 0.050; 2,500 ± 0 steps (1/3)", "running (step 500, eval accuracy 0.900)"]
  times = [line for line in lines if line.startswith("| palindrome_lstm ")][1]
  assert [cell.strip() for cell in times.strip("|").split("|")] == ["palindrome_lstm", "700 steps, 10 min",
                                                                    "3,000 steps, 2.0 h"]
  only = sweep.grid_report(tmp_path, rows="arg", columns="config", where=["config=palindrome_lstm"])
  assert "palindrome_rnn" not in only and "| 40 " in only


def test_two_points_in_one_cell_are_refused_naming_what_differs(tmp_path):
  for features in (64, 128):
    write_point(tmp_path, f"palindrome_lstm__model.features={features}", {"name": "x", "model": {"features": features}},
                finals(10, [1.0], [None]))
  with pytest.raises(SweepError, match="differ in model.features: pick it as --rows/--cols or filter with --where"):
    sweep.grid_report(tmp_path, rows="config", columns="name")
  with pytest.raises(SweepError, match="has no 'arg'"):
    sweep.grid_report(tmp_path, rows="config", columns="arg")
  (tmp_path / "empty").mkdir()
  with pytest.raises(SweepError, match="holds no runs"):
    sweep.grid_report(tmp_path / "empty")
  with pytest.raises(SweepError, match="no sweep directory"):
    sweep.grid_report(tmp_path / "missing")
