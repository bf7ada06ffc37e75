"""The PRNG key streams of a run, in one place.

Every random number of seed ``s`` comes from ``jax.random.key(s)`` folded with one of the stream ids
below (``jax.random.fold_in``), then with the step where it varies per step. Keeping them apart
makes a seed's initialisation, data, dropout, evaluation data and samples independent of each other,
and each a function of (seed, step) only, so a resumed run redraws exactly what it would have drawn.
"""

#: ``fold_in(key(seed), INIT_STREAM)``: the parameters' initialisation.
INIT_STREAM = 0
#: ``fold_in(key(seed), DATA_STREAM)``: the task's ``data_key``; tasks fold in the step (and, for
#: generated evaluation batches, ``DATA_EVAL_SUBSTREAM`` first).
DATA_STREAM = 1
#: ``fold_in(fold_in(key(seed), DROPOUT_STREAM), step)``: dropout masks of training step ``step``.
DROPOUT_STREAM = 2
#: ``fold_in(key(seed), EVAL_STREAM)``: the key a task's ``evaluate`` receives.
EVAL_STREAM = 3
#: ``fold_in(fold_in(key(seed), SAMPLE_STREAM), step)``: samples written during training at ``step``.
SAMPLE_STREAM = 4

#: Inside the data stream: ``fold_in(data_key, DATA_EVAL_SUBSTREAM)`` separates the freshly generated
#: evaluation batches of the toy tasks from their training batches.
DATA_EVAL_SUBSTREAM = 1
