"""`UnitySpec`: the typed `environment.unity` config section (one simulator per env, its protocol and mapping).

It is plain pydantic data, so ``ray_lab.config`` embeds it in the experiment schema and env
factories pickle it to env workers on any node. :class:`~unity_workers.envs.UnityEnv` is built from it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

__all__ = [
    "BATCH_RESET_SRV",
    "BATCH_STEP_SRV",
    "OWN_RESET_SRV",
    "OWN_STEP_SRV",
    "PLAYER_CLOSE_S",
    "Constant",
    "FieldMapSpec",
    "SpaceSpec",
    "UnitySpec",
]

OWN_STEP_SRV = "ray_lab_interfaces/EnvironmentStep"
"""ray-lab's own step service type (one agent per player)."""
BATCH_STEP_SRV = "ray_lab_interfaces/EnvironmentStepBatch"
"""ray-lab's own step service type of a multi-agent player (`agents_per_instance` > 1)."""
BATCH_RESET_SRV = "ray_lab_interfaces/EnvironmentResetBatch"
"""ray-lab's own reset service type of a multi-agent player."""
OWN_RESET_SRV = "ray_lab_interfaces/EnvironmentReset"
"""ray-lab's own reset service type; its requests get ``reset: true`` unless `fields.reset_request` is given."""
PLAYER_CLOSE_S = 5.0
"""How long closing a failed player may take: SIGTERM, then SIGKILL (the default of `UnityProcess.close`)."""

Scalar = bool | int | float | str
Constant = Scalar | list[Scalar]
"""A constant request value in YAML: a number, bool or string, or a list of them (for array fields)."""
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BOX_KEYS = ("shape", "low", "high", "dtype", "n", "nvec")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SpaceSpec(_Strict):
    """A gymnasium space in YAML: `{type: box, shape: [20], low: -1, high: 1}`, `{type: discrete, n: 5}` or
    `{type: dict, spaces: {camera: {...}, state: {...}}}`."""

    type: Literal["box", "discrete", "multi_discrete", "multi_binary", "dict"] = Field(
        "box", description="`box`, `discrete`, `multi_discrete`, `multi_binary` or `dict` (with `spaces`)."
    )
    shape: list[int] | None = Field(None, description="Box shape (taken from `low`/`high` lists when omitted).")
    low: float | list[float] = Field(-float("inf"), description="Box lower bound: a number or one per element.")
    high: float | list[float] = Field(float("inf"), description="Box upper bound: a number or one per element.")
    dtype: Literal["float32", "float64", "int32", "int64", "uint8"] = Field(
        "float32",
        description="Box dtype. A `uint8` box with 3 dimensions, `low: 0` and `high: 255` is an image for SB3 "
        "(its CNN extractors): `[H, W, C]` (channels last) or `[C, H, W]` (channels first: the first dimension "
        "is the smallest), with C = 1 (mono) or 3 (RGB) for decoded camera fields.",
    )
    n: int | None = Field(None, gt=0, description="Discrete: number of actions; multi_binary: number of bits.")
    nvec: list[int] | None = Field(None, description="MultiDiscrete: number of values per element.")
    spaces: dict[str, SpaceSpec] | None = Field(
        None,
        description="Dict (observations only): the sub-space of each key (boxes, discrete, ...; no nested dicts), e.g. "
        "`{camera: {type: box, shape: [40, 40, 3], low: 0, high: 255, dtype: uint8}, state: {type: box, "
        "shape: [6]}}`; the observation is then a dict (SB3's `MultiInputPolicy`).",
    )

    @field_validator("spaces", mode="wrap")
    @classmethod
    def _sub_spaces(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Sub-space errors name their key (`camera.dtype: ...`), which the config's error lines would not."""
        try:
            return handler(value)
        except ValidationError as exc:
            lines = []
            for err in exc.errors():
                where = ".".join(str(part) for part in err["loc"])
                text = str(err["msg"]).removeprefix("Value error, ")
                lines.append(f"{where}: {text}" + ("" if err["type"] == "value_error" else f", got {err['input']!r}"))
            raise ValueError("; ".join(lines)) from None

    @model_validator(mode="after")
    def _complete(self) -> SpaceSpec:
        if self.type == "dict":
            return self._complete_dict()
        if self.spaces is not None:
            raise ValueError(f"`spaces` belongs to a dict space (`type: dict`), got type {self.type!r}")
        if self.type in ("discrete", "multi_binary") and self.n is None:
            raise ValueError(f"a {self.type} space needs `n`")
        if self.type == "multi_discrete" and not self.nvec:
            raise ValueError("a multi_discrete space needs `nvec`, e.g. [3, 3]")
        lists = isinstance(self.low, list) or isinstance(self.high, list)
        if self.type == "box" and self.shape is None and not lists:
            raise ValueError("a box space needs `shape`, or `low`/`high` lists")
        return self

    def _complete_dict(self) -> SpaceSpec:
        if not self.spaces:
            raise ValueError("a dict space needs `spaces`, e.g. {camera: {type: box, ...}, state: {type: box, ...}}")
        fields = type(self).model_fields
        others = [name for name in _BOX_KEYS if getattr(self, name) != fields[name].get_default()]
        if others:
            raise ValueError(f"a dict space takes only `spaces` (its sub-spaces hold shapes and bounds), got {others}")
        bad = [key for key in self.spaces if not _KEY.fullmatch(key)]
        if bad:
            raise ValueError(f"dict space keys are names such as `camera` or `lidar_2` (letters, digits, _), got {bad}")
        nested = [key for key, sub in self.spaces.items() if sub.type == "dict"]
        if nested:
            raise ValueError(f"dict spaces cannot nest (SB3 takes one level), but {nested} are dict spaces")
        return self


class FieldMapSpec(_Strict):
    """Where the action goes in the step request and where observation, reward and flags are in the response.

    Paths are dotted field names with an optional index or slice per part, e.g. `state.lidar_ranges[0:16]`,
    `state.position.x`, `state.flags[2]`. Nothing is evaluated: paths are parsed, then looked up.
    """

    action: str = Field("action", description="Step-request field (or path `a.b`) that receives the action.")
    observation: list[str] | dict[str, str | list[str]] = Field(
        default_factory=list,
        description="Response fields, flattened and concatenated into a box observation; for a `dict` "
        "observation_space a mapping with exactly its keys, each to one path or a list of them, e.g. "
        "`{camera: state.camera, state: [state.robot_x, state.robot_y]}`. A key whose space is an image "
        "(see `dtype`) names one `sensor_msgs/Image` (rgb8, bgr8, rgba8, bgra8, mono8) or "
        "`sensor_msgs/CompressedImage` (png, jpeg) field, decoded to the space's layout, never resized.",
    )
    reward: str | None = Field(None, description="Response field holding the reward (0 when omitted).")
    terminated: list[str] = Field(default_factory=list, description="Response booleans; any true ends the episode.")
    truncated: list[str] = Field(default_factory=list, description="Response booleans; any true truncates.")
    seed: str | None = Field(
        "seed",
        description="Top-level reset-request field that receives the seed (-1 = none); the default `seed` "
        "is used only when the request has it, `null` sends no seed.",
    )
    image: str | None = Field(None, description="Response field with a `sensor_msgs/Image` (for videos).")
    reset_request: dict[str, Constant] | None = Field(
        None,
        description="Constants of every reset request, request field path: value (e.g. `{reset: true}`); "
        "other fields keep their defaults. Omitted: `{reset: true}` for ray-lab's own reset type, else none.",
    )
    step_request: dict[str, Constant] = Field(
        default_factory=dict, description="Constants of every step request, request field path: value."
    )

    @field_validator("observation")
    @classmethod
    def _observation_paths(cls, value: list[str] | dict[str, str | list[str]]) -> Any:
        if isinstance(value, dict):
            empty = [key for key, paths in value.items() if not paths]
            if empty:
                raise ValueError(f"each observation key needs a field path or a list of them; empty: {empty}")
        return value

    def observation_paths(self) -> dict[str | None, list[str]]:
        """The observation's paths by dict key (`{None: [...]}` for the flat list of a box observation)."""
        if isinstance(self.observation, list):
            return {None: list(self.observation)}
        return {key: [paths] if isinstance(paths, str) else list(paths) for key, paths in self.observation.items()}

    def reset_constants(self, reset_srv: str) -> dict[str, Constant]:
        """`reset_request`, or its default for ``reset_srv`` (`{reset: true}` for ray-lab's own type only)."""
        if self.reset_request is not None:
            return dict(self.reset_request)
        own = reset_srv.strip().strip("/").replace("/srv/", "/") == OWN_RESET_SRV
        return {"reset": True} if own else {}


class UnitySpec(_Strict):
    """One simulator per env: a Unity build (or the reference simulator), its protocol, mapping and quotas."""

    build: str | None = Field(None, description="Path of the Linux player (`.x86_64`) or any executable.")
    command: list[str] | None = Field(
        None, description="Argv prefix instead of `build` (e.g. a Python simulator). Neither: the reference sim."
    )
    protocol: Literal["ros_tcp", "grpc"] = Field("ros_tcp", description="`ros_tcp` (Unity) or `grpc`.")
    interface: str | None = Field(
        None, description="Folder of ROS interface packages (`<pkg>/msg/*.msg`, `<pkg>/srv/*.srv`); ray-lab's own."
    )
    agents_per_instance: int = Field(
        1,
        ge=1,
        description="Agents one player serves, each its own env (`--agents k`); with k > 1 the step and reset "
        "services carry every agent's action and state in one round trip (the batch service types).",
    )
    env_name: str = Field("nav", min_length=1, description="Service prefix: `/<env_name>_<id>/step` and `/reset`.")
    step_service: str | None = Field(None, description="Step service name (default `/<env_name>_<id>/step`).")
    reset_service: str | None = Field(None, description="Reset service name (default `/<env_name>_<id>/reset`).")
    step_srv: str = Field("ray_lab_interfaces/EnvironmentStep", description="Step service type `pkg/Type`.")
    reset_srv: str = Field("ray_lab_interfaces/EnvironmentReset", description="Reset service type `pkg/Type`.")
    observation_space: SpaceSpec | None = Field(None, description="Observation space (with `fields`).")
    action_space: SpaceSpec | None = Field(None, description="Action space (with `fields`).")
    fields: FieldMapSpec | None = Field(None, description="Request/response field mapping (instead of `adapter`).")
    adapter: str | None = Field(
        None, description="`package.module:Class` turning requests/responses into gym values (instead of `fields`)."
    )
    adapter_kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the adapter.")
    image_topic: str | None = Field(None, description="Topic the player publishes camera images on (for videos).")
    ros_ip: str = Field("127.0.0.1", description="Address the bridge binds and the player connects to.")
    graphics: bool = Field(False, description="Render cameras: drop `-nographics` (camera observations, videos).")
    batchmode: bool = Field(True, description="`-batchmode` (no window); `ray-lab play` turns it off to watch.")
    time_scale: float | None = Field(None, gt=0, description="`--time-scale` for the player.")
    sample_time: float | None = Field(None, gt=0, description="`--sample-time` (seconds per agent step).")
    fixed_delta_time: float | None = Field(None, gt=0, description="`--fixed-delta-time` (physics sub-step).")
    fixed_updates_per_step: int | None = Field(None, ge=1, description="`--fixed-updates-per-step`.")
    pause: bool = Field(False, description="`--pause`.")
    extra_args: list[str] = Field(default_factory=list, description="More player arguments, appended as given.")
    env_passthrough: list[str] = Field(
        default_factory=list,
        description="Credential variables players still inherit (e.g. `[AWS_ACCESS_KEY_ID]`); other credentials "
        "(`*TOKEN*`, `*SECRET*`, `*PASSWORD*`, `*_KEY`, ...) are withheld.",
    )
    require_token: bool = Field(
        True,
        description="ROS-TCP: the bridge serves only a player that first sends its per-launch token "
        "(`RAY_LAB_ROS_TCP_TOKEN`); `false` for a player that cannot (a stock ROS-TCP-Connector build).",
    )
    max_message_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest frame/message accepted from a player; larger drops it."
    )
    step_timeout_s: float = Field(10.0, gt=0, description="Timeout of every step/reset call, seconds.")
    connect_timeout_s: float = Field(60.0, gt=0, description="How long a starting player may take to connect.")
    max_restarts: int = Field(5, ge=0, description="Restarts allowed per env over the whole run.")
    max_restarts_per_minute: int = Field(3, ge=0, description="Restarts allowed per env within any 60 s.")
    ros2_graph: Literal["auto", "on", "off"] = Field(
        "auto", description="Mirror topics on the ROS 2 graph (`auto`: when rclpy is installed)."
    )
    ros2_namespace: str | None = Field(None, description="ROS 2 namespace (default `/ray_lab/<run>/worker_<k>`).")

    @field_validator("env_passthrough")
    @classmethod
    def _variable_names(cls, names: list[str]) -> list[str]:
        bad = [name for name in names if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)]
        if bad:
            raise ValueError(f"env_passthrough holds environment variable names such as WANDB_API_KEY, got {bad!r}")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> UnitySpec:
        if self.build is not None and self.command is not None:
            raise ValueError("give at most one of `build` and `command`")
        if self.command is not None and not self.command:
            raise ValueError("`command` must not be empty, e.g. [python, -m, my_sim]")
        if self.fields is not None and self.adapter is not None:
            raise ValueError("give `fields` (with spaces) or `adapter`, not both")
        if self.fields is not None and (self.observation_space is None or self.action_space is None):
            raise ValueError("`fields` needs `observation_space` and `action_space`")
        if self.protocol == "grpc" and self.agents_per_instance > 1:
            raise ValueError("`agents_per_instance` > 1 needs protocol `ros_tcp` (the batch step/reset services)")
        if self.protocol == "grpc" and (self.fields is not None or self.adapter is not None):
            raise ValueError("with protocol `grpc` the simulator reports spaces and values; drop `fields`/`adapter`")
        if self.protocol == "ros_tcp" and self.fields is None and self.adapter is None and self.uses_own_player:
            raise ValueError("a Unity build needs `fields` (+ spaces) or `adapter` to map its step/reset services")
        return self

    def service_types(self) -> tuple[str, str]:
        """The step and reset service types: as configured; with several agents the default ones are the batch pair."""
        step, reset = self.step_srv, self.reset_srv
        if self.agents_per_instance > 1:
            step = BATCH_STEP_SRV if step == OWN_STEP_SRV else step
            reset = BATCH_RESET_SRV if reset == OWN_RESET_SRV else reset
        return step, reset

    def longest_call_s(self) -> float:
        """The longest one env can hold a worker's step or reset call while its player fails.

        The call itself times out (`step_timeout_s`); then each relaunch the quotas allow within the call
        (at most `min(max_restarts, max_restarts_per_minute)`) may close the old player
        (`PLAYER_CLOSE_S`), wait for the new one to connect (`connect_timeout_s`) and time out once more
        on the reset that follows (`step_timeout_s`). The run-level `workers.step_timeout_s` must cover
        this for every env of a worker, since a worker restarts its envs one after the other.
        """
        launches = min(self.max_restarts, self.max_restarts_per_minute)
        return self.step_timeout_s + launches * (PLAYER_CLOSE_S + self.connect_timeout_s + self.step_timeout_s)

    @property
    def uses_own_player(self) -> bool:
        """Whether a build or command is given (else the reference simulator runs)."""
        return self.build is not None or self.command is not None

    @property
    def display_name(self) -> str:
        """A short name for run folders: the build's stem, or `ReferenceNav`."""
        if self.build is not None:
            return self.build.replace("\\", "/").rpartition("/")[2].partition(".")[0] or "Unity"
        return "ReferenceNav" if self.command is None else "UnitySim"
