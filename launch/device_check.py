"""One command for a machine with a GPU or TPU: speed, memory and the per-platform choices (target: < 5 minutes).

  RNN_JAX_DATA_DIR=../shared/data python launch/device_check.py --json=device_check.json
  python launch/device_check.py --tiny      # any machine, CPU included: toy sizes, seconds (tests run it)

In one process, in this order:
1. the platform, its devices and the choices ``rnn_jax.platform`` makes there (implementation, input
   hoisting, seed batching, matmul dtype; for the ptb_lstm_medium config);
2. the layer and whole-training-step benchmarks of ``launch/benchmark.py`` (ours vs Flax and PyTorch,
   interleaved, with FLOPs and the floor at the GEMM speed measured in the same run); PyTorch runs on
   the GPU when JAX does;
3. ``experiments/ptb_lstm_medium.py`` with 3 seeds (2 x 650 LSTM, batch 20, windows of 35, dropout 0.5):
   ``--seed_steps`` timed steps with the seeds vmapped and as many run one after another, interleaved:
   ms per step and words/s (3 seeds x 20 x 35 words per step);
4. peak device memory after parts 2 and 3 (``Device.memory_stats()['peak_bytes_in_use']``, the
   process's peak so far; "n/a" where the backend keeps no statistics, e.g. CPU).
PTB rows and part 3 need the PTB files (RNN_JAX_DATA_DIR); without them they are skipped with a message,
and part 3 times palindrome_lstm:20 instead. ``--tiny``: the toy layer and step shapes, 2 repeats, one
PyTorch thread, and part 3 on palindrome_lstm:smoke for 2 steps per batching.
"""
import dataclasses
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for `experiments`

from absl import app, flags  # noqa: E402

_TINY = flags.DEFINE_bool("tiny", False, "Toy sizes and 2 repeats: seconds on any machine (the test's mode).")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed calls per implementation in part 2.", lower_bound=1)
_BLOCK = flags.DEFINE_integer("block", 5, "Consecutive timed calls per turn in parts 2 and 3.", lower_bound=1)
_SEED_STEPS = flags.DEFINE_integer("seed_steps", 150, "Timed ptb_lstm_medium steps per seed batching (part 3).",
                                   lower_bound=1)
_JSON = flags.DEFINE_string("json", None, "Also write everything printed as JSON here.")

SEEDS = (0, 1, 2)


def peak_memory() -> list[int] | None:
  """Peak bytes in use so far on each local device, or None where the backend keeps no statistics."""
  import jax
  peaks = []
  for device in jax.local_devices():
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if not stats or "peak_bytes_in_use" not in stats:
      return None
    peaks.append(int(stats["peak_bytes_in_use"]))
  return peaks


def _memory_line(peaks) -> str:
  if peaks is None:
    return "peak device memory: n/a (this backend keeps no memory statistics)"
  return "peak device memory: " + ", ".join(f"{p / 2**30:.2f} GiB" for p in peaks)


def _seed_config(tiny: bool, log):
  """ptb_lstm_medium with 3 seeds; palindrome_lstm:20 when PTB is missing, palindrome_lstm:smoke when tiny."""
  from experiments import palindrome_lstm, ptb_lstm_medium
  from rnn_jax import benchmarking
  if tiny:  # a 10k softmax for 3 seeds compiles for tens of seconds on a small CPU: too slow for a test
    config = palindrome_lstm.get_config("smoke")
  else:
    config = ptb_lstm_medium.get_config()
    why = benchmarking.missing_data(config)
    if why is not None:
      log(f"part 3: {why}; timing palindrome_lstm:20 instead")
      config = palindrome_lstm.get_config("20")
  config.seeds = SEEDS
  return config


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  import jax
  from rnn_jax import benchmarking, platform, train
  from rnn_jax.errors import UserError

  t0 = time.perf_counter()
  log = lambda line: print(line, flush=True)  # noqa: E731
  tiny = _TINY.value
  report = {"tiny": tiny, "command": " ".join(sys.argv)}

  # 1. Platform and choices.
  env = benchmarking.environment()
  report["environment"] = env
  log(f"devices: {jax.device_count()} x {jax.devices()[0].device_kind} ({env['backend']}), jax {jax.__version__}"
      + (f", torch {env['torch']} on {env['torch_device']}" if "torch" in env else ", no PyTorch"))
  if env["backend"] == "cpu" and not tiny:
    log("note: no accelerator here; the full check is sized for a GPU/TPU and takes long on a CPU (try --tiny)")
  seed_config = _seed_config(tiny, log)
  choices = platform.resolve_choices(seed_config)
  report["choices"] = choices.as_dict()
  log(f"choices ({seed_config.name}): {choices.describe()}")

  # 2. Layer and step benchmarks.
  shapes = ["toy"] if tiny else ["palindrome", "ptb_small"]
  repeats = 2 if tiny else _REPEATS.value
  t = time.perf_counter()
  # Tiny: one PyTorch thread, since on a small busy CPU its spinning OpenMP threads take seconds per toy call.
  results = benchmarking.run_benchmark(shapes, benchmarking.CELLS, repeats, kinds=benchmarking.KINDS,
                                       block=min(_BLOCK.value, repeats), torch_threads=1 if tiny else None,
                                       log=log)
  log(benchmarking.format_table(results))
  report["benchmark"] = [dataclasses.asdict(r) for r in results]
  report["memory_after_benchmark"] = peak_memory()
  log(f"part 2: {time.perf_counter() - t:.0f} s; " + _memory_line(report["memory_after_benchmark"]))

  # 3. Three seeds: vmapped vs one after another.
  t = time.perf_counter()
  steps = 2 if tiny else _SEED_STEPS.value
  try:
    train.validate_config(seed_config)
    task = train.make_task(seed_config)
    times = benchmarking.time_train_steps(seed_config, ["vmap", "sequential"], steps,
                                          block=min(_BLOCK.value, steps), task=task)
  except UserError as e:
    sys.exit(f"error: {e}")
  per_step = task.examples_per_step * len(SEEDS)
  rows = []
  log(f"| config | seeds | batching | median ms / step | min ms | {task.examples_unit}/s (all seeds) | time / vmap |")
  log("|---|---|---|---|---|---|---|")
  vmap_median = statistics.median(times["vmap"])
  for batching, ts in times.items():
    med = statistics.median(ts)
    rows.append({"config": seed_config.name, "seeds": len(SEEDS), "batching": batching, "median_ms": med * 1e3,
                 "min_ms": min(ts) * 1e3, "examples_per_s": per_step / med, "examples_unit": task.examples_unit})
    log(f"| {seed_config.name} | {len(SEEDS)} | {batching} | {med * 1e3:.2f} | {min(ts) * 1e3:.2f} "
        f"| {per_step / med:,.0f} | {med / vmap_median:.2f} |")
  report["seed_batching"] = rows
  report["memory_after_seeds"] = peak_memory()
  log(f"part 3: {time.perf_counter() - t:.0f} s; " + _memory_line(report["memory_after_seeds"]))

  report["elapsed_s"] = round(time.perf_counter() - t0, 1)
  log(f"device check done in {report['elapsed_s']:.0f} s")
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(report, f, indent=2)
    log(f"wrote {_JSON.value}")


if __name__ == "__main__":
  app.run(main)
