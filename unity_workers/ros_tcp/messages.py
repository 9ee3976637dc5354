"""ROS 2 message types for the ROS-TCP bridge, built on ``rosbags.typesys`` (pure Python, no ROS install).

:class:`MessageTypes` starts from rosbags' bundled ROS 2 Jazzy store (std_msgs, sensor_msgs,
geometry_msgs, ...) and loads extra interface definitions at run time from a folder laid out like
ROS interface packages::

    <folder>/<pkg>/msg/<Type>.msg
    <folder>/<pkg>/srv/<Name>.srv     # split at "---" into <pkg>/srv/<Name>_Request and _Response

Serialization is ROS 2 CDR (little-endian, with the 4-byte encapsulation header), byte-identical to
``rclpy.serialization`` for the same message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

__all__ = ["DEFAULT_STORE", "MessageTypes", "UnknownMessageType"]

DEFAULT_STORE = Stores.ROS2_JAZZY

_NUMPY_DTYPES: dict[str, type[np.generic]] = {
    "bool": np.bool_,
    "byte": np.uint8,
    "octet": np.uint8,
    "char": np.uint8,
    "uint8": np.uint8,
    "int8": np.int8,
    "uint16": np.uint16,
    "int16": np.int16,
    "uint32": np.uint32,
    "int32": np.int32,
    "uint64": np.uint64,
    "int64": np.int64,
    "float32": np.float32,
    "float64": np.float64,
}
_EMPTY_FIELD: Any = ("structure_needs_at_least_one_member", (Nodetype.BASE, ("uint8", 0)))


class UnknownMessageType(KeyError):
    """A message or service type the registry does not know; the message lists near misses."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class MessageTypes:
    """Registry of ROS 2 message/service types: name resolution, CDR (de)serialization, dict building."""

    def __init__(self, interfaces_dir: str | Path | None = None, store: Stores = DEFAULT_STORE) -> None:
        self._store = get_typestore(store)
        self.store_name = store
        if interfaces_dir is not None:
            self.load_interfaces(interfaces_dir)

    # ------------------------------------------------------------------ loading
    def load_interfaces(self, folder: str | Path) -> list[str]:
        """Load every ``<pkg>/msg/*.msg`` and ``<pkg>/srv/*.srv`` under ``folder``; return the new type names.

        All files are parsed first and registered together, so definitions may refer to each other
        in any order (relative names resolve to ``<pkg>/msg/<Type>``, as in ROS).
        """
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"interfaces folder {str(root)!r} does not exist or is not a directory")
        typedefs: dict[str, Any] = {}
        for path in sorted(root.glob("*/msg/*.msg")):
            pkg = path.parent.parent.name
            typedefs.update(self._parse(path.read_text(encoding="utf-8"), pkg, path.stem, "msg", path))
        for path in sorted(root.glob("*/srv/*.srv")):
            pkg = path.parent.parent.name
            request, response = _split_srv(path.read_text(encoding="utf-8"), path)
            typedefs.update(self._parse(request, pkg, f"{path.stem}_Request", "srv", path))
            typedefs.update(self._parse(response, pkg, f"{path.stem}_Response", "srv", path))
        self._store.register(typedefs)
        return sorted(typedefs)

    @staticmethod
    def _parse(text: str, pkg: str, type_name: str, kind: str, path: Path | None) -> dict[str, Any]:
        # Parse under pkg/msg/... so relative field types resolve to pkg/msg/<Type>, then rename.
        try:
            parsed = get_types_from_msg(text, f"{pkg}/msg/{type_name}")
        except Exception as exc:
            where = f" in {str(path)!r}" if path else ""
            raise ValueError(f"cannot parse definition of {pkg}/{kind}/{type_name}{where}: {exc}") from exc
        consts, fields = parsed[f"{pkg}/msg/{type_name}"]
        if not fields:  # ROS 2 gives empty structures one uint8 member
            fields = [_EMPTY_FIELD]
        return {f"{pkg}/{kind}/{type_name}": (consts, fields)}

    # ------------------------------------------------------------------ names
    @property
    def names(self) -> list[str]:
        """Every known type name (rosbags form, e.g. ``std_msgs/msg/String``)."""
        return sorted(self._store.fielddefs)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.resolve(name)
        except UnknownMessageType:
            return False
        return True

    def resolve(self, message_name: str) -> str:
        """Map a ROS-TCP ``message_name`` (``std_msgs/String`` or ``std_msgs/msg/String``) to a rosbags name."""
        name = message_name.strip().strip("/")
        candidates = [name]
        parts = name.split("/")
        if len(parts) == 2:
            candidates.append(f"{parts[0]}/msg/{parts[1]}")
        for candidate in candidates:
            if candidate in self._store.fielddefs:
                return candidate
        raise self._unknown(message_name, "message")

    def resolve_service(self, message_name: str) -> tuple[str, str]:
        """Map a service ``message_name`` (``pkg/Name`` or ``pkg/srv/Name``) to its (request, response) types."""
        name = message_name.strip().strip("/")
        for suffix in ("_Request", "_Response"):
            name = name.removesuffix(suffix)
        parts = name.split("/")
        base = f"{parts[0]}/srv/{parts[-1]}" if len(parts) in (2, 3) else name
        request, response = f"{base}_Request", f"{base}_Response"
        if request in self._store.fielddefs and response in self._store.fielddefs:
            return request, response
        raise self._unknown(message_name, "service")

    def field_defs(self, message_name: str) -> list[tuple[str, Any]]:
        """The fields of a type as rosbags describes them: ``(name, (Nodetype, detail))`` in order."""
        _, fields = self._store.fielddefs[self.resolve(message_name)]
        return [(name, desc) for name, desc in fields if (name, desc) != _EMPTY_FIELD]

    def _unknown(self, message_name: str, kind: str) -> UnknownMessageType:
        known = self.names
        if kind == "service":
            known = sorted({n.removesuffix("_Request") for n in known if n.endswith("_Request")})
        leaf = message_name.strip("/").split("/")[-1].lower()
        near = [n for n in known if n.split("/")[-1].lower() == leaf]
        near += [n for n in difflib.get_close_matches(message_name, known, n=5, cutoff=0.6) if n not in near]
        hint = f"; near misses: {', '.join(near[:6])}" if near else f"; {len(known)} {kind} types are known"
        return UnknownMessageType(f"unknown ROS {kind} type {message_name!r}{hint}")

    # ------------------------------------------------------------------ CDR
    def serialize(self, msg: object, message_name: str | None = None) -> bytes:
        """Serialize ``msg`` to ROS 2 CDR bytes (little-endian, encapsulation header ``00 01 00 00``)."""
        typename = self.resolve(message_name) if message_name else getattr(msg, "__msgtype__", None)
        if not isinstance(typename, str):
            raise TypeError(f"cannot tell the ROS type of {type(msg).__name__}; pass message_name")
        return bytes(self._store.serialize_cdr(msg, typename))

    def to_cdr(self, msg: Any, message_name: str) -> bytes:
        """CDR bytes of ``msg`` given as bytes (passed through), a message object, or a dict to build."""
        if isinstance(msg, bytes | bytearray | memoryview):
            return bytes(msg)
        if isinstance(msg, Mapping):
            msg = self.build(message_name, msg)
        return self.serialize(msg, message_name)

    def deserialize(self, data: bytes | bytearray | memoryview, message_name: str) -> Any:
        """Deserialize ROS 2 CDR bytes into a message of type ``message_name``.

        Raises:
            ValueError: the bytes do not decode as that type (truncated, wrong type, bad header).
        """
        typename = self.resolve(message_name)
        raw = bytes(data)
        if len(raw) < 4 or raw[0] != 0 or raw[1] not in (0, 1):
            raise ValueError(f"not CDR data for {typename}: header {raw[:4].hex(' ')!r} ({len(raw)} bytes)")
        try:
            return self._store.deserialize_cdr(raw, typename)
        except Exception as exc:
            raise ValueError(f"cannot deserialize {len(raw)} bytes as {typename}: {exc!r}") from exc

    # ------------------------------------------------------------------ dicts
    def build(self, message_name: str, values: Mapping[str, Any] | None = None) -> Any:
        """Build a message from a (nested) dict; missing fields get ROS defaults (0, "", False, empty).

        Numeric sequences/arrays accept lists or numpy arrays; nested messages accept dicts or
        message objects. Unknown field names raise ``ValueError`` listing the real ones.
        """
        typename = self.resolve(message_name)
        _, fields = self._store.fielddefs[typename]
        values = dict(values or {})
        names = [fname for fname, _ in fields]
        extra = sorted(set(values) - set(names))
        if extra:
            raise ValueError(f"{typename} has no field(s) {extra}; its fields are {names}")
        kwargs = {fname: self._value(desc, values.get(fname), f"{typename}.{fname}") for fname, desc in fields}
        return self._store.types[typename](**kwargs)

    def _value(self, desc: tuple[Any, Any], value: Any, where: str) -> Any:
        nodetype, detail = desc
        if nodetype == Nodetype.BASE:
            base = detail[0]
            if value is None:
                if base in ("string", "wstring"):
                    return ""
                return False if base == "bool" else (0.0 if base in ("float32", "float64") else 0)
            if isinstance(value, np.ndarray):  # a one-element action array into a scalar field
                value = value.item()
            if base in ("float32", "float64"):
                return float(value)
            if base == "bool":
                return bool(value)
            return value if base in ("string", "wstring") else int(value)
        if nodetype == Nodetype.NAME:
            if value is None or isinstance(value, Mapping):
                return self.build(detail, value)
            return value
        (subdesc, length) = detail
        items: Iterable[Any] = [] if value is None else value
        if subdesc[0] == Nodetype.BASE and subdesc[1][0] in _NUMPY_DTYPES:
            arr = np.asarray(items, dtype=_NUMPY_DTYPES[subdesc[1][0]])
            if nodetype == Nodetype.ARRAY:
                if value is None:
                    arr = np.zeros(length, dtype=_NUMPY_DTYPES[subdesc[1][0]])
                if arr.shape != (length,):
                    raise ValueError(f"{where} is a fixed array of {length}, got shape {arr.shape}")
            return arr
        built = [self._value(subdesc, item, where) for item in items]
        if nodetype == Nodetype.ARRAY:
            if value is None:
                built = [self._value(subdesc, None, where) for _ in range(length)]
            if len(built) != length:
                raise ValueError(f"{where} is a fixed array of {length}, got {len(built)} items")
        return built

    def to_dict(self, msg: Any) -> dict[str, Any]:
        """Convert a message into plain nested dicts/lists (numpy arrays become lists)."""
        typename = msg.__msgtype__
        _, fields = self._store.fielddefs[typename]
        return {fname: _plain(getattr(msg, fname)) for fname, _ in fields}


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "__msgtype__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__ if name != "__msgtype__"}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _split_srv(text: str, path: Path) -> tuple[str, str]:
    """Split ``.srv`` text at its ``---`` separator line into (request, response) ``.msg`` text."""
    lines = text.splitlines()
    seps = [i for i, line in enumerate(lines) if line.strip() == "---"]
    if len(seps) != 1:
        raise ValueError(f"{str(path)!r}: a .srv needs exactly one '---' line, found {len(seps)}")
    i = seps[0]
    return "\n".join(lines[:i]) + "\n", "\n".join(lines[i + 1 :]) + "\n"
