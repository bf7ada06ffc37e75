"""Penn Treebank small architecture (2x200 LSTM) with dropout on the non-recurrent connections.

Command:
  python launch/main.py --config=experiments/ptb_lstm_dropout.py --config.seeds='(0,)'
  python launch/main.py --config=experiments/ptb_lstm_dropout.py:smoke

Architecture as `ptb_lstm.py` (embedding 200, 2x200, batch 20, 20 steps, tied embeddings).
Our choices to beat the reports: dropout 0.4 (Zaremba et al.'s placement: input of every layer
and the output), Zaremba's medium schedule (SGD lr 1.0 held for 6 epochs, then x0.8 per epoch)
cut to 25 epochs, clipping at 5; best-by-validation parameters for the final evaluation.
Why 25 and not the medium model's 39: after epoch 25 the rate is 0.8**19 = 1.4% of the start,
and in our ptb_lstm run validation perplexity moved by less than 1 once the rate fell below ~3%;
the 14 more epochs would cost ~40 minutes of CPU per run here (32,522 steps at the ~15 steps/s
measured alone, plus evaluations). That was a guess from the ptb_lstm run; on this config (seed 0,
README) validation still fell 102.5 -> 101.1 over epochs 18-25, so the longer schedule may gain a
little -- untried; `--config.num_epochs=39` restores the medium model's length.

Runtime on a 2-core CPU, one seed (measured, README): steps 2,000-58,075 in 98 minutes with other
trainings sharing the CPU for about an hour of it (3.90k words/s); ~80 minutes alone (estimated from 14-15 steps/s).
Target: test perplexity <= 95 (the reports: 96.2 and 95.8). Measured (seed 0): test 97.0, valid
101.1 -- the target is MISSED (README); validation was still falling ~0.1 per epoch at epoch 25.
"""
from ml_collections import ConfigDict

from experiments import common, ptb_lstm


def get_config(arg: str | None = None) -> ConfigDict:
  c = ptb_lstm.get_config()
  c.name = "ptb_lstm_dropout"
  c.num_epochs = 25
  c.schedule = common.schedule("step_decay", "epochs", hold=6.0, every=1.0, gamma=0.8)  # epochs
  c.model.input_dropout = c.model.between_dropout = c.model.output_dropout = 0.4
  return ptb_lstm.finish(c, arg)
