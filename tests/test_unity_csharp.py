"""The Unity package (``unity_workers/unity/com.raylab.unity``), checked without Unity.

Its C# compiles with Mono's ``mcs`` against declaration-only stubs of the Unity, ROS-TCP-Connector and
generated ``ray_lab_interfaces`` APIs (``unity_workers/unity/stubs``), one stub assembly per real
assembly, so the runtime code may use only what its asmdef references. The command-line parser runs
under ``mono`` on the argv that :func:`unity_workers.launcher.command.player_command` builds.

Without ``mcs``/``mono`` these tests are skipped (``apt-get install mono-mcs``), except under ``CI=true``,
where they fail: CI must compile the C#.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unity_workers.launcher.command import player_command
from unity_workers.launcher.options import PlayerOptions
from unity_workers.reference_sim.cli import parse_options

ROOT = Path(__file__).resolve().parents[1]
UNITY = ROOT / "unity_workers" / "unity"
PACKAGE = UNITY / "com.raylab.unity"
RUNTIME = PACKAGE / "Runtime"
STUBS = UNITY / "stubs"
ARGS_PROBE = UNITY / "tests" / "ArgsProbe.cs"
INTERFACES = ROOT / "unity_workers" / "interfaces" / "ray_lab_interfaces"
INSTALL_HINT = "sudo apt-get install -y mono-mcs"
DEFINES = ("ROS2",)  # ray-lab's bridge speaks ROS 2; the package refuses to compile without it

# Stub assembly -> the stub assemblies it references, in build order (names of the real assemblies).
STUB_ASSEMBLIES: dict[str, tuple[str, ...]] = {
    "UnityEngine": (),
    "Unity.Robotics.ROSTCPConnector.MessageGeneration": (),
    "Unity.Robotics.ROSTCPConnector": ("UnityEngine", "Unity.Robotics.ROSTCPConnector.MessageGeneration"),
    "Unity.Robotics.ROSTCPConnector.Messages": ("Unity.Robotics.ROSTCPConnector.MessageGeneration",),
    "RayLab.Interfaces": (
        "Unity.Robotics.ROSTCPConnector.MessageGeneration",
        "Unity.Robotics.ROSTCPConnector.Messages",
    ),
}


def require_tool(name: str) -> str:
    """Path of ``name``; skips the test when missing, or fails it under ``CI=true``."""
    path = shutil.which(name)
    if path is None:
        message = f"`{name}` not found: install Mono's C# compiler and runtime with `{INSTALL_HINT}`"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{message} (CI=true: the C# check must run in CI)")
        pytest.skip(message)
    return path


def mcs(
    out: Path,
    sources: Sequence[Path],
    references: Sequence[Path] = (),
    *,
    target: str = "library",
    defines: Sequence[str] = DEFINES,
) -> subprocess.CompletedProcess[str]:
    """Compile ``sources`` into ``out`` with warnings as errors; the completed process."""
    argv = [require_tool("mcs"), "-nologo", f"-target:{target}", f"-out:{out}", "-warn:4", "-warnaserror+"]
    if defines:
        argv.append("-define:" + ";".join(defines))
    argv += [f"-r:{ref}" for ref in references]
    argv += [str(source) for source in sources]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def compiled_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"mcs failed ({result.returncode}):\n{result.stdout}{result.stderr}"


def asmdef_references(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    return [str(ref) for ref in data["references"]]


@pytest.fixture(scope="module")
def stub_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stub assemblies, compiled once for the module."""
    out = tmp_path_factory.mktemp("unity_stubs")
    for name, deps in STUB_ASSEMBLIES.items():
        compiled_ok(mcs(out / f"{name}.dll", [STUBS / f"{name}.cs"], [out / f"{dep}.dll" for dep in deps]))
    return out


def runtime_references(stub_dir: Path) -> list[Path]:
    """UnityEngine (implicit in Unity) plus exactly what RayLab.Runtime.asmdef references."""
    return [stub_dir / f"{name}.dll" for name in ["UnityEngine", *asmdef_references(RUNTIME / "RayLab.Runtime.asmdef")]]


def runtime_sources(directory: Path = RUNTIME) -> list[Path]:
    return sorted(directory.glob("*.cs"))


# ---------------------------------------------------------------------------------- compile checks


def test_stub_files_are_the_stub_assemblies() -> None:
    assert sorted(p.stem for p in STUBS.glob("*.cs")) == sorted(STUB_ASSEMBLIES)
    for name in asmdef_references(RUNTIME / "RayLab.Runtime.asmdef"):
        assert name in STUB_ASSEMBLIES, f"RayLab.Runtime.asmdef references {name}, which has no stub"


def test_runtime_compiles_against_the_stubs(stub_dir: Path, tmp_path: Path) -> None:
    result = mcs(tmp_path / "RayLab.Runtime.dll", runtime_sources(), runtime_references(stub_dir))
    compiled_ok(result)
    assert (tmp_path / "RayLab.Runtime.dll").stat().st_size > 0


@dataclass(frozen=True)
class Breakage:
    file: str
    old: str
    new: str
    expected: tuple[str, ...]  # fragments of the compiler's error


BREAKAGES = [
    # a member the real ROSConnection does not have
    Breakage("RayLabConnection.cs", "m_Ros.Connect();", "m_Ros.ConnectToBridge();", ("CS1061", "ConnectToBridge")),
    # a real member called with a wrong signature
    Breakage("EnvironmentServer.cs", "Physics.Simulate(dt);", "Physics.Simulate(dt, 2);", ("CS1501", "Simulate")),
    # a field the generated message does not have
    Breakage("EnvironmentServer.cs", "request.seed >= 0", "request.random_seed >= 0", ("CS1061", "random_seed")),
    # a Unity type used as if it had a member it lacks
    Breakage(
        "NavEnvironment.cs",
        "Vector3 t = target.position;\n            return new",
        "Vector3 t = target.position;\n            float w = t.w;\n            return new",
        ("CS1061", "`w'"),
    ),
    # a warning is an error too (unused variable)
    Breakage("CommandLineArgs.cs", "int eq = ", "int unused = 0; int eq = ", ("CS0219", "unused")),
]


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda b: f"{b.file}:{b.expected[0]}")
def test_the_compile_check_catches_api_misuse(stub_dir: Path, tmp_path: Path, breakage: Breakage) -> None:
    copy = tmp_path / "Runtime"
    shutil.copytree(RUNTIME, copy)
    source = copy / breakage.file
    text = source.read_text()
    assert text.count(breakage.old) == 1, f"{breakage.old!r} not found once in {breakage.file}"
    source.write_text(text.replace(breakage.old, breakage.new))
    result = mcs(tmp_path / "Broken.dll", runtime_sources(copy), runtime_references(stub_dir))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert breakage.file in output, output
    for fragment in breakage.expected:
        assert fragment in output, output


def test_runtime_refuses_the_ros1_protocol(stub_dir: Path, tmp_path: Path) -> None:
    ros1 = tmp_path / "ros1"
    ros1.mkdir()
    compiled_ok(
        mcs(
            ros1 / "Unity.Robotics.ROSTCPConnector.Messages.dll",
            [STUBS / "Unity.Robotics.ROSTCPConnector.Messages.cs"],
            [stub_dir / "Unity.Robotics.ROSTCPConnector.MessageGeneration.dll"],
            defines=(),
        )
    )
    references = [
        ros1 / ref.name if ref.name == "Unity.Robotics.ROSTCPConnector.Messages.dll" else ref
        for ref in runtime_references(stub_dir)
    ]
    result = mcs(tmp_path / "RayLab.Runtime.dll", runtime_sources(), references, defines=())
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "CS1029" in output and "ROS2" in output, output  # the #error directive, naming the fix


# ---------------------------------------------------------------------------------- stubs vs interfaces

ROS_TO_CSHARP = {
    "bool": "bool",
    "byte": "byte",
    "char": "byte",
    "int8": "sbyte",
    "uint8": "byte",
    "int16": "short",
    "uint16": "ushort",
    "int32": "int",
    "uint32": "uint",
    "int64": "long",
    "uint64": "ulong",
    "float32": "float",
    "float64": "double",
    "string": "string",
}


def csharp_namespace(package: str) -> str:
    """The namespace (under ``RosMessageTypes``) of a ROS package's C# messages: ``sensor_msgs`` -> ``Sensor``."""
    return "".join(part.capitalize() for part in package.removesuffix("_msgs").split("_"))


def csharp_type(ros_type: str) -> str:
    """The C# field type ROS-TCP-Connector generates for a field of ``ros_type`` (a message of another
    package is named relative to ``RosMessageTypes``: ``sensor_msgs/Image`` -> ``Sensor.ImageMsg``)."""
    if ros_type.endswith("[]"):
        return csharp_type(ros_type[:-2]) + "[]"
    if "/" in ros_type:
        package, name = ros_type.split("/")
        return f"{csharp_namespace(package)}.{name}Msg"
    return ROS_TO_CSHARP.get(ros_type, f"{ros_type}Msg")


def ros_fields(text: str) -> list[tuple[str, str]]:
    """(C# type, name) of each field of a .msg (or one half of a .srv), constants skipped."""
    fields = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or "=" in line:
            continue
        ros_type, name = line.split()[:2]
        fields.append((csharp_type(ros_type), name))
    return fields


def stub_classes() -> dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]]:
    """Each stub message class of RayLab.Interfaces: (its fields, its full constructor's parameters)."""
    text = (STUBS / "RayLab.Interfaces.cs").read_text()
    classes = {}
    for match in re.finditer(r"public class (\w+) : Message\s*\{(.*?)\n    \}", text, re.S):
        name, body = match.group(1), match.group(2)
        fields = re.findall(r"public ([\w.\[\]]+) (\w+);", body)
        params = re.search(rf"public {name}\(([^)]+)\)", body)
        assert params is not None, f"{name} has no constructor taking its fields"
        ctor = [tuple(p.split()) for p in params.group(1).replace("\n", " ").split(",")]
        classes[name] = ([(t, n) for t, n in fields], [(t, n) for t, n in ctor])
    return classes


def test_interface_stubs_match_the_ros_definitions() -> None:
    expected: dict[str, list[tuple[str, str]]] = {}
    for msg in sorted((INTERFACES / "msg").glob("*.msg")):
        expected[f"{msg.stem}Msg"] = ros_fields(msg.read_text())
    for srv in sorted((INTERFACES / "srv").glob("*.srv")):
        request, response = srv.read_text().split("\n---", 1)
        expected[f"{srv.stem}Request"] = ros_fields(request)
        expected[f"{srv.stem}Response"] = ros_fields(response)
    classes = stub_classes()
    assert sorted(classes) == sorted(expected)
    for name, fields in expected.items():
        assert classes[name][0] == fields, f"{name}: stub fields differ from the ROS definition"
        assert classes[name][1] == fields, f"{name}: constructor parameters differ from the fields"


# ---------------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def args_probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """argv prefix that runs ArgsProbe.exe (CommandLineArgs.cs alone: it must need no Unity API)."""
    out = tmp_path_factory.mktemp("args_probe") / "ArgsProbe.exe"
    compiled_ok(mcs(out, [RUNTIME / "CommandLineArgs.cs", ARGS_PROBE], target="exe", defines=()))
    yield [require_tool("mono"), str(out)]


def probe(prefix: list[str], args: Sequence[str]) -> tuple[int, dict[str, list[str]]]:
    """Run the probe on ``args``; its exit code and its ``key=value`` lines grouped by key."""
    result = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=60)
    assert result.stderr == "", result.stderr
    parsed: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        parsed.setdefault(key, []).append(value)
    return result.returncode, parsed


def as_f32(text: str) -> np.float32:
    return np.float32(float(text))


def launcher_argv(tmp_path: Path, port: int, **overrides: Any) -> list[str]:
    """What the launcher runs, without the executable."""
    options = PlayerOptions(build=Path("/opt/lab/nav.x86_64"), log_dir=tmp_path, worker_index=3, **overrides)
    argv = player_command(options, port)
    assert argv[0] == "/opt/lab/nav.x86_64"
    return argv[1:]


def test_parser_reads_every_option_the_launcher_sends(args_probe: list[str], tmp_path: Path) -> None:
    argv = launcher_argv(
        tmp_path,
        43210,
        environment_id=7,
        time_scale=2.5,
        sample_time=0.1,
        fixed_delta_time=0.01,
        fixed_updates_per_step=10,
        pause=True,
        agents=4,
        extra_args=("--lab-flag", "x"),
    )
    code, out = probe(args_probe, argv)
    assert code == 0, out
    assert out["ros_ip"] == ["127.0.0.1"]
    assert out["ros_port"] == ["43210"]
    assert out["environment_id"] == ["7"]
    assert as_f32(out["time_scale"][0]) == np.float32(2.5)
    assert as_f32(out["sample_time"][0]) == np.float32(0.1)
    assert as_f32(out["fixed_delta_time"][0]) == np.float32(0.01)
    assert out["fixed_updates_per_step"] == ["10"]
    assert out["pause"] == ["true"]
    assert out["agents"] == ["4"]
    assert as_f32(out["resolved_time_scale"][0]) == np.float32(2.5)  # --time-scale wins over --sample-time
    # Unity's own flags and the lab's extra args are left alone, not errors.
    assert out["ignored"] == [
        "-batchmode",
        "-nographics",
        "-logFile",
        argv[argv.index("-logFile") + 1],
        "--lab-flag",
        "x",
    ]
    assert "error" not in out


def test_parser_defaults_and_derived_time_scale(args_probe: list[str], tmp_path: Path) -> None:
    argv = launcher_argv(tmp_path, 10001, sample_time=0.2, graphics=True)
    assert "-nographics" not in argv and "--time-scale" not in argv
    code, out = probe(args_probe, argv)
    assert code == 0, out
    assert out["environment_id"] == ["0"]
    assert out["time_scale"] == ["none"]
    assert out["fixed_delta_time"] == ["none"] and out["fixed_updates_per_step"] == ["none"]
    assert out["pause"] == ["false"]
    assert out["agents"] == ["none"]  # one agent: the launcher sends no --agents
    # sample_time / fixed_delta_time / fixed_updates_per_step, as the Python reference simulator derives it
    reference, _, _ = parse_options(argv)
    assert reference.fixed_delta_time == 0.02 and reference.fixed_updates_per_step == 5  # the probe's defaults
    assert as_f32(out["resolved_time_scale"][0]) == np.float32(reference.time_scale)


def test_parser_without_timing_options_leaves_time_alone(args_probe: list[str], tmp_path: Path) -> None:
    code, out = probe(args_probe, launcher_argv(tmp_path, 65535))
    assert code == 0, out
    assert out["ros_port"] == ["65535"]
    assert out["resolved_time_scale"] == ["none"]


def test_parser_accepts_equals_form_and_last_flag_wins(args_probe: list[str]) -> None:
    code, out = probe(
        args_probe, ["--ros-port=1234", "--ros-port", "2345", "--env-name=arm", "--fixed-delta-time=1e-3", "-x"]
    )
    assert code == 0, out
    assert out["ros_port"] == ["2345"]
    assert out["env_name"] == ["arm"]
    assert as_f32(out["fixed_delta_time"][0]) == np.float32(0.001)
    assert out["ignored"] == ["-x"]


def test_parser_rejects_bad_values_with_exit_code_2(args_probe: list[str]) -> None:
    argv = [
        "--ros-port", "0",
        "--environment-id", "-1",
        "--time-scale", "fast",
        "--sample-time", "nan",
        "--fixed-delta-time", "0",
        "--fixed-updates-per-step", "1.5",
        "--pause=yes",
        "--agents", "0",
        "--ros-ip",
    ]  # fmt: skip
    code, out = probe(args_probe, argv)
    assert code == 2, out
    errors = out["error"]
    for flag in (
        "--ros-port",
        "--environment-id",
        "--time-scale",
        "--sample-time",
        "--fixed-delta-time",
        "--fixed-updates-per-step",
        "--pause",
        "--agents",
        "--ros-ip",
    ):
        assert any(e.startswith(flag + " ") for e in errors), (flag, errors)
    assert "--ros-port must be an integer in 1..65535, got '0'" in errors
    assert "--ros-ip needs a value" in errors


def test_every_launcher_flag_is_known_to_the_parser(tmp_path: Path) -> None:
    """Static twin of the probe tests (runs without Mono): each --flag the launcher can emit is parsed."""
    argv = launcher_argv(
        tmp_path,
        10000,
        time_scale=1.0,
        sample_time=0.1,
        fixed_delta_time=0.02,
        fixed_updates_per_step=5,
        pause=True,
        agents=4,
    )
    source = (RUNTIME / "CommandLineArgs.cs").read_text()
    flags = [arg for arg in argv if arg.startswith("--")]
    assert len(flags) >= 9, flags  # all of them are on; a flag added to the launcher must be parsed too
    for flag in flags:
        assert f'case "{flag}":' in source or f'flag == "{flag}"' in source, flag


# ---------------------------------------------------------------------------------- package layout


def test_package_manifest_and_assembly_definitions() -> None:
    manifest = json.loads((PACKAGE / "package.json").read_text())
    assert manifest["name"] == "com.raylab.unity"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert "com.unity.robotics.ros-tcp-connector" in manifest["dependencies"]
    runtime = json.loads((RUNTIME / "RayLab.Runtime.asmdef").read_text())
    assert runtime["name"] == "RayLab.Runtime"
    assert "RayLab.Interfaces" in runtime["references"]
    template = json.loads((PACKAGE / "Interfaces~" / "RayLab.Interfaces.asmdef").read_text())
    assert template["name"] == "RayLab.Interfaces"


def test_every_package_asset_has_a_meta_file() -> None:
    """Unity ignores files without .meta in immutable (git) packages; guids must be unique."""
    guids: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*")):
        relative = path.relative_to(PACKAGE)
        if any(part.endswith("~") or part.startswith(".") for part in relative.parts):
            continue  # Unity skips these folders and files
        if path.suffix == ".meta":
            assert path.with_suffix("").exists(), f"orphan meta file {relative}"
            continue
        meta = path.with_name(path.name + ".meta")
        assert meta.is_file(), f"{relative} has no .meta file"
        match = re.search(r"^guid: ([0-9a-f]{32})$", meta.read_text(), re.M)
        assert match is not None, f"{meta.name} has no guid"
        assert match.group(1) not in guids, f"{relative} and {guids[match.group(1)]} share a guid"
        guids[match.group(1)] = relative


# ---------------------------------------------------------------------------------- the skip rule


def test_missing_compiler_skips_or_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y mono-mcs"):
        require_tool("mcs")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y mono-mcs"):
        require_tool("mcs")
