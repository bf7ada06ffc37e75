"""Gradient flow through time: the perturbation-based gradients against the textbook product of Jacobians.

The reference builds, in float64 on a tiny classifier, every step Jacobian ``J_k = ∂s_k/∂s_{k-1}``
with ``jax.jacobian`` of one cell step, multiplies them out explicitly, ``P_t = J_T ··· J_{t+1}``, and
takes ``∂L_T/∂s_t = ∂L_T/∂s_T · P_t``; a step's part of ``∂L_T/∂W_hh`` is ``∂L_T/∂s_t · ∂⁺s_t/∂W_hh``
(``jax.jacobian`` of one step in ``W_hh`` with ``s_{t-1}`` fixed).
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax import cells, gradient_flow, models

REPO = Path(__file__).resolve().parents[1]
VOCAB, EMBED, HID, BATCH, TIME = 3, 3, 4, 3, 9

CASES = [("rnn", {}), ("lstm", {}), ("peephole_lstm", {}), ("gru", {}), ("gru", {"reset_after": True}),
         ("lstm", {"forget_gate": "zero"}), ("lstm", {"forget_gate": "one"})]


def tiny_model_and_params(cell_type, cell_kwargs):
  model = models.SequenceClassifier(vocab_size=VOCAB, num_classes=2, embed_dim=EMBED, cell_type=cell_type,
                                    features=HID, cell_kwargs={"param_dtype": jnp.float64, **cell_kwargs})
  tokens = jax.random.randint(jax.random.key(1), (BATCH, TIME), 0, VOCAB)
  labels = jnp.array([0, 1, 1])
  params = model.init(jax.random.key(0), tokens)["params"]
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(2), len(leaves))
  # N(0, 0.8²) everywhere: non-zero biases, gates neither saturated nor idle, gradients neither
  # vanishing nor exploding over 9 steps, so the comparison sees non-trivial numbers at every t.
  params = jax.tree.unflatten(tree, [0.8 * jax.random.normal(k, l.shape, jnp.float64) for k, l in zip(keys, leaves)])
  return model, params, tokens, labels


def jacobian_product_reference(model, params, tokens, labels):
  """Per example: ∂L_T/∂s_t [time, d] by explicit Jacobian products, and W_hh parts [time, n, k] (batch mean)."""
  cell = cells.make_cell(model.cell_type, model.features, **model.cell_kwargs)
  cp = params["rnn"]["layer_0"]["cell"]
  has_c = cell.carry_has_cell_state
  n = model.features

  def unflat(s):
    return (s[:n], s[n:]) if has_c else s

  def flat(carry):
    return jnp.concatenate(carry) if has_c else carry

  def step(w, s, x):  # one example: s [d], x [embed]
    carry, _ = cell.apply({"params": {**cp, "recurrent_kernel": w}}, unflat(s), x)
    return flat(carry)

  def loss_of_final_state(s, label):
    h = s[n:] if has_c else s
    logits = h @ params["head"]["kernel"] + params["head"]["bias"]
    return optax.softmax_cross_entropy_with_integer_labels(logits, label)

  w = cp["recurrent_kernel"]
  d = 2 * n if has_c else n
  step_jit = jax.jit(step)
  jac_state = jax.jit(jax.jacobian(step, argnums=1))  # [d, d]
  jac_w = jax.jit(jax.jacobian(step, argnums=0))      # [d, n, k]
  grads, w_parts = [], np.zeros((TIME, *w.shape))
  for b in range(BATCH):
    xs = params["embed"]["embedding"][tokens[b]]  # [time, embed]
    states = [jnp.zeros(d)]
    for x in xs:
      states.append(step_jit(w, states[-1], x))
    jacobians = [jac_state(w, states[t], xs[t]) for t in range(TIME)]  # J_{t+1} = ∂s_{t+1}/∂s_t
    g_final = jax.grad(loss_of_final_state)(states[-1], labels[b])
    per_t = []
    for t in range(1, TIME + 1):  # ∂L/∂s_t = g_T · J_T ··· J_{t+1}
      product = np.eye(d)
      for k in range(TIME, t, -1):
        product = product @ np.asarray(jacobians[k - 1])
      g_t = np.asarray(g_final) @ product
      per_t.append(g_t)
      dstep_dw = jac_w(w, states[t - 1], xs[t - 1])  # ∂⁺s_t/∂W_hh
      w_parts[t - 1] += np.tensordot(g_t, np.asarray(dstep_dw), axes=1) / BATCH
    grads.append(np.stack(per_t))
  return np.stack(grads, axis=1), w_parts  # [time, batch, d], [time, n, k]


@pytest.mark.parametrize("cell_type,cell_kwargs", CASES)
def test_state_gradients_equal_the_explicit_product_of_step_jacobians(cell_type, cell_kwargs):
  with jax.enable_x64(True):
    model, params, tokens, labels = tiny_model_and_params(cell_type, cell_kwargs)
    losses, d_state, d_w = gradient_flow.state_gradients(model, params, tokens, labels)
    expected, expected_w = jacobian_product_reference(model, params, tokens, labels)
    got = np.concatenate([np.asarray(a) for a in jax.tree.leaves(d_state)], axis=-1)  # [time, batch, d]: (c, h)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(np.asarray(d_w), expected_w, rtol=1e-10, atol=1e-14)
    assert np.max(np.abs(expected[0])) > 1e-7  # the comparison at t = 1 is not between zeros

    # The unperturbed loss is the model's own, and the parts sum to the full ∂L/∂W_hh.
    def model_loss(p):
      logits = model.apply({"params": p}, tokens)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    np.testing.assert_allclose(np.asarray(losses).mean(), model_loss(params), rtol=1e-12)
    full = jax.grad(model_loss)(params)["rnn"]["layer_0"]["cell"]["recurrent_kernel"]
    np.testing.assert_allclose(np.asarray(d_w).sum(0), full, rtol=1e-10, atol=1e-14)

    # The reported norms: per example, then the batch mean.
    norms = gradient_flow.flow_norms(model, params, tokens, labels)
    np.testing.assert_allclose(norms["state_grad_norm"], np.linalg.norm(expected, axis=-1).mean(1), rtol=1e-10)
    h_part = expected[..., HID:] if expected.shape[-1] == 2 * HID else expected
    np.testing.assert_allclose(norms["h_grad_norm"], np.linalg.norm(h_part, axis=-1).mean(1), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(norms["w_hh_contribution_norm"],
                               np.linalg.norm(expected_w.reshape(TIME, -1), axis=-1), rtol=1e-10, atol=1e-300)


def test_peephole_lstm_passes_the_gradient_through_c_alone():
  """Its gates read c_{t-1}, not h_{t-1}: ∂L_T/∂h_t = 0 before the last step, while ∂L_T/∂c_t is not."""
  with jax.enable_x64(True):
    norms = gradient_flow.flow_norms(*tiny_model_and_params("peephole_lstm", {}))
  assert np.all(norms["h_grad_norm"][:-1] == 0.0) and norms["h_grad_norm"][-1] > 0
  assert np.all(norms["c_grad_norm"][:-1] > 0) and norms["c_grad_norm"][-1] == 0.0


def test_decay_rate_is_the_slope_of_the_log_norm_per_step():
  distance = np.arange(12)[::-1]
  norms = 3.0 * 0.8 ** distance
  norms[-1] = 100.0  # distance 0 is left out of the fit
  assert gradient_flow.decay_rate(norms) == pytest.approx(math.log(0.8), rel=1e-12)
  norms[:3] = 0.0  # underflowed norms are left out too
  assert gradient_flow.decay_rate(norms) == pytest.approx(math.log(0.8), rel=1e-12)
  assert math.isnan(gradient_flow.decay_rate([0.0, 0.0, 1.0]))


# --- the launch script --------------------------------------------------------------------------

def run_script(*flags):
  return subprocess.run([sys.executable, str(REPO / "launch" / "gradient_flow.py"), *flags], cwd=REPO,
                        capture_output=True, text=True, timeout=600,
                        env={**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"})


SMOKE = f"--config={REPO / 'experiments' / 'palindrome_lstm.py'}:smoke"


def test_launch_at_init_writes_json_table_and_plot(tmp_path):
  proc = run_script(SMOKE, "--cells=rnn,lstm,peephole_lstm,gru", f"--out={tmp_path / 'out'}")
  assert proc.returncode == 0, proc.stderr
  result = json.loads((tmp_path / "out" / "gradient_flow.json").read_text())
  assert result["cells"] == ["rnn", "lstm", "peephole_lstm", "gru"] and result["seeds"] == [0, 1]
  assert "trained" not in result and result["steps"] == 41 and len(result["distance"]) == 41
  for key in ("state_grad_norm", "h_grad_norm", "w_hh_contribution_norm"):
    assert set(result["init"][key]) == {"rnn", "lstm", "peephole_lstm", "gru"}
    assert all(len(v) == 41 for per_seed in result["init"][key].values() for v in per_seed.values())
  assert set(result["init"]["c_grad_norm"]) == {"lstm", "peephole_lstm"}
  assert (tmp_path / "out" / "gradient_flow_init.png").stat().st_size > 10_000
  assert proc.stdout.count("\n| ") >= 5 and "| peephole_lstm | 2 |" in proc.stdout


def test_launch_with_a_trained_workdir_reads_its_checkpoint(tmp_path):
  from rnn_jax import train
  from experiments import palindrome_lstm
  config = palindrome_lstm.get_config("smoke")
  train.train_and_evaluate(config, tmp_path / "run")
  proc = run_script(SMOKE, f"--workdir={tmp_path / 'run'}")
  assert proc.returncode == 0, proc.stderr
  out = tmp_path / "run" / "gradient_flow"
  result = json.loads((out / "gradient_flow.json").read_text())
  assert result["trained"]["checkpoint_step"] == config.num_train_steps
  assert result["trained"]["parameters"] == "latest" and result["trained"]["finished"] is True  # summary.json
  init, trained = result["init"]["state_grad_norm"]["lstm"]["0"], result["trained"]["state_grad_norm"]["lstm"]["0"]
  assert init != trained
  assert (out / "gradient_flow_trained.png").is_file() and "trained" in proc.stdout


@pytest.mark.parametrize("flags,message", [
    (("--cells=rnn,lstmm",), "unknown cell 'lstmm'"),
    (("--cells=",), "--cells"),
    (("--config.batch_size=0",), "config.batch_size must be positive"),
    (("--config.model.bidirectional=True",), "bidirectional"),
    (("--config.no_such_key=1",), "no_such_key"),
    (("--workdir=/nonexistent/run",), "holds no run"),
])
def test_bad_input_fails_with_one_line_and_writes_nothing(flags, message, tmp_path):
  out = tmp_path / "out"
  proc = run_script(SMOKE, f"--out={out}", *flags)
  assert proc.returncode != 0
  assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
  assert not out.exists()


def test_cell_kwargs_that_another_cell_lacks_are_an_error(tmp_path):
  config = f"--config={REPO / 'experiments' / 'palindrome_lstm_forget1.py'}:smoke"
  proc = run_script(config, "--cells=lstm,rnn", f"--out={tmp_path / 'out'}")
  assert proc.returncode != 0 and "forget_gate does not apply to cell 'rnn'" in proc.stderr
  assert not (tmp_path / "out").exists()
