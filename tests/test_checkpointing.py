"""Orbax checkpoints (rnn_jax.checkpointing): keep the last N, restore with the saved values, read back onto one device."""
import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax import checkpointing


def state(value):
  return {"state": {"params": {"w": jnp.full((2, 3), value)}, "step": jnp.asarray(int(value))},
          "acc": {"loss": (jnp.asarray(value), jnp.asarray(1.0))}}


def test_keeps_the_last_n_and_restores_exactly(tmp_path):
  ckpts = checkpointing.Checkpoints(tmp_path / "checkpoints", keep=2)
  for step in (10, 20, 30):
    ckpts.save(step, state(float(step)))
  ckpts.wait()
  assert ckpts.latest_step() == 30
  assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == [20, 30]
  restored = ckpts.restore(30, state(0.0))
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state(30.0))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  ckpts.close()


def test_read_back_onto_one_device_and_the_train_state_of_either_layout(tmp_path):
  assert checkpointing.restore_latest_on_one_device(tmp_path / "nothing") == (None, None)
  ckpts = checkpointing.Checkpoints(tmp_path / "checkpoints", keep=2)
  ckpts.save(7, state(7.0))
  ckpts.wait()
  ckpts.close()
  step, saved = checkpointing.restore_latest_on_one_device(tmp_path / "checkpoints")
  assert step == 7
  train_state = checkpointing.train_state(saved)
  np.testing.assert_array_equal(np.asarray(train_state["params"]["w"]), np.full((2, 3), 7.0))
  older = {"params": {"w": np.ones(2)}}  # a checkpoint written before the logging window was saved too
  assert checkpointing.train_state(older) is older
