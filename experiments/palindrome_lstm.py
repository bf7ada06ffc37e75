"""Binary palindromes with an LSTM: the course's sanity check and the base of the palindrome study.

Command (T = 10; the argument is the palindrome length parameter T, or `smoke`):
  python launch/main.py --config=experiments/palindrome_lstm.py:10
  python launch/main.py --config=experiments/palindrome_lstm.py:20
  python launch/main.py --config=experiments/palindrome_lstm.py:smoke   # seconds, for checks

Hyperparameters are the 2020 UvA course's: Adam, lr 1e-4, batch 256, 256 hidden units, gradient
norm clipped at 10, 3000 steps, Kaiming-normal initialisation; three seeds side by side.

Expected runtime on a 2-core CPU (3 seeds, measured, see README): T=10 about 50 minutes alone
(~1 step/s; steps 1,000-3,000 took 48 min at 0.70 steps/s with other jobs sharing the CPU part of
the time; seeds vmapped); T=20 took 2 h 13 min with the seeds vmapped and a PTB training beside it
for most of the run; with the seeds run one after another (now the CPU default) a T=20 step is
0.81x the vmapped time (README, Performance), so about 75 minutes alone (estimated from the 0.55
steps/s measured alone with vmap). Expected result (measured): accuracy 1.0 on the evaluation
batches for every seed by step 500-1,250 and at step 3,000, at T=10 (the course's check) and T=20; majority-class accuracy is about 0.667.
"""
from ml_collections import ConfigDict

from experiments import common


def get_config(arg: str | None = None) -> ConfigDict:
  smoke = arg == "smoke"
  length = 10 if arg in (None, "", "smoke") else int(arg)
  c = common.run_config(f"palindrome_lstm_T{length}" + ("_smoke" if smoke else ""), "toy", num_train_steps=3000)
  c.batch_size = 256
  c.optimizer = "adam"
  c.learning_rate = 1e-4
  c.grad_clip_norm = 10.0
  c.log_every_steps = 50
  c.eval_every_steps = 250
  c.checkpoint_every_steps = 500

  c.data = ConfigDict()
  c.data.task = "palindrome"  # or baum_sweet, random_combination (rnn_jax.tasks.toy_data)
  c.data.length = length
  c.data.eval_batches = 10  # fresh batches per evaluation

  c.model = ConfigDict()
  c.model.cell = "lstm"
  c.model.features = 256
  c.model.embed_dim = 256
  c.model.num_layers = 1
  c.model.bidirectional = False
  c.model.kernel_init = "kaiming_normal"
  c.model.cell_kwargs = ConfigDict()

  if smoke:
    c.seeds = (0, 1)
    c.num_train_steps = 6
    c.batch_size = 8
    c.model.features = c.model.embed_dim = 8
    c.log_every_steps = c.eval_every_steps = c.checkpoint_every_steps = 3
    c.data.eval_batches = 2
  return c
