"""Models built from the core layers: a sequence classifier and a (word or character) language model."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from rnn_jax import cells, layers, platform

Array = jax.Array


def symmetric_uniform(scale: float) -> nn.initializers.Initializer:
  """U(-scale, scale) for every element, whatever the shape (Zaremba et al.'s ``init_scale``)."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, minval=-scale, maxval=scale)

  return init


def spectral_radius(matrix: Array) -> Array:
  """``max |eigenvalue|`` of a square ``[n, n]`` matrix, as a float32 scalar, on every backend.

  The eigenvalues of a non-symmetric matrix come from NumPy on the host (``jax.pure_callback``):
  ``jnp.linalg.eig`` is not implemented on every backend (TPU has none), and a power iteration
  converges slowly, or not at all, when the largest eigenvalues are a complex pair of equal modulus
  -- the usual case for a random matrix. Computed in float64; called once per matrix at initialisation.
  """
  def host(m):
    return np.asarray(np.max(np.abs(np.linalg.eigvals(np.asarray(m, np.float64)))), np.float32)

  return jax.pure_callback(host, jax.ShapeDtypeStruct((), jnp.float32), matrix, vmap_method="sequential")


def with_spectral_radius(init: nn.initializers.Initializer, radius: float) -> nn.initializers.Initializer:
  """``init``, then the ``[n, n]`` matrix rescaled so that its spectral radius is ``radius``.

  An echo-state network's reservoir (Jaeger 2001): the radius sets how fast the state forgets its
  inputs (below 1 the echo of an input fades geometrically, as ``radius^t`` in the linear regime).
  For a fused gate kernel wrap the per-block init (``cells.stacked_init`` applies it per
  ``[n, n]`` gate block), so each block gets the radius.
  """
  if not radius > 0:
    raise ValueError(f"spectral radius must be > 0, got {radius!r}")

  def init_fn(key, shape, dtype=jnp.float32):
    if len(shape) != 2 or shape[0] != shape[1]:
      raise ValueError(f"a spectral radius needs a square matrix, got shape {tuple(shape)}")
    matrix = init(key, shape, dtype)
    rho = spectral_radius(matrix.astype(jnp.float32))
    return (matrix * jnp.where(rho > 0, radius / rho, 1.0).astype(dtype)).astype(dtype)

  return init_fn


INITIALIZERS = {
    "lecun_normal": nn.initializers.lecun_normal,
    "kaiming_normal": nn.initializers.kaiming_normal,  # He et al.; PyTorch's kaiming_normal_ (fan_in, gain sqrt 2)
    "glorot_uniform": nn.initializers.glorot_uniform,
    "orthogonal": nn.initializers.orthogonal,
}


def make_initializer(name: str) -> nn.initializers.Initializer:
  """An initializer by config name: one of ``INITIALIZERS`` or ``uniform:<scale>`` (symmetric)."""
  if name.startswith("uniform:"):
    return symmetric_uniform(float(name.split(":", 1)[1]))
  try:
    return INITIALIZERS[name]()
  except KeyError:
    raise ValueError(f"unknown initializer {name!r}; choose one of {sorted(INITIALIZERS)} "
                     "or 'uniform:<scale>'") from None


class SequenceClassifier(nn.Module):
  """Tokens -> embedding -> recurrent layer(s) -> final hidden state -> dense logits.

  The final state is ``h_T`` (for a bidirectional network ``[h_T(forward); h_1(backward)]``).

  Attributes:
    vocab_size: input symbols.
    num_classes: output classes.
    embed_dim: embedding width.
    cell_type, features, num_layers, bidirectional, cell_kwargs: see ``layers.StackedRNN``.
    kernel_init: config name of the initializer for every weight matrix (input, recurrent, output;
      see ``make_initializer``); biases start at zero.
    recurrent_spectral_radius: None (default), or the spectral radius every recurrent ``[n, n]``
      matrix (each gate block) is rescaled to after ``kernel_init`` (``with_spectral_radius``; the
      echo-state network's reservoir).
    choices: the run's ``platform.Choices`` (None: this machine's); see ``layers.StackedRNN``.

  Call: ``(tokens [batch, time], seq_lengths [batch] or None) -> logits [batch, classes]``. With
  ``seq_lengths`` (right padding) the final state is each sequence's own: ``h`` after its last
  valid element, and for the backward direction ``h`` after its first (``layers.RNNLayer``).
  """

  vocab_size: int
  num_classes: int
  embed_dim: int
  cell_type: str
  features: int
  num_layers: int = 1
  bidirectional: bool = False
  kernel_init: str = "lecun_normal"
  cell_kwargs: Any = None
  recurrent_spectral_radius: float | None = None
  choices: platform.Choices | None = None

  @nn.compact
  def __call__(self, tokens: Array, seq_lengths: Array | None = None) -> Array:
    init = make_initializer(self.kernel_init)
    x = nn.Embed(self.vocab_size, self.embed_dim, name="embed")(tokens)  # [batch, time, embed]
    cell_kwargs = {"kernel_init": init, "recurrent_kernel_init": init, **dict(self.cell_kwargs or {})}
    if self.recurrent_spectral_radius is not None:
      cell_kwargs["recurrent_kernel_init"] = with_spectral_radius(cell_kwargs["recurrent_kernel_init"],
                                                                  self.recurrent_spectral_radius)
    carries, _ = layers.StackedRNN(self.cell_type, self.features, num_layers=self.num_layers,
                                   bidirectional=self.bidirectional, cell_kwargs=cell_kwargs,
                                   choices=self.choices, name="rnn")(x, seq_lengths=seq_lengths)
    last = carries[-1]
    h = layers.bidirectional_final_hidden(last) if self.bidirectional else layers.final_hidden(last)
    return nn.Dense(self.num_classes, kernel_init=init, name="head")(h)  # [batch, classes]


def word_dropout_scale(key: Array, tokens: Array, vocab_size: int, rate: float) -> Array:
  """``[batch, time, 1]``: 0 for the tokens of dropped words, ``1 / (1 - rate)`` for the others.

  One Bernoulli draw per vocabulary entry (per call), so a dropped word is dropped at every
  position of the batch -- the same as zeroing its row of the embedding matrix.
  """
  keep = 1.0 - rate
  kept_words = jax.random.bernoulli(key, keep, (vocab_size,))  # [vocab]
  return (kept_words[tokens] / keep)[..., None]


class LanguageModel(nn.Module):
  """Next-token model: embedding -> stacked RNN -> softmax logits, with dropout where configured.

  Dropout (training only, RNG stream ``dropout``): ``word_dropout`` drops whole words -- rows of the
  input embedding matrix, one mask over the vocabulary per call, so every occurrence of a dropped
  word in the batch reads a zero vector and the kept rows are scaled by ``1 / (1 - rate)`` (Gal &
  Ghahramani 2016; with tied embeddings the output layer still uses the whole matrix).
  ``input_dropout`` / ``between_dropout`` / ``output_dropout`` / ``variational``: the embedding
  output, between the layers, the last layer's output; see ``layers.StackedRNN``.

  Attributes:
    vocab_size: tokens (words or characters).
    embed_dim: embedding width (must equal ``features`` when ``tie_embeddings``).
    cell_type, features, num_layers, cell_kwargs: ``layers.StackedRNN``.
    word_dropout, input_dropout, between_dropout, output_dropout, variational: dropout (above).
    init_scale: if set, *every* parameter starts U(-init_scale, init_scale) (Zaremba et al. use
      0.1 / 0.05 / 0.04 for small / medium / large); otherwise Flax's defaults.
    tie_embeddings: the output layer reuses the embedding matrix (plus its own bias).
    choices: the run's ``platform.Choices`` (None: this machine's); see ``layers.StackedRNN``.

  Call: ``(tokens [batch, time], carry=None, deterministic=True) -> (carry, logits [batch, time, vocab])``.
  The carry is one entry per layer and is passed from one window to the next for truncated BPTT.
  """

  vocab_size: int
  embed_dim: int
  cell_type: str
  features: int
  num_layers: int = 1
  word_dropout: float = 0.0
  input_dropout: float = 0.0
  between_dropout: float = 0.0
  output_dropout: float = 0.0
  variational: bool = False
  init_scale: float | None = None
  tie_embeddings: bool = False
  cell_kwargs: Any = None
  choices: platform.Choices | None = None

  def setup(self):
    if self.tie_embeddings and self.embed_dim != self.features:
      raise ValueError(f"tie_embeddings needs embed_dim == features, got {self.embed_dim} and {self.features}")
    if self.init_scale is not None:
      uniform = symmetric_uniform(self.init_scale)
      inits = {"kernel_init": uniform, "recurrent_kernel_init": uniform, "bias_init": uniform}
      embed_init, out_inits = uniform, {"kernel_init": uniform, "bias_init": uniform}
    else:
      inits, embed_init, out_inits = {}, nn.initializers.normal(1.0), {}
    self.embed = nn.Embed(self.vocab_size, self.embed_dim, embedding_init=embed_init)
    self.rnn = layers.StackedRNN(self.cell_type, self.features, num_layers=self.num_layers,
                                 input_dropout=self.input_dropout, between_dropout=self.between_dropout,
                                 output_dropout=self.output_dropout, variational=self.variational,
                                 cell_kwargs={**inits, **dict(self.cell_kwargs or {})}, choices=self.choices)
    if self.tie_embeddings:
      self.output_bias = self.param("output_bias", out_inits.get("bias_init", nn.initializers.zeros_init()),
                                    (self.vocab_size,))
    else:
      self.head = nn.Dense(self.vocab_size, **out_inits)

  def __call__(self, tokens: Array, carry=None, deterministic: bool = True):
    x = self.embed(tokens)  # [batch, time, embed]
    if self.word_dropout > 0.0 and not deterministic:
      x = x * word_dropout_scale(self.make_rng("dropout"), tokens, self.vocab_size, self.word_dropout).astype(x.dtype)
    carry, h = self.rnn(x, initial_carry=carry, deterministic=deterministic)  # h: [batch, time, features]
    if self.tie_embeddings:
      logits = self.embed.attend(h) + self.output_bias
    else:
      logits = self.head(h)
    return carry, logits  # [batch, time, vocab]

  @nn.nowrap
  def initialize_carry(self, batch_size: int):
    """Zero carries for every layer, the structure ``__call__`` takes and returns."""
    return layers.StackedRNN(self.cell_type, self.features, num_layers=self.num_layers,
                             cell_kwargs=self.cell_kwargs, parent=None).initialize_carry(batch_size)


def count_params(variables: Any) -> int:
  """Number of trainable parameters: the elements of the ``params`` collection (or of a bare pytree)."""
  params = variables.get("params", variables) if hasattr(variables, "get") else variables
  return sum(int(leaf.size) for leaf in jax.tree.leaves(params))


# --- neural n-gram language models: a fixed context of n - 1 words -> the next word ----------------

NGRAM_ACTIVATIONS = {"linear": lambda x: x, "tanh": jnp.tanh}


class NPLM(nn.Module):
  r"""Neural probabilistic language model (Bengio et al. 2003): embed, concatenate, hidden layer, softmax.

  .. math::
      x = [E_{w_1}; \dots; E_{w_{n-1}}] \in \mathbb{R}^{(n-1)D}, \quad
      h = \phi(W_h x + b_h), \quad \mathrm{logits} = W_o h + b_o

  One embedding matrix ``E`` (``[vocab, D]``) serves every context position; the position is told
  by where a vector sits in ``x``. ``phi`` is the identity (``linear``) or ``tanh``. Bengio et al.'s
  optional direct input-to-output weights are left out, as in the course's model. Parameters:
  ``V D + ((n-1) D + 1) H + (H + 1) V`` -- 1,166,272 at V = 8,000, D = 16, H = 128, n = 4, of which
  the softmax layer is 1,032,000.

  Attributes:
    vocab_size: V, the words of the context and of the prediction.
    embed_dim: D, default 16.
    features: H, hidden units, default 128.
    activation: ``linear`` (default) or ``tanh`` (``NGRAM_ACTIVATIONS``).

  Call: ``(context [batch, n-1] ids) -> logits [batch, vocab]``.

  Example::

    model = NPLM(vocab_size=8000)
    params = model.init(jax.random.key(0), jnp.zeros((1, 3), jnp.int32))
    logits = model.apply(params, context)
  """

  vocab_size: int
  embed_dim: int = 16
  features: int = 128
  activation: str = "linear"

  @nn.compact
  def __call__(self, context: Array) -> Array:
    try:
      phi = NGRAM_ACTIVATIONS[self.activation]
    except KeyError:
      raise ValueError(f"unknown activation {self.activation!r}; choose one of {sorted(NGRAM_ACTIVATIONS)}") from None
    e = nn.Embed(self.vocab_size, self.embed_dim, name="embed")(context)  # [batch, n-1, D]
    x = e.reshape(e.shape[0], -1)  # [batch, (n-1) D]
    h = phi(nn.Dense(self.features, name="hidden")(x))  # [batch, H]
    return nn.Dense(self.vocab_size, name="head")(h)  # [batch, vocab]


class NgramRNN(nn.Module):
  r"""An RNN over the n - 1 context words; its last state predicts the next word.

  .. math::
      h_t = \mathrm{cell}(h_{t-1}, E_{w_t}),\ h_0 = 0, \qquad \mathrm{logits} = W_o h_{n-1} + b_o

  ``bptt_truncation`` k lets the loss's gradient reach back only the last k steps (k = 1: the last
  word's step alone; see ``layers.RNNLayer``); None is full BPTT. Parameters with the default
  ``SimpleRNN``: ``V D + (D + 1) H + H^2 + (H + 1) V`` -- 1,178,560 at V = 8,000, D = 16, H = 128.

  Attributes:
    vocab_size: V.
    embed_dim: D, default 16.
    cell_type: ``rnn`` (default), ``lstm``, ``gru`` or ``peephole_lstm`` (``rnn_jax.cells.CELLS``).
    features: H, default 128.
    bptt_truncation: k >= 1 or None (full BPTT).
    cell_kwargs: extra cell attributes (initialisers, ``forget_bias``...).
    choices: the run's ``platform.Choices`` (None: this machine's); see ``layers.StackedRNN``.

  Call: ``(context [batch, n-1] ids) -> logits [batch, vocab]``.
  """

  vocab_size: int
  embed_dim: int = 16
  cell_type: str = "rnn"
  features: int = 128
  bptt_truncation: int | None = None
  cell_kwargs: Any = None
  choices: platform.Choices | None = None

  @nn.compact
  def __call__(self, context: Array) -> Array:
    x = nn.Embed(self.vocab_size, self.embed_dim, name="embed")(context)  # [batch, n-1, D]
    # parent=None: the layer adopts the cell, so its parameters read rnn/cell/...
    cell = cells.make_cell(self.cell_type, self.features, parent=None,
                           **layers.cell_kwargs_with_dtype(self.cell_kwargs, self.choices))
    carry, _ = layers.RNNLayer(cell, bptt_truncation=self.bptt_truncation, choices=self.choices, name="rnn")(x)
    return nn.Dense(self.vocab_size, name="head")(layers.final_hidden(carry))  # [batch, vocab]
