"""The typed experiment config: every key a YAML file may hold, with its type, default and meaning.

The first five sections (`experiment`, `environment`, `training`, `evaluation`, `play`) accept the
seed pipeline's schema unchanged; `workers`, `learner`, `wrappers` and `tracking` are new.
Field descriptions are the source of `docs/configuration.md` (see `ray_lab.cli.config_docs`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ray_lab.config.parameters import (
    PARAMETERS_HELP,
    CurriculumSection,
    ParameterTable,
    check_curriculum_rounds,
    check_lesson_parameters,
    check_parameter_names,
    lesson_tables,
)
from ray_lab.config.validation_errors import keyed_error
from ray_lab.config.wrappers import WRAPPERS_HELP, WrapperSpec
from unity_workers.spec import UnitySpec

DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?|mps)$"
DEFAULT_STEP_TIMEOUT_S = 60.0
"""`workers.step_timeout_s` when derived: at least this."""
STEP_TIMEOUT_MARGIN_S = 10.0
"""Added to the time player restarts may take, for the worker's own work and the transport."""


def lift_cpu_gpu(data: Any) -> Any:
    """Accept Ray's spelling `resources: {CPU: 1, GPU: 1, unity: 1}`: CPU/GPU move to `num_cpus`/`num_gpus`."""
    if not isinstance(data, dict) or not isinstance(data.get("resources"), dict):
        return data
    data, resources = dict(data), dict(data["resources"])
    for ray_name, field in (("CPU", "num_cpus"), ("GPU", "num_gpus")):
        if ray_name in resources:
            amount = resources.pop(ray_name)
            if field in data and data[field] != amount:
                raise ValueError(f"resources.{ray_name}={amount!r} contradicts {field}={data[field]!r}; set one")
            data[field] = amount
    data["resources"] = resources
    return data


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ExperimentSection(Section):
    """Names the run and where run folders go."""

    name: str = Field("experiment", min_length=1, description="Run name; the run folder is `<name>_<timestamp>`.")
    output_dir: str = Field(
        "experiments",
        description="Root of all run folders: `<output_dir>/<env id>/<algorithm>/<name>_<timestamp>/`. "
        "Relative paths are resolved against the current working directory.",
    )


class EnvironmentSection(Section):
    """The environment every worker builds (seed schema, plus `module:EnvId`)."""

    id: str = Field(
        "CartPole-v1", min_length=1, description="Gymnasium env id (`module:EnvId` imports a module first)."
    )
    env_config: dict[str, Any] | None = Field(None, description="Keyword arguments passed to `gymnasium.make`.")
    eval_env_kwargs: dict[str, Any] | None = Field(
        None,
        description="Keyword arguments for evaluation envs only (eval rounds and `ray-lab play`), merged over "
        "`env_config` key by key; training envs never see them.",
    )
    wrappers: list[WrapperSpec] = Field(default_factory=list, description=WRAPPERS_HELP)
    render_mode: Literal["rgb_array", "human"] | None = Field(
        None,
        description="Render mode of the envs; videos need `rgb_array` (set automatically when recording).",
    )
    monitor: bool = Field(
        True,
        description="Record each env's episode returns and lengths (gymnasium's `RecordEpisodeStatistics`, "
        "read by SB3 like its `Monitor`): `rollout/ep_rew_mean` in progress.csv.",
    )
    video_wrapper: bool = Field(
        False,
        description="Record training videos into the run's `videos/` folder; with W&B each finished clip is "
        "uploaded too (`videos/train`), like the seed's `monitor_gym`.",
    )
    video_trigger: int = Field(5000, gt=0, description="Start a training video every this many vector steps.")
    video_length: int = Field(500, gt=0, description="Length of each training video, in steps.")
    unity: UnitySpec | None = Field(
        None,
        description="A simulator process per env (Unity build, reference sim or gRPC sim); see docs/unity.md.",
    )
    parameters: ParameterTable = Field(
        default_factory=dict,
        description=PARAMETERS_HELP,
    )
    curriculum: CurriculumSection | None = Field(
        None, description="Lessons that change `parameters` as evaluation rounds succeed (docs/unity.md, Curriculum)."
    )

    _parameter_names = field_validator("parameters")(check_parameter_names)

    @model_validator(mode="after")
    def _unity_id(self) -> EnvironmentSection:
        if self.unity is not None and "id" not in self.model_fields_set:
            object.__setattr__(self, "id", self.unity.display_name)  # names run folders and W&B groups
        return self

    @model_validator(mode="after")
    def _one_monitor(self) -> EnvironmentSection:
        for i, spec in enumerate(self.wrappers):
            if self.monitor and spec.records_episodes():
                raise keyed_error(f"wrappers.{i}.class", "`monitor: true` records episode statistics already; "
                                  "drop this wrapper or set `environment.monitor: false`")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _lessons(self) -> EnvironmentSection:
        if self.curriculum is not None:
            check_lesson_parameters(self.parameters, self.curriculum)
        if self.unity is not None and self.unity.protocol == "grpc" and self.parameter_names:
            raise ValueError("environment parameters reach a simulator through ROS-TCP reset requests; "
                             "set `unity.protocol: ros_tcp` or drop `parameters`/`curriculum`")  # fmt: skip
        return self

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The names every env receives at each reset (the same in every lesson); empty without parameters."""
        tables = lesson_tables(self.parameters, self.curriculum)
        return tuple(tables[0]) if tables else ()

    @property
    def name(self) -> str:
        """The env id without a `module:` prefix (run folders and W&B groups use it)."""
        return self.id.rpartition(":")[2]


class EvalSection(Section):
    """Seeded evaluation rounds on dedicated eval workers (`training.training.eval`)."""

    seed: int = Field(0, ge=0, description="Episode seeds of every evaluation round are `seed, seed+1, ...`.")
    num_episodes: int = Field(
        10,
        gt=0,
        description="Deterministic episodes per evaluation round. The seed pipeline ran one; a single episode "
        "is one sample of a noisy return, so the default is 10 (mean and std are logged).",
    )
    num_evals: int = Field(10, ge=0, description="Evaluation rounds, spread evenly over `total_timesteps` (0: none).")
    deterministic: bool = Field(True, description="Use the deterministic policy in evaluation rounds.")


class TrainingLoopSection(Section):
    """Length, device, checkpoints and seed of the training loop (`training.training`)."""

    eval: EvalSection = Field(default_factory=EvalSection)  # type: ignore[arg-type]
    total_timesteps: int = Field(100_000, gt=0, description="Environment steps to train for (all envs together).")
    device: str = Field(
        "auto",
        pattern=DEVICE_PATTERN,
        description="Learner device: `auto` (a GPU when the cluster has one), `cuda`, `cuda:N` or `cpu`. "
        "`cuda` on a cluster with no GPU (and no autoscaler) falls back to the CPU with a warning, as SB3 does.",
    )
    log_points: int = Field(10, ge=0, description="Checkpoints written to `checkpoints/`, spread evenly over training.")
    checkpoint_replay_buffer: bool = Field(
        True,
        description="Off-policy algorithms (SAC, TD3, DQN, ...): every checkpoint also saves the replay buffer, so "
        "`ray-lab train --resume` and Tune retries go on with it. Its size on disk is about `buffer_size` x "
        "(2 x observation bytes + action bytes + 12): 1M transitions of 17 float32 observations and 6 float32 "
        "actions take about 170 MB. `false`: resumed runs start with an empty buffer.",
    )
    verbose: int = Field(1, ge=0, le=2, description="SB3 verbosity (0: none, 1: info, 2: debug).")
    seed: int | None = Field(0, description="Training seed (model, action sampling, env resets). `None`: random.")


class ArchitectureSection(Section):
    """Policy network: layer sizes, feature extractor and activation (`training.architecture`)."""

    net_arch: list[int] | dict[str, list[int]] | None = Field(
        None, description="Hidden layers: a list, or `{pi: [...], vf: [...]}` / `{pi: [...], qf: [...]}`."
    )
    features_extractor_class: str | None = Field(
        None,
        description="`ResnetMLP`, `NatureCNN`, `FlattenExtractor`, `CombinedExtractor`, a class in "
        "`ray_lab/models/feature_extractors/`, or a dotted path `package.module:Class`.",
    )
    features_extractor_kwargs: dict[str, Any] | None = Field(None, description="Keyword arguments of the extractor.")
    activation_fn: str | None = Field(None, description="A `torch.nn` activation by name, e.g. `ReLU`, `Tanh`.")
    share_features_extractor: bool | None = Field(None, description="Share the extractor between actor and critic.")


class TrainingSection(Section):
    """The algorithm, its hyperparameters, the network, and the training loop."""

    algorithm: str = Field("ppo", description="ppo, a2c, sac, td3, ddpg, dqn, or an sb3-contrib algorithm (tqc, ...).")
    pretrained_model: str | None = Field(
        None,
        description="Continue training from a run folder, a `.zip` path, or `wandb:entity/project/run_id/file.zip`. "
        "VecNormalize statistics next to the model are loaded too.",
    )
    use_wandb: bool = Field(True, description="Log to Weights & Biases (offline when no API key is configured).")
    algorithm_parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments of the SB3 algorithm (checked against its signature). Every key SB3 "
        "takes a schedule for (`learning_rate`; PPO's `clip_range`, `clip_range_vf`; ARS's `delta_std`) accepts "
        "`lin_<start>` (to 0), `lin_<start>_<end>` or `exp_<start>_<end>` (geometric, both > 0); a schedule on "
        "any other key is an error. Objects from YAML, checked when the config loads: `action_noise: {type: "
        "ornstein_uhlenbeck, sigma: 0.1, theta: 0.15, dt: 0.01}` or `{type: normal, sigma: 0.1}` (off-policy, Box "
        "actions), `replay_buffer_class` (`HerReplayBuffer`, `ReplayBuffer`, `DictReplayBuffer` or a dotted path) "
        "with `replay_buffer_kwargs` (HER: `{n_sampled_goal: 4, goal_selection_strategy: future}`, or final, "
        "episode; a goal-conditioned Dict env with `compute_reward`), `policy_kwargs: {optimizer_class: AdamW, "
        "optimizer_kwargs: {weight_decay: 0.01}}` (a `torch.optim` name; `lr` comes from `learning_rate`).",
    )
    architecture: ArchitectureSection = Field(default_factory=ArchitectureSection)  # type: ignore[arg-type]
    training: TrainingLoopSection = Field(default_factory=TrainingLoopSection)  # type: ignore[arg-type]

    @field_validator("algorithm")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class EvaluationSection(Section):
    """Episodes replayed by `ray-lab play`."""

    num_episodes: int = Field(10, gt=0, description="Episodes run by `ray-lab play` (seeded like evaluation rounds).")


class PlaySection(Section):
    """What `ray-lab play` loads when no `--run` is given."""

    experiment: str | None = Field(
        None,
        description="What to play: a run folder (a path, or a folder name under "
        "`<output_dir>/<env id>/<algorithm>/`), a model `.zip`, or `wandb:entity/project/run_id/file.zip`.",
    )
    pretrained_model: str | None = Field(
        "model", description="Model file in that folder: `model`, `best_model`, or a checkpoint name."
    )


class WorkersSection(Section):
    """Env-worker Ray actors: how many, how many envs each, and what each reserves."""

    num_workers: int = Field(2, gt=0, description="Env-worker actors for training.")
    envs_per_worker: int = Field(
        4,
        gt=0,
        description="Environments each worker owns and steps in one call (simulators: all at once). Fewer, "
        "fuller workers are faster: about one worker per core the simulators leave free (docs/benchmarks.md).",
    )
    num_cpus: float = Field(0.25, ge=0, description="CPUs each worker reserves (fractional: fits a 2-core laptop).")
    num_gpus: float = Field(0.0, ge=0, description="GPUs each worker reserves (for GPU-rendering simulators).")
    resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom resources per worker, e.g. `{unity: 1}` (`CPU`/`GPU` here set num_cpus/num_gpus).",
    )
    step_timeout_s: float | None = Field(
        None,
        gt=0,
        description="A worker's step or reset call slower than this is an error. `None`: 60 s, or for Unity envs "
        "enough for every env of a worker to restart its player within one call (docs/unity.md, timeouts).",
    )
    max_restarts: int = Field(3, ge=0, description="How often Ray may restart a dead worker actor.")
    transport: Literal["auto", "socket", "compiled", "actor"] = Field(
        "auto",
        description="How the learner reaches its env workers. `socket`: a direct authenticated socket per "
        "worker (Unix socket on one node, TCP across nodes); idle workers sleep. `compiled`: a Ray Compiled "
        "Graph (its idle workers poll a core each). `actor`: plain Ray actor calls. `auto`: socket, falling "
        "back to actor calls when a worker cannot be reached. Eval workers never use `compiled`.",
    )
    eval_workers: int = Field(1, gt=0, description="Env-worker actors for evaluation rounds.")
    eval_envs_per_worker: int = Field(
        5, gt=0, description="Envs per eval worker; episodes beyond that run in further batches."
    )
    env_concurrency: Literal["auto", "serial", "threads"] = Field(
        "auto",
        description="How a worker steps its envs. `auto`: simulator-backed envs (`environment.unity`) are "
        "all sent their step first and answer together, so k players per worker take about one simulator "
        "step, not k; other envs step one after the other. `serial`: one env after the other. `threads`: "
        "one thread per env, for envs whose step blocks on I/O with the GIL released.",
    )

    _lift_cpu_gpu = model_validator(mode="before")(lift_cpu_gpu)


class LearnerSection(Section):
    """The learner actor and the placement group that holds it and the workers."""

    num_cpus: float = Field(1.0, gt=0, description="CPUs the learner reserves (also its torch thread count).")
    num_gpus: float | None = Field(
        None,
        ge=0,
        description="GPUs the learner reserves, demanded even where the cluster has none; `None`: 1 when a GPU "
        "exists and `device` is auto or cuda (or an autoscaler may add one for cuda), else 0.",
    )
    resources: dict[str, float] = Field(default_factory=dict, description="Custom resources for the learner.")
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        "PACK", description="Placement-group strategy for the learner and worker bundles."
    )
    placement_timeout_s: float = Field(
        120.0, gt=0, description="How long to wait for the cluster to fit the placement group."
    )

    _lift_cpu_gpu = model_validator(mode="before")(lift_cpu_gpu)


class VecNormalizeSection(Section):
    """SB3's VecNormalize on the training envs (`wrappers.vec_normalize`)."""

    enabled: bool = Field(False, description="Wrap the training envs in SB3's `VecNormalize`.")
    norm_obs: bool = Field(True, description="Normalize observations with running statistics.")
    norm_reward: bool = Field(True, description="Normalize rewards by the running return std (training only).")
    clip_obs: float = Field(10.0, gt=0, description="Clip normalized observations to ±clip_obs.")
    clip_reward: float = Field(10.0, gt=0, description="Clip normalized rewards to ±clip_reward.")
    gamma: float | None = Field(
        None, gt=0, le=1, description="Discount for reward normalization; `None`: the algorithm's."
    )
    epsilon: float = Field(1e-8, gt=0, description="Avoids division by zero.")


class FrameStackSection(Section):
    """SB3's VecFrameStack (`wrappers.frame_stack`)."""

    n_stack: int = Field(0, ge=0, description="Stack this many frames with `VecFrameStack` (0 or 1: off).")
    channels_order: Literal["first", "last"] | None = Field(None, description="Stack axis for image observations.")


class WrappersSection(Section):
    """Vector-env wrappers applied on the learner side."""

    vec_normalize: VecNormalizeSection = Field(default_factory=VecNormalizeSection)  # type: ignore[arg-type]
    frame_stack: FrameStackSection = Field(default_factory=FrameStackSection)  # type: ignore[arg-type]


class TrackingSection(Section):
    """Weights & Biases. The API key comes from `WANDB_API_KEY` or `wandb login`, never from a config."""

    project: str = Field("ray-lab", min_length=1, description="W&B project.")
    entity: str | None = Field(None, description="W&B entity (team or user); `None`: your default.")
    group: str | None = Field(None, description="W&B group; `None`: the env id.")
    mode: Literal["auto", "online", "offline", "disabled"] = Field(
        "auto",
        description="`auto`: online when an API key is configured, else offline. `WANDB_MODE` overrides.",
    )
    tags: list[str] = Field(default_factory=list, description="W&B tags.")
    log_model_artifacts: bool = Field(
        True,
        description="Upload checkpoints, the best and the final model as W&B artifacts, each with its "
        "VecNormalize statistics and the run's `config.yaml` beside the zip.",
    )


class ExperimentConfig(Section):
    """A whole experiment: what `ray-lab train --config FILE` runs."""

    experiment: ExperimentSection = Field(default_factory=ExperimentSection)  # type: ignore[arg-type]
    environment: EnvironmentSection = Field(default_factory=EnvironmentSection)  # type: ignore[arg-type]
    training: TrainingSection = Field(default_factory=TrainingSection)  # type: ignore[arg-type]
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)  # type: ignore[arg-type]
    play: PlaySection = Field(default_factory=PlaySection)  # type: ignore[arg-type]
    workers: WorkersSection = Field(default_factory=WorkersSection)  # type: ignore[arg-type]
    learner: LearnerSection = Field(default_factory=LearnerSection)  # type: ignore[arg-type]
    wrappers: WrappersSection = Field(default_factory=WrappersSection)  # type: ignore[arg-type]
    tracking: TrackingSection = Field(default_factory=TrackingSection)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _agents_step_together(self) -> ExperimentConfig:
        unity = self.environment.unity
        if unity is not None and unity.agents_per_instance > 1 and self.workers.env_concurrency != "auto":
            raise keyed_error(
                "workers.env_concurrency",
                f"`{self.workers.env_concurrency}` cannot step the agents of a multi-agent player "
                f"(environment.unity.agents_per_instance: {unity.agents_per_instance}): a player steps once "
                "every agent has sent its action; use `auto`",
            )
        return self

    @model_validator(mode="after")
    def _curriculum_needs_rounds(self) -> ExperimentConfig:
        check_curriculum_rounds(self.environment.curriculum, self.loop.eval.num_evals)
        return self

    @property
    def loop(self) -> TrainingLoopSection:
        """Shortcut for the nested `training.training` section."""
        return self.training.training

    def required_step_timeout_s(self, envs_per_worker: int) -> float:
        """The least `workers.step_timeout_s` with which player restarts never fail a worker's call.

        0 for plain gymnasium envs; for Unity envs, every env of the worker restarting its player
        within one call (`UnitySpec.longest_call_s`), one after the other.
        """
        unity = self.environment.unity
        return 0.0 if unity is None else envs_per_worker * unity.longest_call_s()

    def worker_step_timeout_s(self, envs_per_worker: int) -> float:
        """The run-level call timeout of a worker with `envs_per_worker` envs: as configured, else derived."""
        if self.workers.step_timeout_s is not None:
            return self.workers.step_timeout_s
        return max(DEFAULT_STEP_TIMEOUT_S, self.required_step_timeout_s(envs_per_worker) + STEP_TIMEOUT_MARGIN_S)
