"""The course's character-LM setup written in PyTorch: an independent peer for experiments/grimm_lstm.py.

  pip install torch==2.13.0
  python launch/grimm_torch_peer.py --seed=0 [--features=256] [--input=embedding|onehot] [--steps=5000]

It shares no code with rnn_jax: it reads the text file itself (as the course did, byte-order mark
included), draws random 30-character windows with NumPy, and trains torch.nn.Embedding (or one-hot
inputs) -> torch.nn.LSTM(2 x features; 256 as the report, 128 the course's default) -> torch.nn.Linear
with Adam 2e-3 and gradient-norm clipping at 5, batch 64, PyTorch's default initialisation. It prints
the training accuracy (mean of the last 100 batches, all 30 positions) every 1000 steps, the same
measure as the README's table for rnn_jax.
"""
import os
import time

from absl import app, flags

_SEED = flags.DEFINE_integer("seed", 0, "torch and NumPy seed.")
_STEPS = flags.DEFINE_integer("steps", 5000, "Training steps.", lower_bound=1)
_FEATURES = flags.DEFINE_integer("features", 256, "LSTM units per layer (the report: 256; the course's default: 128).",
                                 lower_bound=1)
_INPUT = flags.DEFINE_enum("input", "embedding", ["embedding", "onehot"], "Embedding (width 64) or one-hot inputs.")
_THREADS = flags.DEFINE_integer("threads", 1, "torch.set_num_threads.")
_TEXT = flags.DEFINE_string("text", None, "Text file (default: $RNN_JAX_DATA_DIR/grimm/grimms_fairy_tales.txt).")


def main(argv):
  del argv
  import numpy as np
  import torch

  torch.manual_seed(_SEED.value)
  rng = np.random.default_rng(_SEED.value)
  torch.set_num_threads(_THREADS.value)
  path = _TEXT.value or os.path.join(os.environ.get("RNN_JAX_DATA_DIR", "../shared/data"), "grimm",
                                     "grimms_fairy_tales.txt")
  with open(path, encoding="utf-8") as f:
    text = f.read()
  chars = sorted(set(text))
  index = {c: i for i, c in enumerate(chars)}
  data = np.fromiter((index[c] for c in text), np.int64, len(text))
  vocab, window, batch = len(chars), 30, 64
  print(f"{path}: {len(text):,} characters, {vocab} distinct; input={_INPUT.value}, 2 x {_FEATURES.value} LSTM",
        flush=True)

  class Model(torch.nn.Module):

    def __init__(self):
      super().__init__()
      self.embed = torch.nn.Embedding(vocab, 64) if _INPUT.value == "embedding" else None
      self.lstm = torch.nn.LSTM(64 if self.embed is not None else vocab, _FEATURES.value, num_layers=2,
                                batch_first=True)
      self.out = torch.nn.Linear(_FEATURES.value, vocab)

    def forward(self, x):
      x = self.embed(x) if self.embed is not None else torch.nn.functional.one_hot(x, vocab).float()
      return self.out(self.lstm(x)[0])

  model = Model()
  opt = torch.optim.Adam(model.parameters(), lr=2e-3)
  accuracies, t0 = [], time.perf_counter()
  for step in range(1, _STEPS.value + 1):
    starts = rng.integers(0, len(data) - window - 1, batch)
    chunk = torch.from_numpy(np.stack([data[s:s + window + 1] for s in starts]))
    inputs, targets = chunk[:, :window], chunk[:, 1:]
    logits = model(inputs)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    accuracies.append((logits.argmax(-1) == targets).float().mean().item())
    if step % 1000 == 0 or step == _STEPS.value:
      print(f"step {step}: train accuracy (mean of the last 100 batches) {np.mean(accuracies[-100:]):.4f}, "
            f"loss {loss.item():.3f}, {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
  app.run(main)
