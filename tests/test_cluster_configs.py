"""The cluster configs under cluster/, checked with Ray's own code and against what the configs ask for.

- cluster/ray-cluster.yaml goes through what `ray up` runs before it touches a machine (`prepare_config`,
  the JSON-schema `validate_config`, `_bootstrap_config`); its start commands run in bash with stub
  `hostname`/`ray` programs, one run per machine, and `ray start`'s own option parser reads what each
  machine would start with.
- cluster/kuberay/*.yaml: every RayCluster spec (the standalone one and the RayJob's) goes through the
  config reader of KubeRay's autoscaler sidecar, which yields each group's resources; the RayJob's sweep
  spec loads with ray-lab's own spec checks.
- Every custom resource that configs/, the docs or the RayJob ask for (`workers.resources`,
  `learner.resources`, sweep `resources.worker_resources`; at least `unity`) is advertised by some node
  of each cluster, and so is a GPU.
- cluster/Dockerfile installs the project, runs as a non-root user and has the Unity runtime libraries;
  the image tag is the same in the README's build command, the launcher and both manifests.

No network, no Ray cluster: a few seconds.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "cluster"
LAUNCHER = CLUSTER / "ray-cluster.yaml"
RAYCLUSTER = CLUSTER / "kuberay" / "raycluster.yaml"
RAYJOB = CLUSTER / "kuberay" / "rayjob-sweep.yaml"
DOCKERFILE = CLUSTER / "Dockerfile"
CLUSTER_README = CLUSTER / "README.md"

STANDARD_RESOURCES = {"CPU", "GPU", "TPU", "memory", "object_store_memory"}
UNITY_RUNTIME_LIBS = {"libgl1", "libglu1-mesa", "libxcursor1", "libxrandr2", "libxi6", "libx11-6"}
LAUNCHER_TOOLS = {"bash", "rsync", "openssh-client", "hostname", "procps"}
PINNED_PORT_FLAGS = (
    "object_manager_port",
    "node_manager_port",
    "runtime_env_agent_port",
    "dashboard_agent_grpc_port",
    "dashboard_agent_listen_port",
    "metrics_export_port",
    "min_worker_port",
    "max_worker_port",
)
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)


# --- helpers ---------------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def bootstrap(config: dict[str, Any]) -> dict[str, Any]:
    """What `ray up` makes of the file before it contacts any machine (no config cache written)."""
    from ray.autoscaler._private.commands import _bootstrap_config

    return _bootstrap_config(copy.deepcopy(config), no_config_cache=True)


def ray_start_params(argv: list[str]) -> dict[str, Any]:
    """`ray start`'s own click parser on `argv` (everything after `ray start`): unknown or mistyped flags raise."""
    from ray.scripts.scripts import start

    return start.make_context("start", list(argv)).params


def run_start_commands(commands: list[str], tmp_path: Path, host_ip: str) -> tuple[int, str, list[list[str]]]:
    """Run start commands in bash as Ray runs them on `host_ip`, with stubs for `hostname` and `ray`.

    Returns bash's exit code, its stderr and the argv of every `ray start` (after `start`).
    """
    from ray.autoscaler._private.util import with_head_node_ip

    stubs = tmp_path / f"stubs-{host_ip}"
    stubs.mkdir()
    calls = stubs / "ray-calls.jsonl"
    hostname = stubs / "hostname"
    hostname.write_text(f'#!/bin/sh\n[ "$1" = "-I" ] && echo "{host_ip} 172.17.0.1 " || echo node\n')
    ray = stubs / "ray"
    ray.write_text(
        f"#!{sys.executable}\nimport json, sys\nopen({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    for stub in (hostname, ray):
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    script = "\n".join(with_head_node_ip(commands, "10.0.0.10"))
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30, check=False)
    argvs = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return done.returncode, done.stderr, [argv[1:] for argv in argvs if argv[:1] == ["start"]]


def advertised(params: dict[str, Any]) -> dict[str, float]:
    """The resources a `ray start` advertises beyond what Ray detects: GPUs and custom resources."""
    resources: dict[str, float] = json.loads(params["resources"] or "{}")
    if params.get("num_gpus"):
        resources["GPU"] = float(params["num_gpus"])
    return resources


def kuberay_clusters() -> dict[str, dict[str, Any]]:
    """Every RayCluster spec in the manifests, by where it comes from."""
    clusters = {"raycluster.yaml": next(doc for doc in load_all(RAYCLUSTER) if doc["kind"] == "RayCluster")}
    job = next(doc for doc in load_all(RAYJOB) if doc["kind"] == "RayJob")
    clusters["rayjob-sweep.yaml"] = {
        "metadata": {"name": job["metadata"]["name"]},
        "spec": job["spec"]["rayClusterSpec"],
    }
    return clusters


def autoscaling_config(ray_cr: dict[str, Any]) -> dict[str, Any]:
    """What KubeRay's autoscaler sidecar reads from the RayCluster (it runs Ray's validate_config too)."""
    from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

    cr = copy.deepcopy(ray_cr)
    cr["metadata"].setdefault("namespace", "default")
    return _derive_autoscaling_config_from_ray_cr(cr)


def group_specs(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "headgroup", spec["headGroupSpec"]
    for group in spec["workerGroupSpecs"]:
        yield group["groupName"], group


def containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for _, group in group_specs(spec):
        yield from group["template"]["spec"]["containers"]


def rayjob_sweep_spec() -> tuple[str, str]:
    """The RayJob's sweep spec: (path in the head pod, YAML text from the ConfigMap)."""
    docs = load_all(RAYJOB)
    job = next(doc for doc in docs if doc["kind"] == "RayJob")
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:4] == ["python", "-m", "ray_lab", "sweep"], argv
    spec_path = argv[argv.index("--spec") + 1]
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in head["containers"][0]["volumeMounts"]}
    for volume in head["volumes"]:
        if "configMap" in volume and str(Path(spec_path).parent) == mounts.get(volume["name"]):
            config_map = next(
                doc
                for doc in docs
                if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == volume["configMap"]["name"]
            )
            return spec_path, config_map["data"][Path(spec_path).name]
    raise AssertionError(f"{spec_path} is not in a ConfigMap mounted into the head pod")


def requested_in_config(data: Any) -> set[str]:
    """Custom resource names an experiment config or sweep spec (or a YAML snippet of one) asks for."""
    names: set[str] = set()
    if not isinstance(data, dict):
        return names
    for section, key in (("workers", "resources"), ("learner", "resources"), ("resources", "worker_resources")):
        part = data.get(section)
        if isinstance(part, dict) and isinstance(part.get(key), dict):
            names |= set(part[key])
    return names - STANDARD_RESOURCES


def requested_in_markdown(text: str) -> set[str]:
    """Custom resource names in a doc: YAML code blocks, and inline `workers.resources: {unity: 1}` forms."""
    names: set[str] = set()
    for block in re.findall(r"```ya?ml\n(.*?)```", text, flags=re.DOTALL):
        try:
            names |= requested_in_config(yaml.safe_load(block))
        except yaml.YAMLError:
            continue
    inline = r"(?:workers\.resources|learner\.resources|worker_resources)`?\s*[:=]\s*'?\{([^{}]*)\}"
    for body in re.findall(inline, text):
        names |= set(re.findall(r"([A-Za-z_][\w.-]*)\s*:", body))
    return names - STANDARD_RESOURCES


def requested_resources() -> dict[str, set[str]]:
    """Every custom resource name asked for, with where it was asked."""
    where: dict[str, set[str]] = {}
    sources: list[tuple[str, set[str]]] = []
    for path in sorted((REPO / "configs").rglob("*.yaml")):
        sources.append((str(path.relative_to(REPO)), requested_in_config(load_yaml(path))))
    for path in [REPO / "README.md", CLUSTER_README, *sorted((REPO / "docs").glob("*.md"))]:
        sources.append((str(path.relative_to(REPO)), requested_in_markdown(path.read_text(encoding="utf-8"))))
    sources.append(("rayjob-sweep.yaml spec", requested_in_config(yaml.safe_load(rayjob_sweep_spec()[1]))))
    for source, names in sources:
        for name in names:
            where.setdefault(name, set()).add(source)
    return where


def launcher_nodes(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """`ray start` params of every machine of the launcher config, by IP."""
    config = bootstrap(load_yaml(LAUNCHER))
    provider = config["provider"]
    nodes: dict[str, dict[str, Any]] = {}
    code, err, starts = run_start_commands(config["head_start_ray_commands"], tmp_path, provider["head_ip"])
    assert code == 0 and len(starts) == 1, (code, err, starts)
    nodes[provider["head_ip"]] = ray_start_params(starts[0])
    for ip in provider["worker_ips"]:
        code, err, starts = run_start_commands(config["worker_start_ray_commands"], tmp_path, ip)
        assert code == 0, f"worker {ip}: the start commands failed: {err}"
        assert len(starts) == 1, starts
        nodes[ip] = ray_start_params(starts[0])
    return nodes


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of cluster/Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        words = (pending + line).split(None, 1)
        pending = ""
        instructions.append((words[0].upper(), words[1] if len(words) > 1 else ""))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def readme_image_tag() -> str:
    match = re.search(r"docker build -f cluster/Dockerfile -t (\S+) \.", CLUSTER_README.read_text(encoding="utf-8"))
    assert match, "cluster/README.md has no `docker build -f cluster/Dockerfile -t TAG .` command"
    return match.group(1)


def pinned_ray_version() -> str:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(dep.split("==")[1] for dep in dependencies if dep.startswith("ray["))


# --- the cluster launcher config -------------------------------------------------------------------


def test_launcher_config_passes_rays_own_checks() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = load_yaml(LAUNCHER)
    assert raw["provider"]["type"] == "local"
    # Ray's local provider aborts on node types of the user's: the machine classes live in the start commands.
    assert "available_node_types" not in raw and "head_node_type" not in raw
    validate_config(prepare_config(copy.deepcopy(raw)))
    config = bootstrap(raw)
    (node_type,) = config["available_node_types"].values()
    workers = len(raw["provider"]["worker_ips"])
    assert raw["max_workers"] == node_type["min_workers"] == node_type["max_workers"] == workers
    assert raw["docker"]["image"] and raw["docker"]["container_name"]
    assert any(remote.startswith("/shared/sims") for remote in raw["file_mounts"]), raw["file_mounts"]


def _unknown_key(config: dict[str, Any]) -> None:
    config["worker_nodes_resources"] = {"unity": 8}


def _wrong_type(config: dict[str, Any]) -> None:
    config["docker"]["pull_before_run"] = "yes"


def _run_options_not_a_list(config: dict[str, Any]) -> None:
    config["docker"]["run_options"] = "--ulimit nofile=65536:65536"


@pytest.mark.parametrize("breaks", [_unknown_key, _wrong_type, _run_options_not_a_list])
def test_a_broken_launcher_config_fails_rays_schema(breaks: Any) -> None:
    config = load_yaml(LAUNCHER)
    breaks(config)
    with pytest.raises(jsonschema.ValidationError):
        bootstrap(config)


def test_node_types_in_a_local_launcher_config_make_ray_abort() -> None:
    config = load_yaml(LAUNCHER)
    config["available_node_types"] = {"gpu": {"resources": {"GPU": 1}, "node_config": {}}}
    config["head_node_type"] = "gpu"
    with pytest.raises(click.ClickException):
        bootstrap(config)


def test_launcher_machines_advertise_gpus_and_unity_slots(tmp_path: Path) -> None:
    raw = load_yaml(LAUNCHER)
    nodes = launcher_nodes(tmp_path)
    head = nodes.pop(raw["provider"]["head_ip"])
    assert head["head"] and head["autoscaling_config"] == "~/ray_bootstrap_config.yaml"
    assert head["num_cpus"] == 0, "the head takes no trials"
    resources = {ip: advertised(params) for ip, params in nodes.items()}
    assert any(r.get("GPU", 0) >= 1 for r in resources.values()), resources
    assert any(r.get("unity", 0) >= 1 for r in resources.values()), resources
    for ip, params in nodes.items():
        assert params["address"] == "10.0.0.10:6379", (ip, params["address"])
        for flag in PINNED_PORT_FLAGS:  # fixed and equal everywhere, so the firewall rules hold
            assert params[flag] == head[flag] is not None, (ip, flag)


def test_a_machine_in_no_class_stops_with_an_error(tmp_path: Path) -> None:
    config = bootstrap(load_yaml(LAUNCHER))
    code, err, starts = run_start_commands(config["worker_start_ray_commands"], tmp_path, "10.0.0.99")
    assert code != 0 and not starts
    assert "no machine class" in err


def test_launcher_security_defaults(tmp_path: Path) -> None:
    raw = load_yaml(LAUNCHER)
    head = launcher_nodes(tmp_path)[raw["provider"]["head_ip"]]
    assert head["dashboard_host"] == "127.0.0.1", "the job API runs code: loopback + tunnel only"
    options = raw["docker"]["run_options"]
    assert "-e RAY_AUTH_MODE=token" in options
    assert any(opt.startswith("--env-file=") for opt in options), "secrets come from a file on the machines"
    text = json.dumps(raw)
    assert not re.search(r"(WANDB_API_KEY|RAY_AUTH_TOKEN)\s*[=:]\s*\w", text), "a secret value in the config"
    readme = CLUSTER_README.read_text(encoding="utf-8")
    for flag in PINNED_PORT_FLAGS:
        assert f"{head[flag]}" in readme, f"port {head[flag]} ({flag}) is not in the README's port table"


# --- the KubeRay manifests -------------------------------------------------------------------------


def test_kuberay_manifests_have_the_expected_kinds() -> None:
    assert [(d["apiVersion"], d["kind"]) for d in load_all(RAYCLUSTER)] == [("ray.io/v1", "RayCluster")]
    assert [(d["apiVersion"], d["kind"]) for d in load_all(RAYJOB)] == [("v1", "ConfigMap"), ("ray.io/v1", "RayJob")]


@pytest.mark.parametrize("source", ["raycluster.yaml", "rayjob-sweep.yaml"])
def test_kuberay_cluster_autoscales_gpu_learners_and_simulators(source: str) -> None:
    cr = kuberay_clusters()[source]
    spec = cr["spec"]
    assert spec["rayVersion"] == pinned_ray_version()
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    assert spec["authOptions"]["mode"] == "token"
    assert spec["headGroupSpec"].get("serviceType", "ClusterIP") == "ClusterIP"
    node_types = autoscaling_config(cr)["available_node_types"]
    assert node_types["headgroup"]["resources"]["CPU"] == 0, "the head takes no trials"
    groups = dict(group_specs(spec))
    gpu, sims = groups["gpu-learners"], groups["simulators"]
    limits = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) >= 1
    assert node_types["gpu-learners"]["resources"]["GPU"] >= 1
    assert node_types["simulators"]["resources"]["unity"] >= 1
    assert node_types["simulators"]["resources"].get("GPU", 0) == 0
    for group in (gpu, sims):
        assert group["maxReplicas"] >= max(1, group["minReplicas"])
        assert group.get("idleTimeoutSeconds", 1) > 0
    if source == "raycluster.yaml":
        assert gpu["minReplicas"] == 0 and sims["minReplicas"] == 0, "both groups scale from zero"
    for _, group in group_specs(spec):  # what the operator hands to `ray start`, through a shell
        argv = shlex.split(" ".join(f"--{key}={value}" for key, value in group["rayStartParams"].items()))
        ray_start_params(argv)


def test_kuberay_custom_resources_need_kuberays_quoting() -> None:
    cr = copy.deepcopy(kuberay_clusters()["raycluster.yaml"])
    sims = next(g for g in cr["spec"]["workerGroupSpecs"] if g["groupName"] == "simulators")
    sims["rayStartParams"]["resources"] = '{"unity": 8}'  # plain JSON: the autoscaler cannot read it
    with pytest.raises(json.JSONDecodeError):
        autoscaling_config(cr)


@pytest.mark.parametrize("source", ["raycluster.yaml", "rayjob-sweep.yaml"])
def test_kuberay_secrets_only_from_kubernetes_secrets(source: str) -> None:
    for container in containers(kuberay_clusters()[source]["spec"]):
        env = {item["name"]: item for item in container.get("env", [])}
        assert "secretKeyRef" in env["WANDB_API_KEY"]["valueFrom"], "W&B key from a Secret"
        for name, item in env.items():
            if SECRET_NAME.search(name):
                assert "value" not in item and "secretKeyRef" in item["valueFrom"], name


def test_rayjob_runs_a_valid_sweep_on_the_shared_volume(tmp_path: Path) -> None:
    from ray_lab.tune.load import load_sweep

    job = next(doc for doc in load_all(RAYJOB) if doc["kind"] == "RayJob")["spec"]
    assert job["shutdownAfterJobFinishes"] is True and job["ttlSecondsAfterFinished"] > 0
    _, text = rayjob_sweep_spec()
    spec = yaml.safe_load(text)
    assert spec["base"].startswith("/app/configs/"), "the image's configs (cluster/Dockerfile copies them)"
    assert spec["output_dir"].startswith("/shared/experiments")
    for container in containers(job["rayClusterSpec"]):
        assert "/shared/experiments" in {m["mountPath"] for m in container["volumeMounts"]}
    spec["base"] = str(REPO / spec["base"].removeprefix("/app/"))
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    loaded = load_sweep(path)
    assert loaded.spec.resources.learner_gpus and loaded.spec.resources.worker_resources == {"unity": 1}


# --- what the configs ask for is what the clusters offer -------------------------------------------


def test_every_requested_resource_is_advertised_by_both_clusters(tmp_path: Path) -> None:
    requested = requested_resources()
    assert "unity" in requested, f"the collector found no `unity` request: {requested}"
    offered = {"ray-cluster.yaml": set[str]()}
    for params in launcher_nodes(tmp_path).values():
        offered["ray-cluster.yaml"] |= {name for name, amount in advertised(params).items() if amount > 0}
    for source, cr in kuberay_clusters().items():
        node_types = autoscaling_config(cr)["available_node_types"].values()
        offered[source] = {name for node in node_types for name, amount in node["resources"].items() if amount > 0}
    for cluster, names in offered.items():
        assert "GPU" in names, f"{cluster}: no node advertises a GPU for the learner"
        for name, where in requested.items():
            assert name in names, f"{cluster}: no node advertises `{name}`, asked for in {sorted(where)}"


# --- the image ------------------------------------------------------------------------------------


def test_dockerfile_installs_the_project_for_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    by_kind: dict[str, list[str]] = {}
    for kind, args in instructions:
        by_kind.setdefault(kind, []).append(args)
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    python = re.search(r"python:(\d+\.\d+)", by_kind["FROM"][0])
    assert python and f">={python.group(1)}" in requires, (by_kind["FROM"], requires)
    runs = " ".join(by_kind["RUN"])
    assert re.search(r"pip install [^;&]*\"\.(\$\{EXTRAS|\[|\")", runs), "the project itself is pip-installed"
    assert {"ray_lab", "unity_workers", "pyproject.toml"} <= set(" ".join(by_kind["COPY"]).split())
    installed = set(re.findall(r"apt-get install[^;&]*", runs)[0].split())
    assert installed >= UNITY_RUNTIME_LIBS | LAUNCHER_TOOLS, (UNITY_RUNTIME_LIBS | LAUNCHER_TOOLS) - installed
    user = by_kind["USER"][-1]
    kinds = [kind for kind, _ in instructions]
    assert len(kinds) - kinds[::-1].index("USER") > len(kinds) - kinds[::-1].index("RUN"), "USER after the last RUN"
    assert user not in {"root", "0"} and not user.startswith("0:"), user
    assert re.search(rf"useradd .*--uid 1000 .*{user}\b", runs), "the user exists (uid 1000, as the pods run)"
    assert "RAY_USAGE_STATS_ENABLED=0" in " ".join(by_kind["ENV"])
    assert by_kind["WORKDIR"][-1] == "/app"
    assert any(args.split()[-2:] == ["configs", "./configs"] for args in by_kind["COPY"]), "configs at /app/configs"


def test_the_image_tag_is_the_same_everywhere() -> None:
    tag = readme_image_tag()
    assert load_yaml(LAUNCHER)["docker"]["image"] == tag
    for source, cr in kuberay_clusters().items():
        images = {c["image"] for c in containers(cr["spec"])}
        assert images == {tag}, f"{source}: {images} (README builds {tag})"
    assert tag in DOCKERFILE.read_text(encoding="utf-8"), "the Dockerfile's build comment names another tag"
