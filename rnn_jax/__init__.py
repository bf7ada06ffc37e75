"""rnn_jax: recurrent neural network experiments in JAX/Flax."""
