"""A trained language-model run read back from its workdir: model, vocabulary and one seed's parameters.

Used by ``launch/sample.py`` (and kept apart from ``rnn_jax.sampling``, which knows models, not tasks
or workdirs, so that the language-model task can use the sampler without an import cycle).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
from ml_collections import ConfigDict

from rnn_jax import checkpointing, models
from rnn_jax.sampling import SamplingError

CHECKPOINT_KINDS = ("best", "latest")


@dataclasses.dataclass
class LoadedRun:
  """One seed of a language-model run (``task`` ``chars`` or ``ptb``), ready to sample from."""
  model: models.LanguageModel
  params: Any
  vocab: list[str]
  config: Any
  seed: int
  step: int
  checkpoint: str


def load_run(workdir: str | Path, *, checkpoint: str = "best", seed: int | None = None) -> LoadedRun:
  """The model, vocabulary and one seed's parameters of the character-level run in ``workdir``.

  Reads ``config.json`` (to rebuild the model), ``vocab.json`` and the latest Orbax checkpoint in
  ``checkpoints/``; ``checkpoint="best"`` takes its best-by-validation parameters, ``"latest"``
  the parameters at that step. ``seed`` is one of ``config.seeds`` (default: the first).
  """
  from rnn_jax.tasks.language_model import WordLanguageModelTask  # tasks import TFDS only when built

  workdir = Path(workdir)
  if checkpoint not in CHECKPOINT_KINDS:
    raise SamplingError(f"checkpoint must be one of {CHECKPOINT_KINDS}, got {checkpoint!r}")
  config_path, vocab_path, ckpt_dir = workdir / "config.json", workdir / "vocab.json", workdir / "checkpoints"
  if not config_path.is_file():
    raise SamplingError(f"{workdir} has no config.json: not a training workdir (pass the --workdir of a run)")
  try:
    config = ConfigDict(json.loads(config_path.read_text()))
  except (ValueError, OSError) as e:
    raise SamplingError(f"cannot read {config_path}: {e}") from None
  if config.get("task") not in ("chars", "ptb"):
    raise SamplingError(f"{workdir} is a {config.get('task')!r} run, not a language model "
                        "(config.task 'chars' or 'ptb'); sampling needs one")
  if vocab_path.is_file():
    vocab = json.loads(vocab_path.read_text())
  elif config.task == "ptb":  # a run from before vocab.json was written: the corpus has the vocabulary
    from rnn_jax.data import ptb
    vocab = ptb.load_ptb(manual_dir=config.data.get("manual_dir") or None,
                         tfds_data_dir=config.data.get("tfds_dir") or None).vocab
  else:
    raise SamplingError(f"{workdir} has no vocab.json; it is written when a character run starts")
  seeds = [int(s) for s in config.seeds]
  seed = seeds[0] if seed is None else int(seed)
  if seed not in seeds:
    raise SamplingError(f"seed {seed} was not trained in {workdir}; its seeds are {tuple(seeds)}")

  step, saved = checkpointing.restore_latest_on_one_device(ckpt_dir)
  state = checkpointing.train_state(saved) if step is not None else None
  if step is None:
    raise SamplingError(f"{workdir} has no checkpoint in {ckpt_dir}; train it first (checkpoints are written "
                        "every config.checkpoint_every_steps and at the end)")
  key = "best_params" if checkpoint == "best" else "params"
  if key not in state:
    raise SamplingError(f"the checkpoint at step {step} in {ckpt_dir} has no {key!r}")
  index = seeds.index(seed)
  params = jax.tree.map(lambda a: np.asarray(a)[index], state[key])
  model = WordLanguageModelTask.build_model(config, len(vocab))
  return LoadedRun(model=model, params=params, vocab=vocab, config=config, seed=seed, step=int(step),
                   checkpoint=checkpoint)


