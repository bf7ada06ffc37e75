"""Per-platform execution choices, decided in one place: ``resolve_choices(overrides, backend) -> Choices``.

How the suite runs (never *what* it computes, except ``matmul_dtype``) depends on the machine. This
module is the only place that knows what each platform gets, and ``platform_name()`` is the only
platform probe. Every choice can be set explicitly -- a config field of the same name, or a mapping
passed to ``resolve_choices`` -- and ``None`` or ``"auto"`` means the platform's choice:

======================  ===========  ===========  ==========================================================
choice (config field)   cpu          gpu / tpu    why
======================  ===========  ===========  ==========================================================
``rnn_implementation``  ``fused``    ``fused``    the hand-differentiated loop (``rnn_jax.cells``): fewer
                                                  residuals, weight gradients as one matmul after the loop;
                                                  measured 13-26% faster than autodiff through ``nn.scan``
                                                  on CPU; on accelerators reasoned (cuDNN's layout), not
                                                  measured. Cells without a fused loop always run ``scan``.
``hoist_inputs``        ``False``    ``True``     input projection of all steps as one matmul before the
                                                  loop: slower on CPU (measured, the ``[time, batch,
                                                  blocks*n]`` buffer's memory traffic), the usual win on
                                                  accelerators (reasoned).
``seed_batching``       sequential   ``vmap``     several seeds on one device: XLA:CPU runs batched matmuls
                                                  below its GEMM speed (measured 19-27% slower), an
                                                  accelerator needs the batch to stay busy (reasoned).
``matmul_dtype``        float32      float32      the recurrent cells' matmul operands. bfloat16 changes the
                                                  numbers, so it is never chosen implicitly: a result must
                                                  not depend on the machine it ran on. The recurrent state
                                                  and the gate math stay float32 either way.
======================  ===========  ===========  ==========================================================

Host memory, the same on every platform: ``keep_host_buffers()`` stops glibc from returning XLA's
per-step temporary buffers to the OS (measured: 68,500 page faults per palindrome step otherwise); the
training entry point and the benchmark harness call it, ``RNN_JAX_HOST_MALLOC=default`` opts out.

Who uses which: ``rnn_jax.layers.RNNLayer`` (implementation, hoisting), ``rnn_jax.layers.StackedRNN`` and
``models.NgramRNN`` (the cells' dtype), ``rnn_jax.seed_mesh.SeedMesh`` (seed batching). A task resolves the
config's choices once (``resolve_choices(config)``) and hands the ``Choices`` to its model; a layer built
without them resolves the platform's defaults itself, through the same function.

Usage::

  choices = resolve_choices(config)                                  # this machine, config overrides
  choices = resolve_choices({"hoist_inputs": True}, backend="cpu")   # what a CPU run would do
"""
from __future__ import annotations

import ctypes
import dataclasses
import os
from typing import Any, Mapping

import jax

from rnn_jax.errors import ConfigError

AUTO = "auto"
RNN_IMPLEMENTATIONS = (AUTO, "fused", "scan")
SEED_BATCHINGS = (AUTO, "vmap", "sequential")
MATMUL_DTYPES = (AUTO, "float32", "bfloat16")
#: the choices, in the order ``Choices`` lists them; each is also the name of its config field
CHOICE_FIELDS = ("rnn_implementation", "hoist_inputs", "seed_batching", "matmul_dtype")

#: what ``auto`` means per platform (the table in the module docstring); "accelerator" = gpu, tpu and any other
_DEFAULTS = {
    "cpu": {"rnn_implementation": "fused", "hoist_inputs": False, "seed_batching": "sequential",
            "matmul_dtype": "float32"},
    "accelerator": {"rnn_implementation": "fused", "hoist_inputs": True, "seed_batching": "vmap",
                    "matmul_dtype": "float32"},
}
_GPU_NAMES = ("gpu", "cuda", "rocm")


def platform_name(name: str | None = None) -> str:
  """The platform: ``name`` normalised (``cuda``/``rocm`` -> ``gpu``), or, when None, JAX's default backend.

  The one platform probe of the suite; pass a device's ``platform`` to ask about that device instead.
  """
  if name is None:
    name = jax.default_backend()
  name = str(name).lower()
  return "gpu" if name in _GPU_NAMES else name


@dataclasses.dataclass(frozen=True)
class Choices:
  """The resolved choices (module docstring); hashable, so a Flax module can hold it as an attribute.

  Attributes:
    platform: ``cpu``, ``gpu``, ``tpu`` (``platform_name()``).
    rnn_implementation: ``fused`` or ``scan``: what an ``RNNLayer`` with ``implementation='auto'`` runs
      for a cell that has a fused loop.
    hoist_inputs: the fused loop computes the input path before the loop.
    seed_batching: several seeds on one device run ``vmap``-ped or ``sequential``.
    matmul_dtype: ``float32`` or ``bfloat16``, the recurrent cells' matmul operands.
    explicit: the choices that were set explicitly rather than by the platform.
  """

  platform: str
  rnn_implementation: str
  hoist_inputs: bool
  seed_batching: str
  matmul_dtype: str
  explicit: tuple[str, ...] = ()

  @property
  def cell_dtype(self) -> str | None:
    """The cells' ``dtype`` attribute: None (float32, the parameters' dtype) or ``"bfloat16"``."""
    return None if self.matmul_dtype == "float32" else self.matmul_dtype

  def as_dict(self) -> dict[str, Any]:
    """The choices, with ``explicit`` as a list (JSON-ready)."""
    return {**dataclasses.asdict(self), "explicit": list(self.explicit)}

  def describe(self) -> str:
    """One line, e.g. ``gpu: rnn_implementation=fused, hoist_inputs=True (set), ...``."""
    parts = [f"{f}={getattr(self, f)}" + (" (set)" if f in self.explicit else "") for f in CHOICE_FIELDS]
    return f"{self.platform}: " + ", ".join(parts)


def _requested(overrides: Any, field: str) -> Any:
  """The override of ``field`` in a config / mapping (missing -> None)."""
  if overrides is None:
    return None
  return overrides.get(field)


def _checked(field: str, value: Any) -> Any:
  """``value`` if it is a valid explicit setting of ``field``, None for auto; ConfigError otherwise."""
  if value is None or value == AUTO:
    return None
  if field == "hoist_inputs":
    if isinstance(value, bool):
      return value
    raise ConfigError(f"config.hoist_inputs must be True, False or unset (auto: per platform), got {value!r}; "
                      "e.g. --config.hoist_inputs=True")
  allowed = {"rnn_implementation": RNN_IMPLEMENTATIONS, "seed_batching": SEED_BATCHINGS,
             "matmul_dtype": MATMUL_DTYPES}[field]
  if value not in allowed:
    raise ConfigError(f"config.{field} {value!r} is not one of {', '.join(allowed)}; "
                      f"e.g. --config.{field}={allowed[1]}")
  return value


def resolve_choices(overrides: Mapping[str, Any] | Any | None = None, backend: str | None = None) -> Choices:
  """The execution choices on ``backend`` (a platform name; None: this machine's, ``platform_name()``).

  ``overrides``: a config (``ConfigDict``; its fields ``rnn_implementation``, ``hoist_inputs``,
  ``seed_batching``, ``matmul_dtype`` are read where it has them) or a mapping with some of those keys;
  a missing key, None or ``"auto"`` leaves that choice to the platform. Raises ``ConfigError`` (one
  line naming the field) for an invalid value.
  """
  platform = platform_name(backend)
  defaults = _DEFAULTS["cpu" if platform == "cpu" else "accelerator"]
  values, explicit = {}, []
  for field in CHOICE_FIELDS:
    value = _checked(field, _requested(overrides, field))
    if value is None:
      values[field] = defaults[field]
    else:
      values[field] = value
      explicit.append(field)
  return Choices(platform=platform, explicit=tuple(explicit), **values)


# --- host memory -------------------------------------------------------------------------------------

#: ``RNN_JAX_HOST_MALLOC=default`` leaves glibc's allocator as it is (to measure the difference)
HOST_MALLOC_ENV = "RNN_JAX_HOST_MALLOC"
# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -2, -4, -8
_MALLOPT = ((_M_MMAP_MAX, 0), (_M_ARENA_MAX, 1), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 64 << 20))


def keep_host_buffers() -> str:
  """Make glibc keep freed host memory for reuse instead of returning it to the OS after every step.

  XLA:CPU allocates a compiled program's temporaries with ``malloc``, as one buffer per call (280 MB
  for the palindrome T = 20 training step). glibc serves a request over 32 MiB with a fresh ``mmap``
  and ``munmap``s it on ``free``, so every step page-faults the whole buffer in again (measured with
  ``strace``: one 280 MB mmap/munmap pair per palindrome step, 68,500 minor faults; 9,900 per PTB
  small step). Set once per process through ``mallopt``: no ``mmap`` for allocations, one arena (a
  thread's arena holds at most 64 MiB and returns memory with ``madvise``), keep up to 1 GiB of free
  memory at the top of the heap, grow it 64 MiB at a time. The cost: freed memory stays with the
  process (peak RSS measured +5-25%). Applies to everything in the process, PyTorch included.

  The same call for every platform (host buffers exist everywhere); a no-op where glibc is absent.
  Returns ``"tuned"``, ``"default"`` (``RNN_JAX_HOST_MALLOC=default``) or ``"unavailable"``.
  """
  if os.environ.get(HOST_MALLOC_ENV, "").lower() == "default":
    return "default"
  try:
    libc = ctypes.CDLL("libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return "unavailable"
  ok = [mallopt(param, value) for param, value in _MALLOPT]
  return "tuned" if all(ok) else "unavailable"
