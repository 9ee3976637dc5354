"""Camera images as observations: image spaces (`ImageLayout`) and decoding of ROS image messages.

An image space is what SB3 feeds to its CNN extractors: a ``uint8`` Box with 3 dimensions, all lows 0 and
all highs 255, channels last ``(H, W, C)`` or first ``(C, H, W)`` (first when the first dimension is the
smallest, SB3's rule). Decoding serves C = 1 (mono) and C = 3 (RGB).

``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8, mono8) is read with numpy; ``sensor_msgs/CompressedImage``
(png, jpeg) with Pillow, imported when the first one arrives. Images are never resized: a frame of
another size is an error naming both sizes. Malformed data from the network (short buffers, unknown
encodings, broken or oversized compressed data) is a ``ValueError``; nothing in it is evaluated.
"""

from __future__ import annotations

import importlib.util
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = [
    "COMPRESSED_MSG",
    "IMAGE_MSG",
    "IMAGE_SPACE_RULE",
    "ImageLayout",
    "decode_image",
    "image_to_rgb",
    "pillow_problem",
]

IMAGE_MSG = "sensor_msgs/msg/Image"
COMPRESSED_MSG = "sensor_msgs/msg/CompressedImage"
IMAGE_SPACE_RULE = "an image space is a uint8 box with low 0, high 255 and shape [H, W, C] or [C, H, W], C = 1 or 3"
PILLOW_INSTALL = "pip install pillow"

_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
_COMPRESSED_FORMATS = ("png", "jpeg", "jpg")


@dataclass(frozen=True)
class ImageLayout:
    """The pixel layout of an image space: size, channels (1 or 3) and their order."""

    height: int
    width: int
    channels: int
    channels_first: bool

    @classmethod
    def of(cls, space: Any) -> ImageLayout | None:
        """The layout of ``space`` when it is an image space with 1 or 3 channels, else None."""
        if not isinstance(space, spaces.Box) or space.dtype != np.uint8 or len(space.shape) != 3:
            return None
        if np.any(space.low != 0) or np.any(space.high != 255):
            return None
        shape = tuple(int(n) for n in space.shape)
        first = int(np.argmin(shape)) == 0
        channels, height, width = shape if first else (shape[2], shape[0], shape[1])
        return cls(height, width, channels, first) if channels in (1, 3) else None

    @property
    def shape(self) -> tuple[int, int, int]:
        """The space's shape."""
        if self.channels_first:
            return (self.channels, self.height, self.width)
        return (self.height, self.width, self.channels)

    def __str__(self) -> str:
        order = "CHW" if self.channels_first else "HWC"
        return f"{'x'.join(map(str, self.shape))} ({order}, {'mono' if self.channels == 1 else 'RGB'})"


def _raw_pixels(image: Any, where: str) -> np.ndarray:
    """A ``sensor_msgs/Image`` as ``(H, W, 1)`` mono or ``(H, W, 3)`` RGB uint8 (alpha dropped)."""
    encoding = str(image.encoding)
    if encoding not in _CHANNELS:
        raise ValueError(f"{where}image encoding {encoding!r} is not supported; use one of {sorted(_CHANNELS)}")
    height, width, step, n = int(image.height), int(image.width), int(image.step), _CHANNELS[encoding]
    data = np.asarray(image.data, dtype=np.uint8).reshape(-1)
    if height < 0 or width < 0 or step < width * n or data.size < height * step:
        raise ValueError(
            f"{where}image {width}x{height} {encoding} with step {step}: expected at least "
            f"{height * max(step, width * n)} bytes, got {data.size}"
        )
    pixels = data[: height * step].reshape(height, step)[:, : width * n].reshape(height, width, n)
    if n == 1:
        return pixels
    rgb = pixels[:, :, :3]
    return np.ascontiguousarray(rgb[:, :, ::-1] if encoding.startswith("bgr") else rgb)


def image_to_rgb(image: Any) -> np.ndarray:
    """A ``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8, mono8) as an ``(H, W, 3)`` uint8 array (videos)."""
    pixels = _raw_pixels(image, "")
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


def pillow_problem() -> str | None:
    """Why compressed images cannot be decoded here (Pillow is missing), or None."""
    if importlib.util.find_spec("PIL") is None:
        return f"sensor_msgs/CompressedImage fields are decoded with Pillow, which is not installed: {PILLOW_INSTALL}"
    return None


def _size_error(where: str, layout: ImageLayout, width: int, height: int, what: str) -> ValueError:
    return ValueError(
        f"{where}expected a {layout.height}x{layout.width} image (HxW) for the space {layout}, got "
        f"{height}x{width} {what}; images are not resized: make the camera or the space match"
    )


class _Frame(io.BytesIO):
    """The bytes of a compressed frame; Pillow's errors show this ``repr``, not an object address."""

    def __repr__(self) -> str:
        return "(not png or jpeg data)"


def _decompressed(message: Any, layout: ImageLayout, where: str) -> np.ndarray:
    """A png/jpeg ``sensor_msgs/CompressedImage`` as ``(H, W, C)`` of the layout's channels."""
    fmt = str(message.format)
    if fmt and not any(name in fmt.lower() for name in _COMPRESSED_FORMATS):
        raise ValueError(f"{where}compressed image format {fmt!r} is not supported; use png or jpeg")
    problem = pillow_problem()
    if problem is not None:
        raise ValueError(where + problem)
    from PIL import Image

    data = np.asarray(message.data, dtype=np.uint8).tobytes()
    pixels: np.ndarray | None = None
    try:  # Pillow raises OSError, SyntaxError, DecompressionBombError, ... on bad data: all become ValueError
        with Image.open(_Frame(data), formats=["PNG", "JPEG"]) as picture:
            (width, height), kind = picture.size, picture.format
            if (height, width) == (layout.height, layout.width):  # the header's size: checked before decoding
                pixels = np.asarray(picture.convert("L" if layout.channels == 1 else "RGB"), dtype=np.uint8)
    except Exception as exc:
        raise ValueError(f"{where}cannot decode the {fmt!r} compressed image ({len(data)} bytes): {exc}") from None
    if pixels is None:
        raise _size_error(where, layout, width, height, f"{kind} ({fmt!r})")
    return pixels.reshape(layout.height, layout.width, layout.channels)


def _to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """``(H, W, 1|3)`` -> ``(H, W, channels)``: mono repeated to RGB, RGB to mono by ITU-R 601 luma."""
    if pixels.shape[2] == channels:
        return pixels
    if channels == 3:
        return np.repeat(pixels, 3, axis=2)
    luma = pixels.astype(np.uint32) @ np.array([299, 587, 114], dtype=np.uint32)
    return ((luma + 500) // 1000).astype(np.uint8)[:, :, None]


def decode_image(message: Any, layout: ImageLayout, where: str = "") -> np.ndarray:
    """``message`` (Image or CompressedImage) as an array of ``layout.shape``; ``where`` prefixes errors."""
    where = f"{where}: " if where else ""
    if hasattr(message, "encoding") and hasattr(message, "height"):
        pixels = _raw_pixels(message, where)
        height, width = pixels.shape[:2]
        if (height, width) != (layout.height, layout.width):
            raise _size_error(where, layout, width, height, str(message.encoding))
        pixels = _to_channels(pixels, layout.channels)
    elif hasattr(message, "format") and hasattr(message, "data"):
        pixels = _decompressed(message, layout, where)
    else:
        kind = getattr(message, "__msgtype__", type(message).__name__)
        raise ValueError(f"{where}expected a {IMAGE_MSG} or {COMPRESSED_MSG}, got {kind}")
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)) if layout.channels_first else pixels
