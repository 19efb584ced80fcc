"""`dltui sweep --backend ray` against a Ray cluster started as users start one (`ray start
--head`, token authentication on because a token exists), and against a local instance.

Every Ray process of these tests runs in a network namespace of its own whose only interface is
loopback: Ray binds its servers on every interface and turns 127.0.0.1 into the machine's
address, so `--node-ip-address 127.0.0.1` alone does not keep it off the network. In the
namespace the head registers as 127.0.0.1 (asserted) and no packet can leave the machine.
What a test starts it stops by process id: `ip netns pids` lists exactly its own processes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import tomli_w

from conftest import REGRESSION, preset

pytest.importorskip("ray")
pytestmark = pytest.mark.slow
PORT = 6380  # the namespace is new: any port is free in it
SMALL = preset(REGRESSION, train={"epochs": 6}, validation={"scheme": "kfold", "k": 3})


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def netns():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2 (CI has both)")
    name = f"dltui-ray-{os.getpid()}-{secrets.token_hex(3)}"
    made = _ip("netns", "add", name, check=False)
    if made.returncode:
        pytest.skip(f"cannot make a network namespace here: {made.stderr.strip()}")
    try:
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        addresses = _ip("netns", "exec", name, "ip", "-o", "addr").stdout
        assert [line.split()[1] for line in addresses.splitlines()] == ["lo", "lo"], addresses
        yield name
    finally:
        kill_namespace(name)
        _ip("netns", "delete", name, check=False)


def kill_namespace(name: str) -> None:
    """Every process in the namespace: this test's Ray processes, and nothing else's."""
    for _ in range(20):
        pids = [int(p) for p in _ip("netns", "pids", name, check=False).stdout.split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def in_ns(name: str, home: Path, *command: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "CI": "true", "OMP_NUM_THREADS": "1"}
    env.pop("RAY_AUTH_MODE", None)
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(["ip", "netns", "exec", name, *command], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def dltui_sweep(name: str, home: Path, toml: Path, runs: Path, *extra: str) -> subprocess.CompletedProcess:
    return in_ns(name, home, sys.executable, "-m", "dltui.tui", "sweep", str(toml), "--backend",
                 "ray", "--runs-dir", str(runs), *extra)


@pytest.fixture
def head(netns, tmp_path):
    """`ray start --head` with a token in ~/.ray/auth_token, so Ray turns token auth on."""
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    temp = Path(tempfile.mkdtemp(prefix="dr", dir="/tmp"))  # Ray's socket paths must be short
    # `ray start` as the user types it, from this interpreter's Ray (PATH may lack the script)
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    env = {**os.environ, "HOME": str(home)}
    env.pop("RAY_AUTH_MODE", None)
    log = open(tmp_path / "head.log", "w")
    proc = subprocess.Popen(["ip", "netns", "exec", netns, *ray_cli, "start", "--head", "--port",
                             str(PORT), "--node-ip-address", "127.0.0.1", "--temp-dir", str(temp),
                             "--num-cpus", "2", "--include-dashboard", "false",
                             "--disable-usage-stats", "--block"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while "Ray runtime started" not in (tmp_path / "head.log").read_text():
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "head.log").read_text()
        time.sleep(0.5)
    said = (tmp_path / "head.log").read_text()
    assert "Local node IP: 127.0.0.1" in said and "Token authentication is enabled" in said
    yield netns, home, temp
    kill_namespace(netns)
    proc.wait(timeout=30)
    log.close()
    shutil.rmtree(temp, ignore_errors=True)


def ranking(folder: Path) -> dict[int, tuple[str, float | None]]:
    (sweep,) = list(folder.iterdir())
    rows = json.loads((sweep / "sweep.json").read_text())["ranking"]
    return {r["index"]: (r["status"], r["mean"]) for r in rows}


def test_a_sweep_on_a_ray_start_cluster_with_token_auth_equals_the_local_backend(head, tmp_path):
    netns, home, temp = head
    raw = preset(SMALL, sweep={"model.layers[0].units": [4, 8], "train.learning_rate": [1e-3, 1e-2]})
    toml = tmp_path / "p.toml"
    toml.write_text(tomli_w.dumps(raw))
    there = dltui_sweep(netns, home, toml, tmp_path / "cluster", "--address", f"127.0.0.1:{PORT}")
    assert there.returncode == 0, there.stderr[-3000:]
    assert "InvalidAuthToken" not in there.stderr and "Traceback" not in there.stderr
    nodes = list(temp.glob("session_*/logs/raylet.out"))
    assert nodes and all("127.0.0.1" in n.read_text() for n in nodes)
    here = subprocess.run([sys.executable, "-m", "dltui.tui", "sweep", str(toml), "--runs-dir",
                           str(tmp_path / "local")], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert here.returncode == 0, here.stderr[-2000:]
    a, b = ranking(tmp_path / "cluster"), ranking(tmp_path / "local")
    assert a.keys() == b.keys() == {1, 2, 3, 4}
    for index in a:
        assert a[index][0] == b[index][0] == "done"
        assert a[index][1] == pytest.approx(b[index][1], rel=1e-6)


def test_a_wrong_token_is_one_line(head, tmp_path):
    netns, _home, _ = head
    toml = tmp_path / "p.toml"
    toml.write_text(tomli_w.dumps(preset(SMALL, sweep={"train.learning_rate": [1e-3, 1e-2]})))
    other = tmp_path / "other-home"
    (other / ".ray").mkdir(parents=True)
    (other / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    done = dltui_sweep(netns, other, toml, tmp_path / "runs", "--address", f"127.0.0.1:{PORT}")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().count("\n") == 0, done.stderr[-2000:]
    assert "wants its token" in done.stderr and "~/.ray/auth_token" in done.stderr


def test_a_head_killed_mid_sweep_is_one_line_and_the_finished_variants_stay(head, tmp_path):
    netns, home, _ = head
    # three architectures (one task each, two at a time on two CPUs), the last one slow
    raw = preset(SMALL, train={"epochs": 3},
                 sweep={"variants": [{"name": "a", "model.layers[0].units": 2},
                                     {"name": "b", "model.layers[0].units": 3},
                                     {"name": "slow", "model.layers[0].units": 5,
                                      "train.epochs": 3000}]})
    toml = tmp_path / "p.toml"
    toml.write_text(tomli_w.dumps(raw))
    env = {**os.environ, "HOME": str(home), "CI": "true", "OMP_NUM_THREADS": "1"}
    env.pop("RAY_AUTH_MODE", None)
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-m", "dltui.tui",
                             "sweep", str(toml), "--backend", "ray", "--address",
                             f"127.0.0.1:{PORT}", "--runs-dir", str(tmp_path / "runs")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while True:  # until two variants are done and the slow one trains
        sweeps = list((tmp_path / "runs").glob("*/sweep.json"))
        rows = json.loads(sweeps[0].read_text())["ranking"] if sweeps else []
        if sum(r["status"] == "done" for r in rows) >= 2:
            break
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.5)
    head_pids = [int(p) for p in _ip("netns", "pids", netns).stdout.split()]
    for pid in head_pids:  # the cluster's processes only: the sweep's driver lives on
        if pid != proc.pid and "dltui.tui" not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert "sweep failed: the Ray cluster at 127.0.0.1:6380 stopped answering" in last
    assert "2 of 3 variants had finished and are kept" in last
    assert "Traceback" not in err
    status = {i: s for i, (s, _) in ranking(tmp_path / "runs").items()}
    assert status == {1: "done", 2: "done", 3: "failed"}


def test_a_local_ray_instance_on_loopback_equals_local_and_a_killed_worker_fails_alone(netns,
                                                                                     tmp_path):
    """No address: dltui starts a local instance, registered as 127.0.0.1. Variants 1 and 2
    differ only in the learning rate: one stacked group, one Ray task. Variant 2 kills that
    task's worker; the group is retried one variant at a time, so variant 1 still finishes,
    equal to the local backend, and only variant 2 fails."""
    raw = preset(SMALL, sweep={"model.layers[0].units": [4, 8], "train.learning_rate": [1e-3, 1e-2]})
    toml = tmp_path / "p.toml"
    toml.write_text(tomli_w.dumps(raw))
    home = tmp_path / "home"
    home.mkdir()
    temp = Path(tempfile.mkdtemp(prefix="dr", dir="/tmp"))
    try:
        done = in_ns(netns, home, "env", f"RAY_TMPDIR={temp}", "DLTUI_SWEEP_KILL_VARIANT=2",
                     sys.executable, "-m", "dltui.tui", "sweep", str(toml), "--backend", "ray",
                     "--runs-dir", str(tmp_path / "ray"))
        assert done.returncode == 0, done.stderr[-3000:]
        nodes = list(temp.rglob("raylet.out"))
        assert nodes and all("127.0.0.1" in n.read_text() for n in nodes)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    here = subprocess.run([sys.executable, "-m", "dltui.tui", "sweep", str(toml), "--runs-dir",
                           str(tmp_path / "local")], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert here.returncode == 0, here.stderr[-2000:]
    there, local = ranking(tmp_path / "ray"), ranking(tmp_path / "local")
    assert there[2] == ("failed", None) and local[2][0] == "done"
    for index in (1, 3, 4):
        assert there[index][0] == "done"
        assert there[index][1] == pytest.approx(local[index][1], rel=1e-6), index
    (sweep,) = list((tmp_path / "ray").iterdir())
    failed = next(r for r in json.loads((sweep / "sweep.json").read_text())["ranking"]
                  if r["index"] == 2)
    assert "died" in failed["message"]
