"""Errors a user can fix: the launcher prints their one-line message and exits non-zero (no traceback)."""


class UserError(Exception):
  """Base class: bad config, missing data, a diverged run. The message says what is wrong and what to do."""


class ConfigError(UserError, ValueError):
  """A config value is invalid (beyond what the locked ml_collections config already checks)."""


class TrainingError(UserError):
  """Training cannot go on (e.g. a non-finite loss); earlier checkpoints are intact."""
