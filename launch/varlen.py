"""Padding and step time of variable-length palindrome batches: plain right padding against length buckets.

  python launch/varlen.py --config=experiments/palindrome_varlen.py --bucket_lengths=8,14 [--cycles=3] \
      [--config.model.bidirectional=True]

Builds the run's own compiled training step (all seeds) twice -- data.bucket_lengths = () and = the
given bucket lengths -- and times them interleaved (rnn_jax.benchmarking.time_interleaved) over
--cycles whole cycles of the bucket schedule, so every bucket is timed in its share. Prints, per
layout: the buckets, the expected fraction of right padding among the input symbols
(rnn_jax.tasks.length_buckets.padding_fraction), the fraction on the batches it generated (warm-up
included), the
time steps a batch has on average, the mean ms per step and its ratio to plain padding. Writes
nothing. Accuracy needs training runs: see experiments/palindrome_varlen.py for the sweep.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for `experiments`

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "A variable-length palindrome config (path[:arg]).",
                                          lock_config=True)
_BUCKET_LENGTHS = flags.DEFINE_list("bucket_lengths", None, "The longest T of each bucket but the last, e.g. 8,14.")
_CYCLES = flags.DEFINE_integer("cycles", 3, "Timed cycles of the bucket schedule per layout.", lower_bound=1)
flags.mark_flags_as_required(["config", "bucket_lengths"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  import jax
  from rnn_jax import benchmarking, train
  from rnn_jax.errors import UserError
  from rnn_jax.tasks import length_buckets

  try:
    bucket_lengths = tuple(int(b) for b in _BUCKET_LENGTHS.value)
  except ValueError:
    sys.exit(f"error: --bucket_lengths={','.join(_BUCKET_LENGTHS.value)}: give even integers, e.g. 8,14")
  layouts = {"padded": (), "bucketed": bucket_lengths}
  fns, tasks, boxes = {}, {}, {}
  try:
    for name, lengths in layouts.items():
      config = _CONFIG.value.copy_and_resolve_references()
      config.data.bucket_lengths = lengths
      train.validate_config(config)
      if config.data.get("min_length") is None:
        raise UserError("the config has no data.min_length: use a variable-length config such as "
                        "experiments/palindrome_varlen.py")
      tasks[name] = train.make_task(config)
      steps = train.make_steps(config, tasks[name])
      seeds = steps.mesh.seed_array()
      state = steps.init(seeds)
      boxes[name] = box = {"state": state, "acc": steps.zero_accumulator(state, seeds), "step": 0}

      def one_step(steps=steps, seeds=seeds, box=box):
        box["state"], box["acc"] = steps.train(box["state"], box["acc"], seeds, box["step"])
        box["step"] += 1
        return box["acc"]

      fns[name] = (one_step, ())
  except UserError as e:
    sys.exit(f"error: {e}")
  cycle = len(length_buckets.step_schedule(tasks["bucketed"].buckets))
  # The first call compiles every bucket's branch (one program); any run of whole cycles then times
  # each bucket in its share, whatever step it starts at.
  times = benchmarking.time_interleaved(fns, repeats=_CYCLES.value * cycle)
  base = statistics.mean(times["padded"])
  c = _CONFIG.value
  print(f"config {c.name}: T from {c.data.min_length} to {c.data.length}, batch {c.batch_size}, "
        f"{len(c.seeds)} seeds, bidirectional {c.model.bidirectional}; {_CYCLES.value} cycles of {cycle} steps timed")
  print("| layout | buckets (T) | padding, expected | padding, measured | time steps per batch | ms / step | time / padded |")
  print("|---|---|---|---|---|---|---|")
  for name in layouts:
    buckets = tasks[name].buckets
    sums = jax.device_get(boxes[name]["acc"]["padding_fraction"])
    measured = float(sums[0].sum() / sums[1].sum())
    mean = statistics.mean(times[name])
    print(f"| {name} | {' '.join(f'{lo}-{hi}' for lo, hi in buckets)} | {length_buckets.padding_fraction(buckets):.3f} "
          f"| {measured:.3f} | {length_buckets.mean_columns(buckets):.1f} | {mean * 1e3:.1f} | {mean / base:.2f} |")
  print("load average after the run:", os.getloadavg())


if __name__ == "__main__":
  app.run(main)
