"""Echo-state network (issue 16 B): the reservoir's spectral radius, frozen input and recurrent weights."""
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import models, train
from rnn_jax.errors import ConfigError


def esn_config(arg="smoke", **overrides):
  c = importlib.import_module("experiments.palindrome_esn").get_config(arg)
  c.update(overrides)
  return c


def leaf(tree, path):
  for key in path.split("/"):
    tree = tree[key]
  return np.asarray(tree)


def radius(matrix):
  return np.max(np.abs(np.linalg.eigvals(np.asarray(matrix, np.float64))))


@pytest.mark.parametrize("configured, batching", [(0.9, "auto"), (0.5, "vmap"), (1.3, "sequential")])
def test_every_seeds_recurrent_matrix_has_the_configured_spectral_radius(configured, batching):
  # max_devices=1: the three seeds share a device, batched as an accelerator would (vmap) or not.
  config = esn_config(seeds=(0, 1, 2), max_devices=1, seed_batching=batching)
  config.model.recurrent_spectral_radius = configured
  steps = train.make_steps(config, train.make_task(config))
  params = steps.init(steps.mesh.seed_array())["params"]
  kernels = leaf(params, "rnn/layer_0/cell/recurrent_kernel")  # [seeds, n, n]
  assert kernels.shape == (3, 8, 8)
  for kernel in kernels:
    np.testing.assert_allclose(radius(kernel), configured, rtol=1e-5)
  assert not np.array_equal(kernels[0], kernels[1])  # each seed its own reservoir


def test_spectral_radius_init_rescales_each_gate_block_and_keeps_the_direction():
  base = models.make_initializer("kaiming_normal")
  key = jax.random.key(3)
  plain = base(key, (16, 16))
  scaled = models.with_spectral_radius(base, 0.7)(key, (16, 16))
  np.testing.assert_allclose(radius(scaled), 0.7, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(scaled), np.asarray(plain) * 0.7 / radius(plain), rtol=1e-5, atol=1e-7)
  from rnn_jax import cells
  fused = cells.stacked_init(models.with_spectral_radius(base, 0.7), 4)(key, (16, 64))  # an LSTM's 4 gates
  for block in np.split(np.asarray(fused), 4, axis=1):
    np.testing.assert_allclose(radius(block), 0.7, rtol=1e-5)
  with pytest.raises(ValueError, match="square"):
    models.with_spectral_radius(base, 0.7)(key, (16, 8))
  assert float(jax.jit(models.spectral_radius)(jnp.diag(jnp.array([0.5, -2.0, 1.0])))) == 2.0


def test_only_the_readout_trains_the_reservoir_and_its_inputs_stay_bit_identical(tmp_path):
  import orbax.checkpoint as ocp
  config = esn_config(num_train_steps=6)
  train.train_and_evaluate(config, tmp_path)
  trained = ocp.CheckpointManager(tmp_path / "checkpoints").restore(6)["state"]
  steps = train.make_steps(config, train.make_task(config))
  initial = steps.init(steps.mesh.seed_array())
  frozen = ("embed/embedding", "rnn/layer_0/cell/x_proj/kernel", "rnn/layer_0/cell/x_proj/bias",
            "rnn/layer_0/cell/recurrent_kernel")
  for path in frozen:
    np.testing.assert_array_equal(leaf(trained["params"], path), leaf(initial["params"], path), err_msg=path)
  for path in ("head/kernel", "head/bias"):
    assert not np.array_equal(leaf(trained["params"], path), leaf(initial["params"], path)), path
  # Adam's moments exist for the readout only.
  moment_sizes = sorted(np.size(x) // len(config.seeds) for x in jax.tree.leaves(trained["opt_state"]) if np.ndim(x) > 1)
  head = 8 * 2 + 2
  assert sum(moment_sizes) == 2 * head


@pytest.mark.parametrize("value", [-0.9, 0.0])
def test_a_radius_that_is_not_positive_is_one_line_before_anything_is_written(value, tmp_path):
  config = esn_config()
  config.model.recurrent_spectral_radius = value
  with pytest.raises(ConfigError) as error:
    train.train_and_evaluate(config, tmp_path / "run")
  assert str(error.value).startswith("config.model.recurrent_spectral_radius must be a positive number")
  assert "\n" not in str(error.value)
  assert not (tmp_path / "run").exists()


def test_the_esn_config_differs_from_the_simple_rnn_only_where_it_says():
  esn, rnn = esn_config("10"), importlib.import_module("experiments.palindrome_rnn").get_config("10")
  assert esn.model.cell == rnn.model.cell == "rnn" and esn.data.length == 10
  differing = {k for k in esn.keys() if k in rnn and esn[k] != rnn[k]}
  assert differing == {"name", "model", "frozen_params", "learning_rate"}
  assert {k for k in esn.model.keys() if k not in rnn.model or esn.model[k] != rnn.model[k]} == {"recurrent_spectral_radius"}
