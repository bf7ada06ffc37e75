"""Text generation from a ``models.LanguageModel`` (characters or words): greedy, temperature, top-k, prompts.

The sampler is one jitted program: the prompt is fed through the model once (its state carried
from character to character inside the model's own scan), then a ``lax.scan`` produces one
character per iteration, feeding it back as the next input together with the carried recurrent
state. The prefix is never recomputed, so a sample of ``n`` characters costs ``n`` single-step
model calls.

Temperature convention. We expose ``temperature`` T, which *divides* the logits:
``p(c) = softmax(logits / T)``. T = 1 samples from the model's distribution, T < 1 sharpens it,
T > 1 flattens it, T -> 0 tends to greedy decoding and ``T == 0`` *is* greedy (argmax, computed as
such, not as a division by zero); T = inf is uniform over the vocabulary (or over the top k).
The UvA course writes ``softmax(tau * x)`` instead, where larger tau is greedier; pass that as
``inverse_temperature`` tau. The two are the same family with ``tau = 1 / T``: tau = 1 is T = 1,
tau = 2 is T = 0.5, tau -> inf is greedy (T = 0), tau = 0 is uniform (T = inf). Give one or the
other, not both.

Top-k (``top_k = k > 0``): before sampling, logits below the k-th largest are set to -inf, so only
the k most likely characters can be drawn (all characters tied with the k-th are kept). It has
no effect on greedy decoding. ``top_k = 0`` is off.

Randomness: the token of step ``t`` (0-based, after the prompt) is drawn with
``jax.random.fold_in(key, t)``; rows of a batch draw independently from that key. So a key
determines the sample, and a longer sample with the same key extends a shorter one.

Prompts: a prompt of at least one character is required (the model has no start-of-text token);
every window in training also starts from a zero state at an arbitrary character of the book, so
sampling starts from the zero state too. Characters outside the run's vocabulary raise
``UnknownCharactersError`` naming them.

Word-level runs (PTB): the prompt is words separated by spaces (``encode_words``; a word outside the
vocabulary raises ``UnknownCharactersError`` naming it -- PTB writes rare words as ``<unk>``), and
``stop_id`` (the id of ``<eos>``) ends each sample of a batch independently: once a row has drawn
it, the row's later positions repeat it and ``generated_lengths`` counts up to and including it.

Public API: ``Sampler`` (the jitted sampler of one model), ``resolve_temperature``,
``next_token_probs``, ``encode``, ``encode_words``, ``decode``, ``generated_lengths``, ``complete`` and
``format_sample`` (one sample as a one-line quoted string, for Markdown files). A trained run's model,
vocabulary and parameters come from ``rnn_jax.trained_runs.load_run``.
"""
from __future__ import annotations

import json
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax import models
from rnn_jax.errors import UserError

Array = jax.Array


class SamplingError(UserError, ValueError):
  """Bad sampling arguments or a workdir we cannot sample from; the message is one line."""


class UnknownCharactersError(SamplingError):
  """A prompt holds characters the model's vocabulary does not have."""


# --- arguments -------------------------------------------------------------------------------------

def resolve_temperature(temperature: float | None = None, inverse_temperature: float | None = None) -> float:
  """The temperature T that divides the logits, from T or from the course's ``tau = 1 / T``.

  Returns a float in ``[0, inf]``: 0 = greedy, inf = uniform. Neither given: T = 1.
  """
  if temperature is not None and inverse_temperature is not None:
    raise SamplingError("give temperature or inverse_temperature, not both (inverse_temperature = 1 / temperature)")
  if inverse_temperature is not None:
    tau = float(inverse_temperature)
    if math.isnan(tau) or tau < 0:
      raise SamplingError(f"inverse_temperature must be >= 0 (inf = greedy, 0 = uniform), got {inverse_temperature}")
    return 0.0 if math.isinf(tau) else (math.inf if tau == 0 else 1.0 / tau)
  t = 1.0 if temperature is None else float(temperature)
  if math.isnan(t) or t < 0:
    raise SamplingError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
  return t


def _check_top_k(top_k: int | None) -> int:
  k = 0 if top_k is None else top_k
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
    raise SamplingError(f"top_k must be an int >= 0 (0 = off), got {top_k!r}")
  return int(k)


# --- one step's choice -------------------------------------------------------------------------------

def _mask_top_k(logits: Array, top_k: Array) -> Array:
  """Logits below the k-th largest (per row) set to -inf; ``top_k <= 0`` or ``>= vocab``: unchanged."""
  vocab = logits.shape[-1]
  kth = jnp.take(jnp.sort(logits, axis=-1), jnp.clip(vocab - top_k, 0, vocab - 1), axis=-1)[..., None]
  active = (top_k > 0) & (top_k < vocab)
  return jnp.where(active & (logits < kth), -jnp.inf, logits)


def _scaled_logits(logits: Array, temperature: Array, top_k: Array) -> Array:
  """``logits / T`` (T > 0; for T = 0 the division is skipped: that case is greedy), top-k applied."""
  scaled = logits / jnp.where(temperature > 0, temperature, 1.0).astype(logits.dtype)
  return _mask_top_k(scaled, top_k)


def next_token_probs(logits: Array, temperature: float | None = None, *, inverse_temperature: float | None = None,
                     top_k: int | None = 0) -> Array:
  """The distribution the sampler draws from, ``softmax(logits / T)`` after top-k (one-hot for T = 0)."""
  t = resolve_temperature(temperature, inverse_temperature)
  k = _check_top_k(top_k)
  logits = jnp.asarray(logits, jnp.float32)
  if t == 0:
    return jax.nn.one_hot(jnp.argmax(logits, -1), logits.shape[-1], dtype=logits.dtype)
  return jax.nn.softmax(_scaled_logits(logits, jnp.float32(t), jnp.int32(k)), axis=-1)


def _choose(logits: Array, key: Array, temperature: Array, top_k: Array) -> Array:
  greedy = jnp.argmax(logits, axis=-1)
  drawn = jax.random.categorical(key, _scaled_logits(logits, temperature, top_k), axis=-1)
  return jnp.where(temperature > 0, drawn, greedy).astype(jnp.int32)


# --- the sampler -------------------------------------------------------------------------------------

class Sampler:
  """The jitted sampler of one model (compiled once per prompt shape and sample length).

  ``Sampler(model)(params, prompt_ids [batch, prompt_len], length, key, temperature=..., top_k=...)``
  returns the ``length`` generated ids ``[batch, length]`` (NumPy, without the prompt). With
  ``return_logits=True`` it also returns the raw (unscaled) logits each id was drawn from,
  ``[batch, length, vocab]``: step ``t``'s logits are the model's prediction after the prompt and
  the first ``t`` generated ids. Temperature and top-k are traced, so changing them does not
  recompile.
  """

  def __init__(self, model: models.LanguageModel):
    self.model = model
    self._run = jax.jit(self._generate, static_argnames=("length",))

  def _generate(self, params, prompt_ids, key, temperature, top_k, stop_id, *, length: int):
    apply = lambda tokens, carry: self.model.apply({"params": params}, tokens, carry)
    carry, logits = apply(prompt_ids, None)  # the whole prompt once, from a zero state

    def step(state, t):
      carry, last_logits, stopped = state
      token = _choose(last_logits, jax.random.fold_in(key, t), temperature, top_k)
      token = jnp.where(stopped, stop_id, token)  # a finished row repeats its stop token
      carry, logits = apply(token[:, None], carry)
      return (carry, logits[:, 0], stopped | (token == stop_id)), (token, last_logits)

    stopped = jnp.zeros(prompt_ids.shape[0], bool)
    _, (tokens, step_logits) = jax.lax.scan(step, (carry, logits[:, -1], stopped), jnp.arange(length))
    return tokens.T, jnp.swapaxes(step_logits, 0, 1)  # [batch, length], [batch, length, vocab]

  def __call__(self, params, prompt_ids, length: int, key: Array, *, temperature: float | None = None,
               inverse_temperature: float | None = None, top_k: int | None = 0, return_logits: bool = False,
               stop_id: int | None = None):
    t = resolve_temperature(temperature, inverse_temperature)
    k = _check_top_k(top_k)
    prompt_ids = np.asarray(prompt_ids, np.int32)
    if prompt_ids.ndim != 2 or prompt_ids.shape[1] < 1:
      raise SamplingError(f"prompt_ids must be [batch, prompt_len >= 1], got shape {prompt_ids.shape}")
    if not (isinstance(length, (int, np.integer)) and length >= 0):
      raise SamplingError(f"length must be an int >= 0, got {length!r}")
    if prompt_ids.size and (prompt_ids.min() < 0 or prompt_ids.max() >= self.model.vocab_size):
      raise SamplingError(f"prompt ids must lie in [0, {self.model.vocab_size})")
    stop = -1 if stop_id is None else int(stop_id)  # -1: no id matches, nothing stops
    tokens, logits = self._run(params, prompt_ids, key, jnp.float32(t), jnp.int32(k), jnp.int32(stop),
                               length=int(length))
    tokens = np.asarray(tokens)
    return (tokens, np.asarray(logits)) if return_logits else tokens


# --- text --------------------------------------------------------------------------------------------

def encode(text: str, vocab: Sequence[str]) -> np.ndarray:
  """Character ids of ``text`` (1-D int32); characters outside ``vocab`` raise ``UnknownCharactersError``."""
  index = {c: i for i, c in enumerate(vocab)}
  unknown = sorted({c for c in text if c not in index})
  if unknown:
    names = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in unknown)
    raise UnknownCharactersError(f"the prompt has {len(unknown)} character(s) not in the run's vocabulary of "
                                 f"{len(vocab)}: {names}")
  return np.array([index[c] for c in text], np.int32)


def encode_words(text: str, vocab: Sequence[str]) -> np.ndarray:
  """Word ids of ``text`` split on whitespace; words outside ``vocab`` raise ``UnknownCharactersError`` naming them."""
  index = {w: i for i, w in enumerate(vocab)}
  words = text.split()
  unknown = sorted({w for w in words if w not in index})
  if unknown:
    hint = " (rare words are written <unk> in this corpus)" if "<unk>" in index else ""
    raise UnknownCharactersError(f"the prompt has {len(unknown)} word(s) not in the run's vocabulary of "
                                 f"{len(vocab)}: {', '.join(map(repr, unknown))}{hint}")
  return np.array([index[w] for w in words], np.int32)


def generated_lengths(tokens, stop_id: int | None) -> np.ndarray:
  """Per row of ``tokens [batch, length]``: the generated ids up to and including the first ``stop_id``."""
  tokens = np.asarray(tokens)
  if stop_id is None:
    return np.full(tokens.shape[0], tokens.shape[1])
  hit = tokens == stop_id
  return np.where(hit.any(1), hit.argmax(1) + 1, tokens.shape[1])


def decode(ids, vocab: Sequence[str]) -> str:
  return "".join(vocab[i] for i in np.asarray(ids).reshape(-1).tolist())


def complete(sampler: Sampler, params, vocab: Sequence[str], prompt: str, length: int, key: Array,
             **sampling) -> str:
  """``prompt`` followed by ``length`` generated characters (``sampling``: temperature, top_k, ...)."""
  if not prompt:
    raise SamplingError("the prompt must have at least one character (the model has no start-of-text token)")
  ids = encode(prompt, vocab)
  return prompt + decode(sampler(params, ids[None, :], length, key, **sampling)[0], vocab)


def format_sample(text: str) -> str:
  """A sample on one line, quoted, with newlines and quotes escaped as JSON strings are."""
  return json.dumps(text, ensure_ascii=False)
