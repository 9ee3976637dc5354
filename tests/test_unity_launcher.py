"""unity_workers.launcher with real subprocesses: fake players are small Python scripts in tmp_path."""

from __future__ import annotations

import socket
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from unity_workers.launcher import (
    LaunchConfigError,
    PlayerDiedError,
    PlayerOptions,
    UnityProcess,
    check_log_dir,
    free_port,
    player_command,
)
from unity_workers.ros_tcp import RosTcpBridge

# Parses -logFile/--ros-port, writes argv to the log, connects, optionally spawns a child and/or
# ignores SIGTERM, then stays alive.
CONNECTING_PLAYER = """\
import os, signal, socket, subprocess, sys, time
argv = sys.argv[1:]
log = argv[argv.index("-logFile") + 1]
port = int(argv[argv.index("--ros-port") + 1])
with open(log, "w") as f:
    f.write("ARGV " + " ".join(argv) + "\\n")
    f.flush()
if os.environ.get("FAKE_IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child_file = os.environ.get("FAKE_CHILD_PID_FILE")
if child_file:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(child_file, "w") as f:
        f.write(str(child.pid))
print("player stdout line", flush=True)
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
while True:
    time.sleep(0.1)
"""

DYING_PLAYER = """\
import sys
argv = sys.argv[1:]
log = argv[argv.index("-logFile") + 1]
with open(log, "w") as f:
    for i in range(60):
        f.write(f"loading scene {i}\\n")
    f.write("ERROR: no license for this machine\\n")
print("dying player stderr", file=sys.stderr)
sys.exit(7)
"""

SILENT_PLAYER = """\
import time
time.sleep(60)
"""


def make_player(tmp_path: Path, source: str, name: str = "player.x86_64", executable: bool = True) -> Path:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n{source}")
    path.chmod(0o755 if executable else 0o644)
    return path


def options_for(build: Path, tmp_path: Path, **kwargs: Any) -> PlayerOptions:
    return PlayerOptions(build=build, log_dir=tmp_path / "logs", worker_index=3, **kwargs)


def gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (absent, or a zombie waiting for a reaper that is not us)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


class Server:
    """A real TCP listener on a port-0 socket that counts accepted connections."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.close()


# ---------------------------------------------------------------------- command line
def test_command_line_headless(tmp_path: Path) -> None:
    opts = PlayerOptions(
        build=tmp_path / "Env.x86_64",
        log_dir=tmp_path / "logs",
        worker_index=2,
        environment_id=5,
        time_scale=20.0,
        sample_time=0.1,
        fixed_delta_time=0.02,
        fixed_updates_per_step=5,
        pause=True,
        extra_args=("--seed", "42"),
    )
    assert player_command(opts, 41234) == [
        str(tmp_path / "Env.x86_64"),
        "-batchmode",
        "-nographics",
        "-logFile",
        str(tmp_path / "logs" / "worker_2.log"),
        "--ros-ip",
        "127.0.0.1",
        "--ros-port",
        "41234",
        "--environment-id",
        "5",
        "--time-scale",
        "20.0",
        "--sample-time",
        "0.1",
        "--fixed-delta-time",
        "0.02",
        "--fixed-updates-per-step",
        "5",
        "--pause",
        "--seed",
        "42",
    ]


def test_command_line_graphics_window_and_command_prefix(tmp_path: Path) -> None:
    graphics = PlayerOptions(build=tmp_path / "Env.x86_64", log_dir=tmp_path, worker_index=0, graphics=True)
    argv = player_command(graphics, 1000)
    assert "-batchmode" in argv and "-nographics" not in argv
    for flag in ("--time-scale", "--sample-time", "--fixed-delta-time", "--fixed-updates-per-step", "--pause"):
        assert flag not in argv
    window = PlayerOptions(build=tmp_path / "Env.x86_64", log_dir=tmp_path, worker_index=0, batchmode=False)
    assert "-batchmode" not in player_command(window, 1000) and "-nographics" not in player_command(window, 1000)
    module = PlayerOptions(command=[sys.executable, "-m", "sim"], log_dir=tmp_path, worker_index=1)
    assert player_command(module, 1000)[:4] == [sys.executable, "-m", "sim", "-batchmode"]
    with pytest.raises(ValueError, match="exactly one"):
        PlayerOptions(log_dir=tmp_path, worker_index=0)
    with pytest.raises(ValueError, match="fixed_updates_per_step"):
        PlayerOptions(build=tmp_path, log_dir=tmp_path, worker_index=0, fixed_updates_per_step=0)


def test_command_line_agents_flag_only_for_several_agents(tmp_path: Path) -> None:
    one = PlayerOptions(build=tmp_path / "Env.x86_64", log_dir=tmp_path, worker_index=0)
    assert one.agents == 1 and "--agents" not in player_command(one, 1000)
    argv = player_command(
        PlayerOptions(build=tmp_path / "Env.x86_64", log_dir=tmp_path, worker_index=0, agents=16), 1000
    )
    assert argv[argv.index("--agents") + 1] == "16" and argv.count("--agents") == 1
    extra = PlayerOptions(command=["sim"], log_dir=tmp_path, worker_index=0, agents=4, pause=True, extra_args=("-x",))
    assert player_command(extra, 1000)[-4:] == ["--pause", "--agents", "4", "-x"]  # before the extra args
    for bad in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match=f"agents must be an integer >= 1, got {bad!r}"):
            PlayerOptions(build=tmp_path, log_dir=tmp_path, worker_index=0, agents=bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- pre-launch checks
def test_missing_build(tmp_path: Path) -> None:
    with pytest.raises(LaunchConfigError, match="not found") as info:
        UnityProcess(options_for(tmp_path / "nope" / "Env.x86_64", tmp_path)).start(1000)
    assert str(tmp_path / "nope" / "Env.x86_64") in str(info.value)


def test_directory_instead_of_build_lists_candidates(tmp_path: Path) -> None:
    build_dir = tmp_path / "LinuxBuild"
    build_dir.mkdir()
    make_player(build_dir, SILENT_PLAYER, "Drone.x86_64")
    with pytest.raises(LaunchConfigError, match="directory") as info:
        UnityProcess(options_for(build_dir, tmp_path)).start(1000)
    assert "Drone.x86_64" in str(info.value)


def test_no_exec_bit(tmp_path: Path) -> None:
    build = make_player(tmp_path, SILENT_PLAYER, executable=False)
    with pytest.raises(LaunchConfigError, match=r"chmod \+x") as info:
        UnityProcess(options_for(build, tmp_path)).start(1000)
    assert str(build) in str(info.value)
    assert not stat.S_IMODE(build.stat().st_mode) & 0o111


def test_log_dir_not_creatable(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(LaunchConfigError, match="log folder"):
        check_log_dir(blocker / "logs")
    build = make_player(tmp_path, SILENT_PLAYER)
    opts = PlayerOptions(build=build, log_dir=blocker / "logs", worker_index=0)
    with pytest.raises(LaunchConfigError, match="cannot create"):
        UnityProcess(opts).start(1000)


# ---------------------------------------------------------------------- running players
def test_player_connects_and_logs_its_argv(tmp_path: Path, server: Server) -> None:
    build = make_player(tmp_path, CONNECTING_PLAYER)
    player = UnityProcess(options_for(build, tmp_path, time_scale=4.0)).start(server.port)
    try:
        player.wait_connected(lambda: len(server.accepted) > 0, timeout_s=10)
        assert player.alive and player.returncode is None and player.pid is not None
        assert player.log_path == tmp_path / "logs" / "worker_3.log"
        tail = player.log_tail()
        assert f"--ros-port {server.port}" in tail and "-nographics" in tail and "--time-scale 4.0" in tail
    finally:
        code = player.close()
    assert code is not None and not player.alive
    assert "player stdout line" in player.output_tail()


def test_player_connects_to_ros_tcp_bridge_via_command(tmp_path: Path) -> None:
    script = make_player(tmp_path, CONNECTING_PLAYER, "sim.py", executable=False)
    opts = PlayerOptions(command=[sys.executable, str(script)], log_dir=tmp_path / "logs", worker_index=0)
    with RosTcpBridge(port=0) as bridge, UnityProcess(opts) as player:
        player.start(bridge.port)
        player.wait_connected(lambda: bridge.connected, timeout_s=10)
        assert bridge.connected
    assert not player.alive


def test_player_dies_before_connecting(tmp_path: Path, server: Server) -> None:
    build = make_player(tmp_path, DYING_PLAYER)
    player = UnityProcess(options_for(build, tmp_path)).start(server.port)
    with pytest.raises(PlayerDiedError, match="exited with code 7") as info:
        player.wait_connected(lambda: len(server.accepted) > 0, timeout_s=10)
    assert info.value.returncode == 7 and player.returncode == 7
    assert "no license" in info.value.log_tail and "no license" in str(info.value)
    assert "loading scene 59" in str(info.value) and "loading scene 5\n" not in str(info.value)
    assert "dying player stderr" in str(info.value)
    player.close()


def test_connect_timeout_reports_log(tmp_path: Path, server: Server) -> None:
    build = make_player(tmp_path, SILENT_PLAYER)
    with UnityProcess(options_for(build, tmp_path)) as player:
        player.start(server.port)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="did not connect"):
            player.wait_connected(lambda: False, timeout_s=0.5)
        assert time.monotonic() - t0 < 3 and player.alive


def test_close_kills_whole_process_group_and_is_idempotent(tmp_path: Path, server: Server) -> None:
    build = make_player(tmp_path, CONNECTING_PLAYER)
    child_file = tmp_path / "child.pid"
    opts = options_for(build, tmp_path, env={"FAKE_CHILD_PID_FILE": str(child_file)})
    player = UnityProcess(opts).start(server.port)
    player.wait_connected(lambda: len(server.accepted) > 0, timeout_s=10)
    assert player.pid is not None
    child_pid = int(child_file.read_text())
    assert not gone(player.pid) and not gone(child_pid)
    player.close(timeout_s=3)
    assert gone(player.pid) and gone(child_pid)
    assert player.returncode is not None
    player.close()  # harmless
    UnityProcess(opts).close()  # never started: harmless too


def test_close_escalates_to_sigkill(tmp_path: Path, server: Server) -> None:
    build = make_player(tmp_path, CONNECTING_PLAYER)
    player = UnityProcess(options_for(build, tmp_path, env={"FAKE_IGNORE_TERM": "1"})).start(server.port)
    player.wait_connected(lambda: len(server.accepted) > 0, timeout_s=10)
    t0 = time.monotonic()
    assert player.close(timeout_s=0.5) == -9
    assert time.monotonic() - t0 < 3


# ---------------------------------------------------------------------- ports
def test_concurrent_bridges_get_distinct_ports() -> None:
    bridges = [RosTcpBridge(port=0) for _ in range(20)]
    ports: list[int] = []
    lock = threading.Lock()

    def start(bridge: RosTcpBridge) -> None:
        bridge.start()
        with lock:
            ports.append(bridge.port)

    threads = [threading.Thread(target=start, args=(bridge,)) for bridge in bridges]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(ports) == 20 and len(set(ports)) == 20
    finally:
        for bridge in bridges:
            bridge.close()


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.create_server(("127.0.0.1", port)):
        pass
