"""Times one forward+backward of our recurrent layer next to Flax's stock nn.RNN and torch.nn.

  python launch/benchmark.py [--shapes=palindrome,ptb_small] [--cells=lstm,gru] [--repeats=20] [--block=5]
      [--output_json=bench.json]

Prints a Markdown table (median ms per fwd+bwd after compilation and warm-up, throughput and the
time relative to ours); see ``rnn_jax/benchmarking.py`` for what exactly is timed.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

_SHAPES = flags.DEFINE_list("shapes", ["palindrome", "ptb_small"], "Shapes: palindrome, ptb_small, toy.")
_CELLS = flags.DEFINE_list("cells", ["lstm", "gru"], "Cells: lstm, gru (reset-after, as Flax/PyTorch).")
_IMPLS = flags.DEFINE_list("implementations", ["ours", "flax", "torch"],
                           "Implementations (torch is skipped when not installed).")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed calls per implementation (median reported).")
_BLOCK = flags.DEFINE_integer("block", 5, "Consecutive timed calls per turn; each turn starts with an untimed "
                              "call (1 = strict alternation, the pre-2026-11-24 behaviour).", lower_bound=1)
_TORCH_THREADS = flags.DEFINE_integer("torch_threads", None, "torch.set_num_threads (default: cores).")
_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Also write the results here as JSON.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from rnn_jax import benchmarking

  env = benchmarking.environment()
  print("environment:", env, flush=True)
  results = benchmarking.run_benchmark(_SHAPES.value, _CELLS.value, _REPEATS.value,
                                       implementations=_IMPLS.value,
                                       torch_threads=_TORCH_THREADS.value,
                                       block=_BLOCK.value,
                                       log=lambda line: print(line, flush=True))
  print(benchmarking.format_table(results))
  print("load average after the run:", os.getloadavg())
  if _OUTPUT_JSON.value:
    benchmarking.write_json(_OUTPUT_JSON.value, results, {"command": " ".join(sys.argv)})


if __name__ == "__main__":
  app.run(main)
