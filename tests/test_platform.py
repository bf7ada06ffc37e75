"""Per-platform choices: the defaults per platform, overrides from a mapping or a config, and their users."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import palindrome_lstm, ptb_lstm
from rnn_jax import cells, layers, models, platform, seed_mesh, train
from rnn_jax.errors import ConfigError


def test_each_platform_gets_its_defaults():
  cpu = platform.resolve_choices(backend="cpu")
  assert (cpu.platform, cpu.rnn_implementation, cpu.hoist_inputs, cpu.seed_batching, cpu.matmul_dtype) == (
      "cpu", "fused", False, "sequential", "float32")
  for name, expected in (("gpu", "gpu"), ("cuda", "gpu"), ("rocm", "gpu"), ("tpu", "tpu")):
    accel = platform.resolve_choices(backend=name)
    assert (accel.platform, accel.rnn_implementation, accel.hoist_inputs, accel.seed_batching,
            accel.matmul_dtype) == (expected, "fused", True, "vmap", "float32")
  assert cpu.explicit == () and cpu.cell_dtype is None
  # No backend given: the one probe, JAX's default backend (the tests run on CPU).
  assert platform.resolve_choices() == platform.resolve_choices(backend=jax.default_backend())


def test_overrides_win_and_are_recorded_auto_and_none_leave_the_platform_choice():
  choices = platform.resolve_choices({"hoist_inputs": True, "seed_batching": "auto", "rnn_implementation": None,
                                      "matmul_dtype": "bfloat16"}, backend="cpu")
  assert (choices.hoist_inputs, choices.seed_batching, choices.rnn_implementation, choices.matmul_dtype) == (
      True, "sequential", "fused", "bfloat16")
  assert choices.explicit == ("hoist_inputs", "matmul_dtype") and choices.cell_dtype == "bfloat16"
  gpu = platform.resolve_choices({"hoist_inputs": False, "seed_batching": "sequential",
                                  "rnn_implementation": "scan"}, backend="gpu")
  assert (gpu.hoist_inputs, gpu.seed_batching, gpu.rnn_implementation) == (False, "sequential", "scan")
  assert "hoist_inputs=False (set)" in gpu.describe() and gpu.describe().startswith("gpu: ")
  assert json.loads(json.dumps(gpu.as_dict()))["explicit"] == ["rnn_implementation", "hoist_inputs", "seed_batching"]


@pytest.mark.parametrize("field,value,message", [
    ("rnn_implementation", "cudnn", "config.rnn_implementation 'cudnn' is not one of auto, fused, scan"),
    ("hoist_inputs", "yes", "config.hoist_inputs must be True, False or unset"),
    ("seed_batching", "batched", "config.seed_batching 'batched' is not one of"),
    ("matmul_dtype", "float16", "config.matmul_dtype 'float16' is not one of auto, float32, bfloat16"),
])
def test_an_invalid_override_is_a_one_line_config_error(field, value, message):
  with pytest.raises(ConfigError, match=message):
    platform.resolve_choices({field: value}, backend="cpu")


def test_a_config_carries_the_choices_unset_and_overridable():
  config = ptb_lstm.get_config()
  assert [config[f] for f in platform.CHOICE_FIELDS] == [None, None, "auto", None]
  assert platform.resolve_choices(config, backend="tpu") == platform.resolve_choices(backend="tpu")
  config.rnn_implementation, config.hoist_inputs = "scan", True
  choices = platform.resolve_choices(config, backend="cpu")
  assert (choices.rnn_implementation, choices.hoist_inputs, choices.explicit) == (
      "scan", True, ("rnn_implementation", "hoist_inputs"))


def test_a_run_started_before_the_choice_fields_existed_still_resumes(tmp_path):
  """The new config fields default to None, an off value (train._OFF_VALUES), so the workdir check passes."""
  config = palindrome_lstm.get_config("smoke")
  old = json.loads(config.to_json_best_effort())
  for field in ("rnn_implementation", "hoist_inputs", "matmul_dtype"):
    del old[field]
  (tmp_path / "config.json").write_text(json.dumps(old))
  train.prepare_workdir(tmp_path, config, is_writer=False)
  config.hoist_inputs = True  # how the layer runs, not what it computes: a resume may change it
  train.prepare_workdir(tmp_path, config, is_writer=False)
  config.matmul_dtype = "bfloat16"  # changes the numbers: a different config
  with pytest.raises(ConfigError, match="differs in matmul_dtype"):
    train.prepare_workdir(tmp_path, config, is_writer=False)


def test_seed_mesh_auto_is_the_platforms_choice():
  cpu = jax.devices("cpu")
  assert seed_mesh.SeedMesh.create((0, 1, 2), cpu[:1], "auto").batching == "sequential"
  assert seed_mesh.SeedMesh.create((0, 1, 2), cpu[:1], "vmap").batching == "vmap"


def test_layers_follow_the_choices_they_are_given():
  lstm = cells.LSTM(4)
  assert layers.RNNLayer(lstm)._use_fused() and not layers.RNNLayer(lstm)._hoist_inputs()  # CPU defaults
  gpu = platform.resolve_choices(backend="gpu")
  assert layers.RNNLayer(lstm, choices=gpu)._hoist_inputs()
  assert not layers.RNNLayer(lstm, choices=gpu, hoist_inputs=False)._hoist_inputs()  # the layer's own setting wins
  scan = platform.resolve_choices({"rnn_implementation": "scan"}, backend="gpu")
  assert not layers.RNNLayer(lstm, choices=scan)._use_fused()
  fused = platform.resolve_choices({"rnn_implementation": "fused"}, backend="cpu")
  assert not layers.RNNLayer(cells.SimpleRNN(4), choices=platform.resolve_choices(backend="cpu"))._use_fused()
  with pytest.raises(ValueError, match="SimpleRNN has no fused loop"):  # asked for explicitly: an error
    layers.RNNLayer(cells.SimpleRNN(4), choices=fused)._use_fused()


def test_the_choices_give_the_same_function_and_bfloat16_only_in_the_cells():
  """CPU and GPU choices (hoisted or not) and scan agree; matmul_dtype reaches every cell's dtype."""
  tokens = jax.random.randint(jax.random.key(0), (3, 7), 0, 11)
  make = lambda choices: models.LanguageModel(vocab_size=11, embed_dim=6, cell_type="gru", features=6,  # noqa: E731
                                              num_layers=2, choices=choices)
  params = make(None).init(jax.random.key(1), tokens)["params"]
  reference = make(platform.resolve_choices(backend="cpu")).apply({"params": params}, tokens)[1]
  for overrides, backend in (({}, "gpu"), ({"rnn_implementation": "scan"}, "cpu")):
    other = make(platform.resolve_choices(overrides, backend=backend)).apply({"params": params}, tokens)[1]
    np.testing.assert_allclose(other, reference, rtol=1e-5, atol=1e-6)
  bf16 = platform.resolve_choices({"matmul_dtype": "bfloat16"}, backend="cpu")
  assert layers.cell_kwargs_with_dtype({"reset_after": True}, bf16) == {"reset_after": True, "dtype": "bfloat16"}
  assert layers.cell_kwargs_with_dtype({"dtype": jnp.bfloat16}, bf16)["dtype"] == jnp.bfloat16
  with pytest.raises(ValueError, match="contradicts matmul_dtype bfloat16"):
    layers.cell_kwargs_with_dtype({"dtype": jnp.float32}, bf16)
  low = make(bf16).apply({"params": params}, tokens)[1]
  assert low.dtype == jnp.float32 and not np.allclose(low, reference, rtol=1e-6, atol=0)
  np.testing.assert_allclose(low, reference, rtol=0.05, atol=0.05)


def test_a_task_hands_its_configs_choices_to_the_model():
  config = palindrome_lstm.get_config("smoke")
  config.rnn_implementation = "scan"
  task = train.make_task(config)
  assert task.model.choices == platform.resolve_choices(config)
  assert task.model.choices.rnn_implementation == "scan"


def test_a_bad_choice_fails_before_anything_is_written(tmp_path):
  config = palindrome_lstm.get_config("smoke")
  config.rnn_implementation = "cudnn"
  with pytest.raises(ConfigError, match="config.rnn_implementation 'cudnn' is not one of auto, fused, scan"):
    train.train_and_evaluate(config, tmp_path / "run")
  assert not (tmp_path / "run").exists()


_MALLOC_PROBE = """
import ctypes, resource, sys
from rnn_jax import platform
mode = platform.keep_host_buffers()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 100 << 20  # over glibc's largest mmap threshold (32 MiB), like XLA's per-step temporaries
def touch_and_free():
  p = libc.malloc(size)
  ctypes.memset(p, 1, size)
  libc.free(p)
touch_and_free()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
  touch_and_free()
print(mode, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 4)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
@pytest.mark.parametrize("setting", ["tuned", "default"])
def test_keep_host_buffers_stops_per_call_page_faults(setting):
  # 100 MiB freed and allocated again: glibc's default munmaps and maps it each time (~25,600 faults
  # of 4 KiB pages per round); tuned, the memory stays in the heap and is reused without a fault.
  env = {**os.environ, platform.HOST_MALLOC_ENV: setting}
  out = subprocess.run([sys.executable, "-c", _MALLOC_PROBE], capture_output=True, text=True, env=env,
                       check=True).stdout.split()
  mode, faults = out[0], int(out[1])
  assert mode == setting
  if setting == "tuned":
    assert faults < 500
  else:
    assert faults > 20_000
