"""`check_field_map`: a YAML field mapping checked against the step/reset srv types before any launch.

Every path of ``fields`` (action, observation, reward, terminated, truncated, seed, image and the keys
of ``reset_request``/``step_request``) must name a field the srv has, of a type that fits its use, and
every request constant must fit its field. A problem names the key, the path and the fields the
message does have (with a did-you-mean), so a config for any interface package fails at load, not at
the first reset of a started run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Any

from rosbags.interfaces import Nodetype

from unity_workers.ros_tcp import MessageTypes
from unity_workers.spec import Constant, FieldMapSpec, SpaceSpec

from .batch_session import AGENTS, SEEDS
from .fields import FieldPath, build_space, observation_keys_problem
from .images import COMPRESSED_MSG, IMAGE_MSG, IMAGE_SPACE_RULE, ImageLayout, pillow_problem

__all__ = ["check_field_map", "describe"]

KeyedProblem = tuple[str, str]
Desc = tuple[Any, Any]

_SIGNED = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
_UNSIGNED = {"uint8": 8, "byte": 8, "octet": 8, "char": 8, "uint16": 16, "uint32": 32, "uint64": 64}
_FLOATS = {"float32", "float64"}
_NUMERIC = {"bool", *_SIGNED, *_UNSIGNED, *_FLOATS}
_CAMERA = (IMAGE_MSG, COMPRESSED_MSG)


def describe(desc: Desc) -> str:
    """A rosbags field description in .msg spelling: ``float32``, ``pkg/msg/T``, ``int8[3]``, ``string[]``."""
    nodetype, detail = desc
    if nodetype == Nodetype.BASE:
        return str(detail[0])
    if nodetype == Nodetype.NAME:
        return str(detail)
    sub, length = detail
    bound = str(length) if nodetype == Nodetype.ARRAY else (f"<={length}" if length else "")
    return f"{describe(sub)}[{bound}]"


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate (case-insensitive), or an empty string."""
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    return f" (did you mean {by_lower[matches[0]]!r}?)" if matches else ""


def _fields_text(types: MessageTypes, typename: str) -> str:
    listed = [f"{name} ({describe(desc)})" for name, desc in types.field_defs(typename)]
    return ", ".join(listed) if listed else "none"


def _step_into(desc: Desc, sel: int | slice | None, shown: str) -> Desc:
    """The description after ``[i]`` or ``[a:b]`` (a slice keeps the array); ``ValueError`` on a non-array."""
    if sel is None:
        return desc
    if desc[0] not in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        raise ValueError(f"{shown!r} is {describe(desc)}, not an array, so it takes no [index] or [a:b]")
    sub, length = desc[1]
    if isinstance(sel, int) and desc[0] == Nodetype.ARRAY and not -length <= sel < length:
        raise ValueError(f"index {sel} is out of range for {shown!r} ({describe(desc)})")
    return desc if isinstance(sel, slice) else sub


def resolve_path(types: MessageTypes, root: str, label: str, path: FieldPath) -> Desc:
    """The description of the field ``path`` names inside type ``root`` (``label`` says which part of the srv).

    Raises ``ValueError`` naming the missing field and listing the fields the message does have.
    """
    desc: Desc = (Nodetype.NAME, root)
    shown: list[str] = []
    for name, sel in path.parts:
        owner = f"the {label} {root}" if not shown else f"{'.'.join(shown)!r} ({describe(desc)})"
        if desc[0] != Nodetype.NAME:
            raise ValueError(f"{owner} is not a message, so it has no field {name!r}")
        try:
            fields = dict(types.field_defs(desc[1]))
        except KeyError as exc:  # a field of a type the interface folder does not define
            raise ValueError(f"{owner} is not defined: {exc}") from exc
        if name not in fields:
            raise ValueError(
                f"{owner} has no field {name!r}{did_you_mean(name, fields)}; "
                f"its fields are: {_fields_text(types, desc[1])}"
            )
        shown.append(name + ("" if sel is None else _selector(sel)))
        desc = _step_into(fields[name], sel, ".".join(shown))
    return desc


def _check_batch_requests(
    fields: FieldMapSpec, types: MessageTypes, step_request: str, reset_request: str
) -> list[KeyedProblem]:
    """A multi-agent player's requests: every action goes into one top-level array; resets name agents and seeds."""
    problems: list[KeyedProblem] = []
    action = fields.action.strip()
    step_fields = dict(types.field_defs(step_request))
    nested = "." in action or "[" in action
    if nested or (action in step_fields and step_fields[action][0] not in (Nodetype.ARRAY, Nodetype.SEQUENCE)):
        found = "a nested path" if nested else describe(step_fields[action])  # a missing field: the general check
        problems.append(
            ("fields.action", f"with several agents the step request field takes every agent's action: it must "
             f"be a top-level number array of {step_request}, got {action!r} ({found})")
        )  # fmt: skip
    reset_fields = {name for name, _ in types.field_defs(reset_request)}
    missing = [name for name in (AGENTS, SEEDS) if name not in reset_fields]
    if missing:
        problems.append(
            ("reset_srv", f"a multi-agent player's reset request {reset_request} needs `int32[] agents` and "
             f"`int64[] seeds`; it has no {missing}")
        )  # fmt: skip
    return problems


def _item_type(types: MessageTypes, root: str, label: str, field: str) -> str:
    """The message type of the items of the array ``field`` of ``root`` (one per agent of a batch response)."""
    desc = resolve_path(types, root, label, FieldPath.parse(field))
    if desc[0] not in (Nodetype.ARRAY, Nodetype.SEQUENCE) or desc[1][0][0] != Nodetype.NAME:
        raise ValueError(
            f"a multi-agent player's {label} {root} needs `{field}`: one message per agent, got {describe(desc)}"
        )
    return str(desc[1][0][1])


def _selector(sel: int | slice) -> str:
    if isinstance(sel, int):
        return f"[{sel}]"
    return f"[{'' if sel.start is None else sel.start}:{'' if sel.stop is None else sel.stop}]"


def _is_numeric(desc: Desc, *, arrays: bool) -> bool:
    if desc[0] == Nodetype.BASE:
        return str(desc[1][0]) in _NUMERIC
    if arrays and desc[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        return _is_numeric(desc[1][0], arrays=False)
    return False


def _use_problem(use: str, desc: Desc) -> str | None:
    """Why a field of type ``desc`` cannot serve as ``use``, or None."""
    if use in ("observation", "action") and not _is_numeric(desc, arrays=True):
        return f"expected a number, bool or numeric array field, got {describe(desc)}"
    if use in ("reward", "flag") and not _is_numeric(desc, arrays=False):
        return f"expected a single number or bool field, got {describe(desc)}"
    if use == "seed" and not (desc[0] == Nodetype.BASE and str(desc[1][0]) in _SIGNED):
        return f"expected a signed integer field (the seed is -1 when none is given), got {describe(desc)}"
    if use == "image" and describe(desc) != IMAGE_MSG:
        return f"expected a {IMAGE_MSG} field, got {describe(desc)}"
    if use == "camera" and describe(desc) not in _CAMERA:
        return f"expected a {IMAGE_MSG} or {COMPRESSED_MSG} field (the space is an image), got {describe(desc)}"
    if use == "camera" and describe(desc) == COMPRESSED_MSG:
        return pillow_problem()
    return None


def _scalar_problem(base: str, value: Any) -> str | None:
    """Why ``value`` does not fit a ``base`` field, or None."""
    if base == "bool":
        return None if isinstance(value, bool) else f"expected true or false for a bool field, got {value!r}"
    if base in ("string", "wstring"):
        return None if isinstance(value, str) else f"expected a string for a {base} field, got {value!r}"
    if base in _FLOATS:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else f"expected a number for a {base} field, got {value!r}"
    if not isinstance(value, int) or isinstance(value, bool):
        return f"expected an integer for a {base} field, got {value!r}"
    bits = _SIGNED.get(base) or _UNSIGNED.get(base, 64)
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if base in _SIGNED else (0, 2**bits - 1)
    return None if low <= value <= high else f"expected an integer in [{low}, {high}] for a {base} field, got {value}"


def constant_problem(desc: Desc, value: Constant) -> str | None:
    """Why the constant ``value`` does not fit a field of type ``desc``, or None."""
    if desc[0] == Nodetype.BASE:
        return _scalar_problem(str(desc[1][0]), value)
    if desc[0] == Nodetype.NAME:
        return f"the field is a message ({describe(desc)}); give constants for its fields, as `<path>.<field>`"
    sub, length = desc[1]
    if not isinstance(value, list):
        return f"expected a list for a {describe(desc)} field, got {value!r}"
    if desc[0] == Nodetype.ARRAY and len(value) != length:
        return f"expected {length} items for a {describe(desc)} field, got {len(value)}"
    if sub[0] != Nodetype.BASE:
        return f"constants cannot fill a {describe(desc)} field (items are messages)"
    return next((p for p in (_scalar_problem(str(sub[1][0]), item) for item in value) if p), None)


def _locate(types: MessageTypes, root: str, label: str, text: str, *, request: bool) -> Desc:
    """Parse ``text`` and resolve it in ``root``; request paths take no index or slice."""
    path = FieldPath.parse(text)
    if request and any(sel is not None for _, sel in path.parts):
        raise ValueError(f"request paths name whole fields (`a.b`), without [index] or [a:b], got {text!r}")
    return resolve_path(types, root, label, path)


def _check_use(types: MessageTypes, root: str, label: str, key: str, text: str, use: str) -> list[KeyedProblem]:
    try:
        desc = _locate(types, root, label, text, request=label.endswith("request"))
    except ValueError as exc:
        return [(key, f"{text!r}: {exc}")]
    problem = _use_problem(use, desc)
    return [] if problem is None else [(key, f"{text!r} ({label} {root}): {problem}")]


def _response_entries(fields: FieldMapSpec) -> Iterator[tuple[str, str, str]]:
    """``(key, path, use)`` of every response path of the mapping but the observation's."""
    if fields.reward is not None:
        yield "fields.reward", fields.reward, "reward"
    yield from ((f"fields.terminated[{i}]", path, "flag") for i, path in enumerate(fields.terminated))
    yield from ((f"fields.truncated[{i}]", path, "flag") for i, path in enumerate(fields.truncated))
    if fields.image is not None:
        yield "fields.image", fields.image, "image"


def _observation_entries(
    fields: FieldMapSpec, space: SpaceSpec | None
) -> Iterator[tuple[str, str, str | None, ImageLayout | None]]:
    """``(key, path, dict key, image layout)`` of every observation path (layout: of the key's space, if known)."""
    given = fields.observation
    if isinstance(given, list):
        yield from ((f"fields.observation[{i}]", path, None, None) for i, path in enumerate(given))
        return
    for name, paths in given.items():
        sub = (space.spaces or {}).get(name) if space is not None else None
        layout = ImageLayout.of(build_space(sub)) if sub is not None else None
        if isinstance(paths, str):
            yield f"fields.observation.{name}", paths, name, layout
        else:
            yield from ((f"fields.observation.{name}[{i}]", path, name, layout) for i, path in enumerate(paths))


def _observation_use(types: MessageTypes, roots: tuple[str, str], text: str) -> str:
    """``camera`` when ``text`` names an Image or CompressedImage field in the step response, else ``observation``."""
    try:
        desc = _locate(types, roots[0], "step response", text, request=False)
    except ValueError:
        return "observation"  # the path's problem is reported by the observation check
    return "camera" if describe(desc) in _CAMERA else "observation"


def _camera_placement(text: str, name: str | None, alone: bool, sub: SpaceSpec | None) -> str | None:
    """Why the camera field ``text`` cannot be the observation of key ``name`` (space ``sub`` if known)."""
    if name is None:
        return f"{text!r} is a camera image; give it a key of its own in a dict observation_space (type dict)"
    if not alone:
        return f"{text!r} is a camera image; give it a key of its own, not one of several paths"
    if sub is not None and ImageLayout.of(build_space(sub)) is None:
        return (
            f"{text!r} is a camera image, but observation_space.spaces.{name} is not an image space "
            f"({IMAGE_SPACE_RULE}); got {build_space(sub)}"
        )
    return None


def _check_observation(
    fields: FieldMapSpec, types: MessageTypes, roots: tuple[str, str], space: SpaceSpec | None
) -> list[KeyedProblem]:
    """Observation paths exist in the step and the reset response and fit their key's space.

    A camera field (Image, CompressedImage) is the one path of a dict key whose space is an image; a key
    whose space is an image takes one camera field. Without ``space`` only the fields themselves are checked.
    """
    keys_problem = None if space is None else observation_keys_problem(fields, space)
    if keys_problem is not None:
        return [("fields.observation", keys_problem)]
    problems: list[KeyedProblem] = []
    paths = fields.observation_paths()
    for key, text, name, layout in _observation_entries(fields, space):
        if layout is not None and name is not None and len(paths[name]) > 1:
            problem = (f"fields.observation.{name}", f"the space of {name!r} is an image, {layout}: it takes one path")
            problems += [] if problem in problems else [problem]
            continue
        use = "camera" if layout is not None else _observation_use(types, roots, text)
        if use == "camera" and layout is None:
            sub = (space.spaces or {}).get(name) if space is not None and name is not None else None
            misplaced = _camera_placement(text, name, name is not None and len(paths[name]) == 1, sub)
            if misplaced is not None:
                problems.append((key, misplaced))
                continue
        found = _check_use(types, roots[0], "step response", key, text, use)
        if not found:  # a reset's observation comes from the reset response
            found = _check_use(types, roots[1], "reset response", key, text, use)
        problems += found
    return problems


def seed_field(fields: FieldMapSpec, types: MessageTypes, reset_request: str) -> str | None:
    """The reset-request field that gets the seed: `fields.seed`, except the default `seed` when it is absent."""
    names = {name for name, _ in types.field_defs(reset_request)}
    if fields.seed is None or (fields.seed == "seed" and "seed" not in names):
        return None
    return fields.seed


def _check_seed(fields: FieldMapSpec, types: MessageTypes, reset_request: str) -> list[KeyedProblem]:
    seed = seed_field(fields, types, reset_request)
    if seed is None:
        return []
    try:
        parts = FieldPath.parse(seed).parts
    except ValueError as exc:
        return [("fields.seed", str(exc))]
    if len(parts) != 1 or parts[0][1] is not None:
        return [("fields.seed", f"expected a top-level reset-request field name, got {seed!r}")]
    return _check_use(types, reset_request, "reset request", "fields.seed", seed, "seed")


def _check_constants(
    types: MessageTypes, root: str, section: str, constants: dict[str, Constant], taken: dict[str, str]
) -> list[KeyedProblem]:
    """Each ``path: value`` of ``fields.<section>`` names a field of ``root`` that the value fits."""
    label = "step request" if section == "step_request" else "reset request"
    problems: list[KeyedProblem] = []
    for text, value in constants.items():
        key = f"fields.{section}.{text}"
        try:
            desc = _locate(types, root, label, text, request=True)
        except ValueError as exc:
            problems.append((key, f"{text!r}: {exc}"))
            continue
        problem = constant_problem(desc, value)
        if problem is None and text.strip() in taken:
            problem = f"{text!r} is already set by fields.{taken[text.strip()]}; drop one of the two"
        if problem is not None:
            problems.append((key, f"{text!r} ({label} {root}): {problem}"))
    return problems


def check_field_map(
    fields: FieldMapSpec,
    types: MessageTypes,
    step_srv: str,
    reset_srv: str,
    observation_space: SpaceSpec | None = None,
    agents_field: str | None = None,
) -> list[KeyedProblem]:
    """Problems of ``fields`` against the srv types, as ``(key within the unity section, message)``.

    With ``observation_space``, the observation's keys must be the space's and camera fields must go to
    image spaces (and image spaces take camera fields). With ``agents_field`` (a multi-agent player's
    batch services) the response paths are relative to one item of that response field. Raises
    ``LookupError`` (:class:`~unity_workers.ros_tcp.UnknownMessageType`) for an unknown srv type.
    """
    step_request, step_response = types.resolve_service(step_srv)
    reset_request, reset_response = types.resolve_service(reset_srv)
    if agents_field is not None:
        try:
            step_response = _item_type(types, step_response, "step response", agents_field)
            reset_response = _item_type(types, reset_response, "reset response", agents_field)
        except ValueError as exc:
            return [("agents_per_instance", str(exc))]
        batch = _check_batch_requests(fields, types, step_request, reset_request)
    else:
        batch = []
    problems = batch + _check_observation(fields, types, (step_response, reset_response), observation_space)
    for key, text, use in _response_entries(fields):
        problems += _check_use(types, step_response, "step response", key, text, use)
    problems += _check_use(types, step_request, "step request", "fields.action", fields.action, "action")
    problems += _check_seed(fields, types, reset_request)
    seed = seed_field(fields, types, reset_request)
    problems += _check_constants(
        types, step_request, "step_request", fields.step_request, {fields.action.strip(): "action"}
    )
    reset_taken = {} if seed is None else {seed: "seed"}
    problems += _check_constants(types, reset_request, "reset_request", fields.reset_constants(reset_srv), reset_taken)
    return problems
