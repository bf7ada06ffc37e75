"""Tests for rnn_jax.run_outputs' console side: Progress (bar or lines) and ConsoleFormatter."""

import io
import logging as python_logging
import re
import sys

from absl import logging
import pytest

from rnn_jax import run_outputs


class FakeTerminal(io.StringIO):
  """A stderr that says it is a terminal and keeps everything written to it."""

  def isatty(self):
    return True


@pytest.fixture
def clock(monkeypatch):
  """Progress's clock: started at 100 s, first report at 110 s, then one value per call."""
  times = iter([100.0, 110.0, 1110.0])
  monkeypatch.setattr(run_outputs.time, "perf_counter", lambda: next(times))


def test_progress_rate_is_measured_since_the_previous_report(clock):
  progress = run_outputs.Progress(start_step=0, total_steps=1000)
  progress.started(1)
  assert progress.steps_per_second(21, now=110.0) == pytest.approx(2.0)
  progress.report(21, {"loss": 1.0})
  # A 1,000 s pause before the next report shows in that report alone (not averaged since start).
  assert progress.steps_per_second(41, now=1110.0) == pytest.approx(0.02)
  assert progress.steps_per_second(41, now=120.0) == pytest.approx(2.0)


def test_progress_without_a_terminal_logs_one_concise_line_per_report(clock, monkeypatch, caplog):
  stderr = io.StringIO()
  monkeypatch.setattr(sys, "stderr", stderr)
  progress = run_outputs.Progress(start_step=0, total_steps=1000)
  assert progress.bar is None
  progress.started(1)
  with caplog.at_level(python_logging.INFO):
    progress.report(21, {"loss": 0.69314, "accuracy": 0.5})  # 20 steps in 10 s
    progress.report(41, {"loss": 0.5})                       # 20 steps in 1,000 s
  progress.close()
  # ETA = (1000 - 21) / 2 steps/s = 489.5 s; then (1000 - 41) / 0.02 = 47,950 s.
  assert [r.getMessage() for r in caplog.records] == [
      "step 21/1000 | loss 0.6931 | accuracy 0.5 | 2.00 steps/s | ETA 8m09s",
      "step 41/1000 | loss 0.5 | 0.02 steps/s | ETA 13h19m",
  ]
  assert stderr.getvalue() == ""  # no bar drawn
  assert sys.stderr is stderr


def test_progress_on_a_terminal_draws_a_bar_and_prints_other_lines_above_it(clock, monkeypatch, caplog):
  terminal = FakeTerminal()
  monkeypatch.setattr(sys, "stderr", terminal)
  absl_handler = logging.get_absl_handler().python_handler
  monkeypatch.setattr(absl_handler, "stream", terminal)  # as absl holds the real stderr
  progress = run_outputs.Progress(start_step=0, total_steps=1000)
  assert sys.stderr is not terminal and absl_handler.stream is sys.stderr  # writes go through tqdm
  progress.started(1)
  with caplog.at_level(python_logging.INFO):
    progress.report(21, {"loss": 0.69314, "accuracy": 0.5})
  assert caplog.records == []  # the bar replaces the line
  drawn = terminal.getvalue()
  assert drawn.endswith("21/1000 steps [00:00, ETA 8m09s | 2.00 steps/s | loss 0.6931 | accuracy 0.5]")
  assert "compiling the training step" in drawn

  sys.stderr.write("eval at step 21")  # a line written in two parts is printed whole, above the bar
  assert terminal.getvalue() == drawn
  sys.stderr.write(": accuracy 0.61\nstarted")
  after = terminal.getvalue()[len(drawn):]
  line_start = after.index("eval at step 21: accuracy 0.61\n")
  assert after[:line_start].replace(" ", "") == "\r\r"  # the bar was blanked out first
  assert after[line_start:].endswith("accuracy 0.5]")   # and drawn again below the line

  progress.close()
  assert sys.stderr is terminal and absl_handler.stream is terminal
  assert terminal.getvalue().endswith("accuracy 0.5]\nstarted")  # bar left in place; partial line kept
  progress.close()  # a second close is harmless


def make_record(pathname, level=python_logging.INFO, msg="Training %d seeds", args=(3,), exc_info=None):
  return python_logging.LogRecord(name="absl", level=level, pathname=str(pathname), lineno=281,
                                  msg=msg, args=args, exc_info=exc_info)


ABSL_PREFIX = r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ "


def test_console_formatter_drops_the_prefix_of_own_info_lines_only(tmp_path):
  own, library = tmp_path / "repo" / "rnn_jax", tmp_path / "venv" / "site-packages" / "orbax"
  formatter = run_outputs.ConsoleFormatter([own, tmp_path / "repo" / "launch"])
  assert formatter.format(make_record(own / "train.py")) == "Training 3 seeds"
  assert formatter.format(make_record(tmp_path / "repo" / "launch" / "main.py")) == "Training 3 seeds"
  warning = formatter.format(make_record(own / "train.py", python_logging.WARNING, "disk %s", ("full",)))
  assert re.fullmatch(ABSL_PREFIX + r"train\.py:281\] disk full", warning)
  assert warning.startswith("W")
  error = formatter.format(make_record(own / "train.py", python_logging.ERROR, "boom", ()))
  assert re.fullmatch(ABSL_PREFIX + r"train\.py:281\] boom", error) and error.startswith("E")
  other = formatter.format(make_record(library / "checkpoint.py"))
  assert re.fullmatch(ABSL_PREFIX + r"checkpoint\.py:281\] Training 3 seeds", other)
  # A directory whose name merely starts like an own directory is not one.
  assert formatter.format(make_record(tmp_path / "repo" / "rnn_jax_old" / "x.py")).startswith("I")


def test_console_formatter_keeps_tracebacks_and_follows_symlinks(tmp_path):
  real = tmp_path / "real_rnn_jax"
  real.mkdir()
  (tmp_path / "link").symlink_to(real)
  formatter = run_outputs.ConsoleFormatter([tmp_path / "link"])
  assert formatter.format(make_record(real / "train.py")) == "Training 3 seeds"
  try:
    raise ValueError("bad value")
  except ValueError:
    record = make_record(real / "train.py", python_logging.ERROR, "failed", (), exc_info=sys.exc_info())
  text = formatter.format(record)
  assert text.startswith("E") and "failed\nTraceback (most recent call last):" in text
  assert text.endswith("ValueError: bad value")
