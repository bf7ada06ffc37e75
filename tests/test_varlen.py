"""Variable-length palindrome batches (issue 16 D): the generator, length buckets, padded vs bucketed
batches, the classifier's final state with seq_lengths, and the training run of both layouts."""
import importlib
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax import models, train
from rnn_jax.errors import ConfigError
from rnn_jax.tasks import length_buckets as lb
from rnn_jax.tasks import toy_data as td


def varlen_config(arg="smoke", **overrides):
  c = importlib.import_module("experiments.palindrome_varlen").get_config(arg)
  for key, value in overrides.items():
    target = c
    *parents, last = key.split("__")
    for part in parents:
      target = target[part]
    target[last] = value
  return c


# --- the generator ------------------------------------------------------------------------------------

def test_each_sample_is_the_fixed_length_palindrome_of_its_own_length_right_padded():
  key = jax.random.key(7)
  inputs, labels, seq_lengths = jax.device_get(td.variable_palindrome_batch(key, 200, 2, 12))
  assert inputs.shape == (200, 49) and labels.shape == seq_lengths.shape == (200,)
  lengths = (seq_lengths - 1) // 4
  assert np.array_equal(seq_lengths, 4 * lengths + 1)
  assert sorted(set(lengths.tolist())) == [2, 4, 6, 8, 10, 12]  # every even T of the range is drawn
  # The same draws through the fixed-length generator (checked against the course's construction
  # in test_toy_data) give each sample's symbols and label.
  _, draw_key = jax.random.split(key)
  digits, flips = jax.device_get(td._palindrome_draws(draw_key, 200, 12))
  for i in range(200):
    n, t = seq_lengths[i], lengths[i]
    fixed_inputs, fixed_labels = jax.device_get(td._palindrome_from_draws(digits[i:i + 1, :t // 2], flips[i:i + 1], int(t)))
    assert inputs[i, :n].tolist() == fixed_inputs[0].tolist() and labels[i] == fixed_labels[0], i
    assert not inputs[i, n:].any()  # right padding, the label is not leaked
    first = inputs[i][inputs[i] != 0][0]
    assert labels[i] == first - 1  # the label is the first non-padding symbol (minus 1)
    palindrome = [x - 1 for x in inputs[i, :n] if x != 0] + [labels[i]]
    assert palindrome == palindrome[::-1]


def test_variable_lengths_refuse_odd_or_crossed_bounds():
  with pytest.raises(ValueError, match="must be even"):
    td.variable_palindrome_batch(jax.random.key(0), 4, 3, 10)
  with pytest.raises(ValueError, match="min_length 10 > max_length 4"):
    td.variable_palindrome_batch(jax.random.key(0), 4, 10, 4)


# --- buckets: bounds, schedule, padding arithmetic ---------------------------------------------------------

def test_bucket_bounds_schedule_and_padding_fraction_by_hand():
  buckets = lb.make_buckets(2, 20, (8, 14))
  assert buckets == ((2, 8), (10, 14), (16, 20))
  schedule = lb.step_schedule(buckets)
  assert [schedule.count(b) for b in range(3)] == [4, 3, 3]  # one step per T value in the bucket
  assert schedule == (0, 1, 2, 0, 1, 2, 0, 1, 2, 0)
  # Plain padding: T uniform on 2, 4, ..., 20 -> mean input 4 * 11 + 1 = 45 of 81 columns.
  assert lb.padding_fraction(lb.make_buckets(2, 20)) == pytest.approx(1 - 45 / 81)
  # Buckets: [2, 8] pads 33-column batches (mean sample 21), [10, 14] 57 (mean 49), [16, 20] 81 (mean 73).
  pad = 4 * (33 - 21) + 3 * (57 - 49) + 3 * (81 - 73)
  columns = 4 * 33 + 3 * 57 + 3 * 81
  assert (pad, columns) == (96, 546)
  assert lb.padding_fraction(buckets) == pytest.approx(96 / 546)
  assert lb.mean_columns(buckets) == pytest.approx(546 / 10)
  assert lb.padding_fraction(lb.make_buckets(6, 6)) == 0.0  # one length: nothing to pad


@pytest.mark.parametrize("bounds, message", [((8, 8), "increase strictly"), ((20,), r"\[2, 20\)"),
                                             ((7,), "must be even"), ((14, 8), "increase strictly")])
def test_bad_bucket_bounds_are_refused(bounds, message):
  with pytest.raises(ValueError, match=message):
    lb.make_buckets(2, 20, bounds)


def test_the_padding_metric_is_the_batch_padding_and_averages_to_the_expected_fraction():
  config = varlen_config(data__length=20, data__bucket_lengths=(8, 14), batch_size=64)
  task = train.make_task(config)
  params = task.init_params(jax.random.key(0))
  schedule = lb.step_schedule(task.buckets)
  padding = jax.jit(lambda step: task.train_loss(params, {}, {}, jax.random.key(1), None, step)[1][0]["padding_fraction"])
  pad = columns = 0.0
  for step in range(len(schedule) * 20):
    p, c = (float(x) for x in padding(jnp.int32(step)))
    bucket = task.buckets[schedule[step % len(schedule)]]
    assert c == 64 * (4 * bucket[1] + 1)  # the batch is padded to its bucket's longest sample
    pad, columns = pad + p, columns + c
  assert pad / columns == pytest.approx(lb.padding_fraction(task.buckets), abs=0.01)


# --- the model on padded and bucketed batches ---------------------------------------------------------------

@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_samples_give_the_logits_of_each_sample_alone(bidirectional):
  model = models.SequenceClassifier(vocab_size=3, num_classes=2, embed_dim=5, cell_type="lstm", features=6,
                                    bidirectional=bidirectional)
  inputs, _, seq_lengths = td.variable_palindrome_batch(jax.random.key(2), 4, 2, 8)
  params = model.init(jax.random.key(0), inputs)
  logits = model.apply(params, inputs, seq_lengths)  # [4, 2]
  assert len(set(np.asarray(seq_lengths).tolist())) > 1
  for i in range(4):
    alone = model.apply(params, inputs[i:i + 1, :int(seq_lengths[i])])
    np.testing.assert_allclose(np.asarray(logits[i]), np.asarray(alone[0]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_bucketed_batch_has_the_loss_and_gradients_of_the_same_samples_padded_to_the_longest(bidirectional):
  task = train.make_task(varlen_config(data__length=20, data__bucket_lengths=(8, 14),
                                       model__bidirectional=bidirectional))
  params = task.init_params(jax.random.key(0))
  inputs, labels, seq_lengths = task._batch(jax.random.key(5), (10, 14))  # [8, 57]
  assert inputs.shape[1] == 57 and int(seq_lengths.max()) <= 57
  padded = jnp.pad(inputs, ((0, 0), (0, 81 - 57)))  # the same samples in a plain padded batch

  def loss(p, x):
    sums = task._sums(p, x, labels, seq_lengths)
    return sums["loss"][0] / sums["loss"][1]

  bucketed_loss, bucketed_grads = jax.value_and_grad(loss)(params, inputs)
  padded_loss, padded_grads = jax.value_and_grad(loss)(params, padded)
  np.testing.assert_allclose(float(bucketed_loss), float(padded_loss), rtol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7),
               bucketed_grads, padded_grads)


def test_seeds_batched_with_vmap_still_run_one_bucket_branch_per_step():
  # The bucket index depends on the step only, which vmap over seeds leaves unbatched, so the
  # switch stays a conditional (one branch runs) instead of becoming a select over every branch.
  task = train.make_task(varlen_config(data__bucket_lengths=(2,)))
  params = jax.vmap(task.init_params)(jax.random.split(jax.random.key(0), 3))
  keys = jax.random.split(jax.random.key(1), 3)
  loss = jax.vmap(lambda p, k, step: task.train_loss(p, {}, {}, k, None, step)[0], in_axes=(0, 0, None))
  jaxpr = str(jax.make_jaxpr(jax.grad(lambda p, step: loss(p, keys, step).sum()))(params, jnp.int32(0)))
  assert "cond[" in jaxpr


# --- training ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_bucketed_run_compiles_its_step_once_and_logs_the_padding(tmp_path, monkeypatch):
  made = []
  original = train.make_steps
  monkeypatch.setattr(train, "make_steps", lambda *a: made.append(original(*a)) or made[-1])
  config = varlen_config(data__bucket_lengths=(2,), num_train_steps=9, log_every_steps=9)
  train.train_and_evaluate(config, tmp_path)
  assert [steps.train_traces for steps in made] == [1]  # 9 steps over both buckets, one compiled step
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  train_records = [r for r in records if r["split"] == "train"]
  # Buckets T in [2, 2] (9 columns, no padding) and [4, 6] (25 columns); schedule (0, 1, 1): steps 1-9
  # have 3 batches of the first bucket and 6 of the second.
  assert lb.step_schedule(lb.make_buckets(2, 6, (2,))) == (1, 0, 1)
  assert all(0.0 < r["padding_fraction"] < 1 - 17 / 25 for r in train_records)


@pytest.mark.parametrize("overrides, message", [
    ({"data__bucket_lengths": (3,)}, "must be even"),
    ({"data__bucket_lengths": (6,)}, "must increase strictly and lie in"),
    ({"data__min_length": 8}, "min_length 8 > length 6"),
    ({"data__min_length": None, "data__bucket_lengths": (4,)}, "bucket_lengths needs config.data.min_length"),
    ({"data__task": "baum_sweet"}, "variable lengths exist for the palindrome task only"),
])
def test_bad_variable_length_fields_are_one_line_before_anything_is_written(overrides, message, tmp_path):
  config = varlen_config()
  if overrides.get("data__min_length", 0) is None:
    config.data.min_length = None
    overrides = {k: v for k, v in overrides.items() if k != "data__min_length"}
  for key, value in overrides.items():
    config.data[key.split("__")[1]] = value
  with pytest.raises(ConfigError, match=message) as error:
    train.train_and_evaluate(config, tmp_path / "run")
  assert "\n" not in str(error.value)
  assert not (tmp_path / "run").exists()
