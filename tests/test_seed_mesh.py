"""Seeds on the device mesh (rnn_jax.seed_mesh): a seed's numbers are the same alone or beside others,
on 1, 2 or 4 devices, sequential or vmapped, and across two processes."""
import os
import subprocess
import sys

from rnn_jax import train
from tests.test_train import REPO, read_metrics, tiny_palindrome


# --- seeds on the mesh --------------------------------------------------------------------------

def final_train_loss(workdir, seed):
  records = [r for r in read_metrics(workdir) if r["split"] == "train" and r["seed"] == seed]
  return max(records, key=lambda r: r["step"])["loss"]


def test_a_seed_gives_the_same_numbers_alone_with_others_and_on_1_2_4_devices(tmp_path):
  # (seeds, devices, how the seeds sharing a device run: rnn_jax.seed_mesh)
  runs = {"alone_1dev": ((1,), 1, "auto"), "three_1dev": ((0, 1, 2), 1, "sequential"),
          "three_1dev_vmap": ((0, 1, 2), 1, "vmap"), "three_2dev": ((0, 1, 2), 2, "sequential"),
          "three_2dev_vmap": ((0, 1, 2), 2, "vmap"), "three_4dev": ((0, 1, 2), 4, "auto"),
          "two_4dev": ((1, 2), 4, "auto")}
  losses = {}
  for name, (seeds, devices, batching) in runs.items():
    config = tiny_palindrome(seeds=seeds, max_devices=devices, seed_batching=batching, num_train_steps=50,
                             log_every_steps=50, eval_every_steps=50, checkpoint_every_steps=50)
    train.train_and_evaluate(config, tmp_path / name)
    losses[name] = final_train_loss(tmp_path / name, 1)
  reference = losses["alone_1dev"]
  for name, loss in losses.items():
    assert abs(loss - reference) / abs(reference) <= 1e-4, (name, loss, reference)
  # Different seeds do differ.
  assert final_train_loss(tmp_path / "three_1dev", 0) != final_train_loss(tmp_path / "three_1dev", 1)


def test_two_processes_train_the_seeds_of_one_process_and_write_once(tmp_path):
  """Multi-host in miniature: two local processes (2 CPU devices each, gloo) share 3 seeds on 4 devices."""
  import socket
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  flags = [f"--config={REPO / 'experiments' / 'palindrome_lstm.py'}:smoke", f"--workdir={tmp_path / 'two'}",
           "--config.seeds=(0,1,2)", "--config.num_train_steps=20", "--config.log_every_steps=10",
           "--config.eval_every_steps=10", "--config.checkpoint_every_steps=10",
           f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2"]
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
  procs = [subprocess.Popen([sys.executable, str(REPO / "launch" / "main.py"), *flags, f"--process_id={i}"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  logs = [p.communicate(timeout=600)[1] for p in procs]
  assert [p.returncode for p in procs] == [0, 0], logs
  assert "JAX process 1/2" in logs[1] and "on 3 device(s)" in logs[0]
  config = tiny_palindrome(seeds=(0, 1, 2), num_train_steps=20, log_every_steps=10, eval_every_steps=10,
                           checkpoint_every_steps=10)
  train.train_and_evaluate(config, tmp_path / "one")
  two, one = read_metrics(tmp_path / "two"), read_metrics(tmp_path / "one")
  assert [(r["seed"], r["step"], r["split"]) for r in two] == [(r["seed"], r["step"], r["split"]) for r in one]
  for a, b in zip(two, one):
    assert abs(a["loss"] - b["loss"]) <= 1e-4 * abs(b["loss"]), (a, b)
  assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == ["10", "20"]


