"""Learning-rate schedules: the reference PTB schedule and the step-based decay, value by value."""
import numpy as np
from ml_collections import ConfigDict

from rnn_jax import optim


def config(name, hold=0.0, every=1.0, gamma=1.0, lr=1.0):
  return ConfigDict({"learning_rate": lr, "schedule": {"name": name, "hold_steps": hold, "every_steps": every, "gamma": gamma}})


def test_zaremba_small_schedule_lr_1_for_4_epochs_then_halved_every_epoch():
  steps_per_epoch = 10
  schedule = optim.make_schedule(config("step_decay", hold=4, every=1, gamma=0.5), steps_per_epoch)
  for epoch in range(13):
    expected = 0.5 ** max(epoch + 1 - 4, 0)  # TF ptb_word_lm: lr_decay ** max(i + 1 - max_epoch, 0)
    for step in (epoch * steps_per_epoch, epoch * steps_per_epoch + 9):
      np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-6)


def test_decay_every_5000_steps():
  schedule = optim.make_schedule(config("step_decay", hold=5000, every=5000, gamma=0.96, lr=2e-3), 1)
  for step, expected in [(0, 2e-3), (4999, 2e-3), (5000, 2e-3 * 0.96), (9999, 2e-3 * 0.96), (10000, 2e-3 * 0.96 ** 2)]:
    np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-6)


def test_constant_and_exponential():
  assert float(optim.make_schedule(config("constant", lr=3e-4), 1)(12345)) == np.float32(3e-4)
  exponential = optim.make_schedule(config("exponential", hold=0, every=100, gamma=0.5), 1)
  np.testing.assert_allclose(float(exponential(50)), 0.5 ** 0.5, rtol=1e-6)


def plateau_scales(values, divide_by, patience_evals):
  tx = optim.make_plateau(ConfigDict({"schedule": {"name": "plateau", "divide_by": divide_by,
                                                   "patience_evals": patience_evals}}))
  state, scales = tx.init(np.zeros((), np.float32)), []
  for v in values:
    _, state = tx.update({}, state, value=np.float32(v))
    scales.append(float(state.scale))
  return scales


def test_plateau_divides_exactly_when_validation_did_not_improve():
  # PyTorch word_language_model: lr /= 4 after every epoch whose validation loss is not a new best.
  values = [10.0, 9.0, 9.5, 8.0, 8.0, 8.5, 7.0, 7.0]
  assert plateau_scales(values, 4.0, 0) == [1, 1, 0.25, 0.25, 0.25 / 4, 0.25 / 16, 0.25 / 16, 0.25 / 64]
  # patience 1: divided after two stalled evaluations in a row; an improvement resets the count.
  values = [10.0, 9.0, 9.5, 9.4, 8.0, 8.1, 7.9, 8.0, 8.0]
  assert plateau_scales(values, 2.0, 1) == [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25]
  # "Improved" needs more than PLATEAU_RTOL relative: a gain of 1e-6 is a stall.
  assert plateau_scales([100.0, 100.0 * (1 - 1e-6)], 4.0, 0) == [1, 0.25]


def test_plateau_is_none_for_step_based_schedules():
  assert optim.make_plateau(config("step_decay", hold=4, every=1, gamma=0.5)) is None


def test_frozen_params_get_no_update_and_no_optimizer_state():
  import jax
  import jax.numpy as jnp
  import optax
  c = ConfigDict({"optimizer": "adam", "learning_rate": 0.1, "weight_decay": 0.0, "grad_clip_norm": 1.0,
                  "frozen_params": ("rnn/*/recurrent_kernel",)})
  params = {"rnn": {"layer_0": {"recurrent_kernel": jnp.ones((3, 3)), "bias": jnp.ones(3)}}, "head": jnp.ones(2)}
  tx = optim.make_optimizer(c, optax.constant_schedule(0.1))
  state = tx.init(params)
  kept = [optim.param_path(p) for p, leaf in jax.tree_util.tree_leaves_with_path(state) if np.size(leaf) > 1]
  assert kept and not any("recurrent_kernel" in p for p in kept)  # Adam's moments exist only for trained arrays
  grads = jax.tree.map(lambda p: 10.0 * jnp.ones_like(p), params)
  updates, _ = tx.update(grads, state, params)
  assert np.all(np.asarray(updates["rnn"]["layer_0"]["recurrent_kernel"]) == 0.0)
  assert np.all(np.asarray(updates["head"]) != 0.0)
  assert optim.unmatched_patterns(("rnn/*/recurrent_kernel", "embed/*"), params) == ["embed/*"]


def test_decay_with_no_hold_starts_at_step_zero_and_exponential_holds_first():
  step = optim.make_schedule(config("step_decay", hold=0, every=10, gamma=0.5), 1)
  for s, expected in [(0, 0.5), (9, 0.5), (10, 0.25), (25, 0.125)]:  # k = s // every + 1 from the first step
    np.testing.assert_allclose(float(step(s)), expected, rtol=1e-6)
  smooth = optim.make_schedule(config("exponential", hold=20, every=10, gamma=0.5), 1)
  for s, expected in [(0, 1.0), (20, 1.0), (25, 0.5 ** 0.5), (40, 0.25)]:
    np.testing.assert_allclose(float(smooth(s)), expected, rtol=1e-6)
