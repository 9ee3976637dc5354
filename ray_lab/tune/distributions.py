"""Search-space distributions as YAML: `{loguniform: [1e-5, 1e-3]}`, `{choice: [[64, 64], [256, 256]]}`, ...

Each is checked when the spec loads (bounds, non-empty choices) and becomes a Ray Tune domain with
:meth:`Distribution.to_tune`. Nothing in a spec is evaluated: values are YAML data.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

__all__ = ["KINDS", "Distribution"]

Kind = Literal["uniform", "quniform", "loguniform", "qloguniform", "randint", "qrandint", "randn", "choice", "grid"]
KINDS: dict[str, str] = {
    "uniform": "[low, high]",
    "quniform": "[low, high, q]",
    "loguniform": "[low, high] with low > 0",
    "qloguniform": "[low, high, q] with low > 0",
    "randint": "[low, high) integers",
    "qrandint": "[low, high, q] integers",
    "randn": "[mean, sd]",
    "choice": "[value, value, ...]",
    "grid": "[value, value, ...] (every value is tried)",
}


def _numbers(kind: str, args: list[Any], count: int) -> list[float]:
    if len(args) != count or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in args):
        raise ValueError(f"{kind} takes {KINDS[kind]}, got {args!r}")
    if not all(math.isfinite(float(a)) for a in args):
        raise ValueError(f"{kind} bounds must be finite, got {args!r}")
    return [float(a) for a in args]


class Distribution(BaseModel):
    """One dimension of a search space."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    args: list[Any]

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, data: Any) -> Any:
        if isinstance(data, dict) and set(data) != {"kind", "args"}:
            if len(data) != 1:
                raise ValueError(f"expected one distribution like {{loguniform: [1e-5, 1e-3]}}, got {data!r}")
            ((kind, args),) = data.items()
            if kind not in KINDS:
                raise ValueError(f"unknown distribution {kind!r}; known: {', '.join(KINDS)}")
            if not isinstance(args, list):
                raise ValueError(f"{kind} takes a list {KINDS[kind]}, got {args!r}")
            return {"kind": kind, "args": args}
        if not isinstance(data, dict):
            raise ValueError(f"expected a distribution like {{choice: [32, 64]}}, got {data!r}")
        return data

    @model_validator(mode="after")
    def _check_args(self) -> Distribution:
        kind, args = self.kind, self.args
        if kind in ("choice", "grid"):
            if not args:
                raise ValueError(f"{kind} needs at least one value")
            return self
        count = 3 if kind.startswith("q") else 2
        low, high, *rest = _numbers(kind, args, count)
        if kind != "randn" and not low < high:
            raise ValueError(f"{kind} needs low < high, got {args!r}")
        if kind == "randn" and high <= 0:
            raise ValueError(f"randn needs sd > 0, got {args!r}")
        if "log" in kind and low <= 0:
            raise ValueError(f"{kind} needs low > 0, got {args!r}")
        if rest and rest[0] <= 0:
            raise ValueError(f"{kind} needs q > 0, got {args!r}")
        if kind in ("randint", "qrandint") and not all(float(a).is_integer() for a in args):
            raise ValueError(f"{kind} takes integers, got {args!r}")
        return self

    @model_serializer
    def _to_yaml(self) -> dict[str, list[Any]]:
        return {self.kind: list(self.args)}  # dumps as written: {loguniform: [1e-5, 1e-3]}

    @property
    def numeric(self) -> bool:
        """Whether values are numbers (PBT can perturb them)."""
        if self.kind in ("choice", "grid"):
            return all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.args)
        return True

    def examples(self) -> list[Any]:
        """Values to validate the base config with: every choice, or the bounds."""
        if self.kind in ("choice", "grid"):
            return list(self.args)
        low, high = self.args[0], self.args[1]
        if self.kind == "randn":
            return [low]
        if self.kind in ("randint", "qrandint"):
            return [int(low), int(high) - 1 if self.kind == "randint" else int(high)]
        return [low, high]

    def to_tune(self) -> Any:
        """The Ray Tune domain (`tune.loguniform(...)`, `tune.grid_search([...])`, ...)."""
        from ray import tune

        a = self.args
        builders: dict[str, Any] = {
            "uniform": lambda: tune.uniform(a[0], a[1]),
            "quniform": lambda: tune.quniform(a[0], a[1], a[2]),
            "loguniform": lambda: tune.loguniform(a[0], a[1]),
            "qloguniform": lambda: tune.qloguniform(a[0], a[1], a[2]),
            "randint": lambda: tune.randint(int(a[0]), int(a[1])),
            "qrandint": lambda: tune.qrandint(int(a[0]), int(a[1]), int(a[2])),
            "randn": lambda: tune.randn(a[0], a[1]),
            "choice": lambda: tune.choice(list(a)),
            "grid": lambda: tune.grid_search(list(a)),
        }
        return builders[self.kind]()
