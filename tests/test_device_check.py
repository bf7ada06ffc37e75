"""launch/device_check.py in its tiny mode: every part runs on a CPU and reports what it measured."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_device_check_tiny_runs_every_part(tmp_path):
  out_json = tmp_path / "check.json"
  # One CPU device; no PTB needed in tiny mode; optimisations off, since tiny timings mean nothing.
  env = {**os.environ, "XLA_FLAGS": "", "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}
  proc = subprocess.run([sys.executable, str(REPO / "launch" / "device_check.py"), "--tiny", f"--json={out_json}"],
                        capture_output=True, text=True, timeout=600, env=env)
  assert proc.returncode == 0, proc.stderr
  out = proc.stdout
  assert "choices (palindrome_lstm_T10_smoke): cpu: rnn_implementation=fused, hoist_inputs=False, " \
         "seed_batching=sequential, matmul_dtype=float32" in out
  assert "| toy | lstm | layer | ours |" in out and "| toy | gru | step | ours |" in out
  assert "| palindrome_lstm_T10_smoke | 3 | vmap |" in out and "| palindrome_lstm_T10_smoke | 3 | sequential |" in out
  assert "peak device memory: n/a" in out  # XLA:CPU keeps no memory statistics
  report = json.loads(out_json.read_text())
  assert report["tiny"] and report["choices"]["platform"] == "cpu"
  assert {(r["kind"], r["cell"]) for r in report["benchmark"]} == {(k, c) for k in ("layer", "step")
                                                                   for c in ("lstm", "gru")}
  assert [r["batching"] for r in report["seed_batching"]] == ["vmap", "sequential"]
  for row in report["seed_batching"]:
    assert row["median_ms"] > 0 and row["examples_per_s"] > 0 and row["examples_unit"] == "sequences"
