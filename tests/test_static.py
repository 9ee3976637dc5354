"""ruff and mypy, as configured in pyproject.toml, over the package, tests and benchmarks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import background_mypy_result

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint() -> None:
    result = run("ruff", "check", "ray_lab", "unity_workers", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run("ruff", "format", "--check", "ray_lab", "unity_workers", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    started = background_mypy_result(timeout_s=600)  # started when collection ended (tests/conftest.py)
    if started is None:  # collected but not started: run it now
        result = run("mypy")
        started = result.returncode, result.stdout + result.stderr
    returncode, output = started
    assert returncode == 0, output
    assert "Success: no issues found" in output, output


def _package_imports() -> dict[str, set[str]]:
    """Which top-level packages of ray_lab and unity_workers each one imports (lazy imports included)."""
    import ast
    from collections import defaultdict

    edges: dict[str, set[str]] = defaultdict(set)
    for root in ("ray_lab", "unity_workers"):
        for path in (ROOT / root).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            here = ".".join(parts[:2]) if len(parts) > 2 else parts[0]
            package = parts[:-1]  # of a module, or of an __init__.py: its own package
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.ImportFrom):
                    base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                    names = [".".join(p for p in (base, node.module or "") if p)]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                for name in names:
                    target = ".".join(name.split(".")[:2])
                    if name.startswith(("ray_lab.", "unity_workers.")) and target != here:
                        edges[here].add(target)
    return edges


def test_config_is_a_leaf_and_package_imports_have_no_cycles() -> None:
    """Imports flow one way (cli → tune → learner → evaluation/workers/envs/models → tracking/config)."""
    edges = _package_imports()
    assert {t for t in edges["ray_lab.config"] if t.startswith("ray_lab.")} == set()
    assert edges["ray_lab.config"] <= {"unity_workers.spec"}  # a pure pydantic schema

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and not seen.add(nxt) and reaches(nxt, goal, seen)):
                return True
        return False

    cycles = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if reaches(b, a, set())})
    assert cycles == [], f"package import cycles: {cycles}"
