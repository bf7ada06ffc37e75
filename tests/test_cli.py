"""rnn_jax/cli.py: one-line flag errors and the writable-output check."""
import pytest

from rnn_jax import cli
from rnn_jax.errors import UserError


def test_one_line_keeps_the_flag_and_the_last_line_of_a_config_load_error():
  message = ("flag --config=experiments/palindrome_lstm.py:banana: Error whilst parsing config file:\n"
             "Traceback (most recent call last):\n  File ...\n"
             "ValueError: config argument 'banana' not understood")
  assert cli.one_line(message) == ("flag --config=experiments/palindrome_lstm.py:banana: "
                                   "ValueError: config argument 'banana' not understood")
  assert cli.one_line("  a single line  ") == "a single line"


def test_require_writable_accepts_a_folder_to_be_created(tmp_path):
  cli.require_writable(tmp_path / "not" / "yet" / "there")
  cli.require_writable(tmp_path)


def test_require_writable_refuses_a_path_through_a_file(tmp_path):
  a_file = tmp_path / "a_file"
  a_file.write_text("x")
  with pytest.raises(UserError, match=r"cannot write to --out .*a_file/sub; pass a writable directory"):
    cli.require_writable(a_file / "sub")
  with pytest.raises(UserError, match="--workdir"):
    cli.require_writable(a_file, flag="--workdir")
