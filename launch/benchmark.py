"""Times our recurrent layers and whole training steps next to Flax's stock nn.RNN and PyTorch, in one process.

  RNN_JAX_DATA_DIR=../shared/data python launch/benchmark.py --repeats=20 --block=5 --json=bench.json
      [--kinds=layer,step] [--shapes=palindrome,ptb_small] [--cells=lstm,gru] [--implementations=ours,flax,torch]

Rows: ``layer`` = one forward+backward of a recurrent layer (ours, Flax, PyTorch); ``step`` = a whole
training step (ours: the run's compiled step of experiments/ptb_{lstm,gru}.py or palindrome_{lstm,gru}.py:20
with one seed and a reset-after GRU; PyTorch: the same model, loss, clipping and optimizer). Each
(kind, shape, cell) is timed interleaved in blocks with a float32 GEMM, so the FLOPs column comes with
the floor it implies at this machine's GEMM speed. Step shapes: ptb_small, palindrome, ptb_smoke, toy;
layer shapes: ptb_small, palindrome, toy. PTB rows need the PTB files (RNN_JAX_DATA_DIR) and are
skipped with a message without them. See rnn_jax/benchmarking.py for exactly what is timed and counted.

Prints a Markdown table (median and min ms per call after compilation and warm-up, throughput, the
time relative to ours, GFLOP per call, floor ms); --json writes every row and the environment.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for `experiments`

from absl import app, flags  # noqa: E402

_KINDS = flags.DEFINE_list("kinds", ["layer", "step"], "Row kinds: layer (one layer fwd+bwd), step (a whole "
                           "training step).")
_SHAPES = flags.DEFINE_list("shapes", ["palindrome", "ptb_small"], "Shapes: palindrome, ptb_small, toy "
                            "(both kinds), ptb_smoke (steps only).")
_CELLS = flags.DEFINE_list("cells", ["lstm", "gru"], "Cells: lstm, gru (reset-after, as Flax/PyTorch).")
_IMPLS = flags.DEFINE_list("implementations", ["ours", "flax", "torch"],
                           "Implementations (torch is skipped when not installed; flax has layer rows only).")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed calls per implementation (median reported).", lower_bound=1)
_BLOCK = flags.DEFINE_integer("block", 5, "Consecutive timed calls per turn; each turn starts with an untimed "
                              "call (1 = strict alternation, the pre-2026-11-24 behaviour).", lower_bound=1)
_TORCH_THREADS = flags.DEFINE_integer("torch_threads", None, "torch.set_num_threads (default: cores).")
_JSON = flags.DEFINE_string("json", None, "Also write every row and the environment here as JSON.")
flags.DEFINE_alias("output_json", "json")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from rnn_jax import benchmarking

  print("environment:", benchmarking.environment(), flush=True)
  try:
    results = benchmarking.run_benchmark(_SHAPES.value, _CELLS.value, _REPEATS.value,
                                         implementations=_IMPLS.value, kinds=_KINDS.value,
                                         torch_threads=_TORCH_THREADS.value, block=_BLOCK.value,
                                         log=lambda line: print(line, flush=True))
  except ValueError as e:
    sys.exit(f"error: {e}")
  print(benchmarking.format_table(results))
  print("load average after the run:", os.getloadavg())
  if _JSON.value:
    benchmarking.write_json(_JSON.value, results, {"command": " ".join(sys.argv)})
    print(f"wrote {len(results)} rows to {_JSON.value}")


if __name__ == "__main__":
  app.run(main)
