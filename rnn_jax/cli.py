"""Command-line helpers shared by the launch scripts: flag parsing whose errors are one line."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from absl import flags

from rnn_jax.errors import UserError


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing (pass as ``app.run(main, flags_parser=parse_flags)``); a bad flag, an unknown
  ``--config.<key>`` or a value of the wrong type exits with one line instead of a traceback."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f"error: {one_line(str(e))} (see --helpshort)")
  except (AttributeError, KeyError) as e:  # ml_collections: an override names a key the config lacks
    key = str(e).strip("'\"")
    flag = next((a.split("=")[0] for a in argv if a.startswith("--config.") and key in a), f"--config...{key}")
    sys.exit(f"error: the config has no field {key!r} ({flag}); check its spelling against the "
             "fields defined in the config file")


def one_line(message: str) -> str:
  """A flag error as one line: for a config file that failed to load, the flag and the last line of
  the error (e.g. ``ValueError: config argument 'banana' not understood: ...``), not its traceback."""
  lines = [line.strip() for line in message.splitlines() if line.strip()]
  if len(lines) <= 1:
    return message.strip()
  head = lines[0].split(": Error whilst parsing config file")[0].rstrip(":")
  return f"{head}: {lines[-1]}"


def require_writable(path: Path, flag: str = "--out") -> None:
  """Raise ``UserError`` unless directory ``path`` exists and is writable or could be created
  (checked before any work, so a bad ``flag`` costs nothing)."""
  for parent in (path, *path.parents):
    if parent.exists():
      if parent.is_dir() and os.access(parent, os.W_OK):
        return
      break
  raise UserError(f"cannot write to {flag} {path}; pass a writable directory")
