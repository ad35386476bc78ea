"""Arrays on the wire: nested lists, or ``{"dtype", "shape", "base64"}`` (little-endian, C order).

Validation happens once, here: the result is a read-only, C-contiguous float64 numpy array of the
declared dimensionality with only finite values, so solver code trusts it.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

ArrayFormat = Literal["list", "base64"]

_WIRE_DTYPES: dict[str, str] = {
    "float64": "<f8",
    "float32": "<f4",
    "int64": "<i8",
    "int32": "<i4",
}


class EncodedArray(BaseModel):
    """The compact form of an array: raw little-endian bytes in C order, base64-encoded."""

    model_config = ConfigDict(extra="forbid")

    dtype: Literal["float64", "float32", "int64", "int32"] = "float64"
    shape: list[int] = Field(max_length=8)
    base64: str


def encode_array(a: Any, array_format: ArrayFormat = "base64") -> Any:
    """Render an array for JSON: nested lists (non-finite values as ``null``) or base64."""
    arr = np.asarray(a)
    if array_format == "list":
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            return _nan_to_none(arr.tolist())
        return arr.tolist()
    if arr.dtype.kind == "f":
        wire, name = "<f8", "float64"
    elif arr.dtype.kind in "iub":
        wire, name = "<i8", "int64"
    else:
        raise TypeError(f"cannot encode dtype {arr.dtype}")
    data = np.ascontiguousarray(arr, dtype=wire).tobytes()
    return {"dtype": name, "shape": list(arr.shape), "base64": base64.b64encode(data).decode()}


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def decode_array(value: Any) -> np.ndarray:
    """Parse either wire form into a float64 array; raise ``PydanticCustomError`` on bad input."""
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, dict):
        arr = _decode_base64(value)
    elif isinstance(value, list | tuple):
        arr = _decode_list(value)
    else:
        raise PydanticCustomError(
            "array_type",
            "expected a (nested) list of numbers or an object with dtype, shape and base64, "
            "got {type}",
            {"type": type(value).__name__},
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise PydanticCustomError(
            "array_not_finite",
            "array contains NaN or infinity (first at index {index})",
            {"index": list(int(i) for i in bad)},
        )
    arr.setflags(write=False)
    return arr


def _decode_list(value: list[Any] | tuple[Any, ...]) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64)
    except ValueError as exc:
        # numpy says "inhomogeneous shape" for ragged lists and "could not convert" for strings.
        reason = "ragged nested list (rows of different lengths)"
        if "convert" in str(exc) or "float()" in str(exc):
            reason = "non-numeric entry"
        raise PydanticCustomError(
            "array_shape", "invalid array: {reason}", {"reason": reason}
        ) from None
    except TypeError:
        raise PydanticCustomError(
            "array_shape", "invalid array: entries must be numbers", {}
        ) from None
    return arr


def _decode_base64(value: dict[str, Any]) -> np.ndarray:
    encoded = EncodedArray.model_validate(value)
    try:
        raw = base64.b64decode(encoded.base64, validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError("array_base64", "base64 field is not valid base64", {}) from None
    if any(d < 0 for d in encoded.shape):
        raise PydanticCustomError("array_shape", "shape entries must be non-negative", {})
    itemsize = np.dtype(_WIRE_DTYPES[encoded.dtype]).itemsize
    expected = math.prod(encoded.shape) * itemsize
    if len(raw) != expected:
        raise PydanticCustomError(
            "array_shape",
            "base64 payload holds {got} bytes but dtype {dtype} and shape {shape} need {expected}",
            {"got": len(raw), "dtype": encoded.dtype, "shape": encoded.shape, "expected": expected},
        )
    return np.frombuffer(raw, dtype=_WIRE_DTYPES[encoded.dtype]).reshape(encoded.shape)


class ArrayField:
    """Annotation for an array of fixed dimension: ``Annotated[np.ndarray, ArrayField(2)]``.

    ``ndim`` may be a tuple of accepted dimensions, e.g. ``(1, 2)`` for a signal or an image.
    """

    def __init__(self, ndim: int | tuple[int, ...]) -> None:
        self.ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)

    def validate(self, value: Any) -> np.ndarray:
        arr = decode_array(value)
        if arr.ndim not in self.ndims:
            raise PydanticCustomError(
                "array_ndim",
                "expected a {expected}-D array, got {got}-D with shape {shape}",
                {
                    "expected": " or ".join(map(str, self.ndims)),
                    "got": arr.ndim,
                    "shape": list(arr.shape),
                },
            )
        if arr.size == 0:
            raise PydanticCustomError("array_empty", "array must not be empty", {})
        return arr

    def __get_pydantic_core_schema__(
        self, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                encode_array, when_used="json"
            ),
        )

    def __get_pydantic_json_schema__(
        self, _schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        shapes: list[dict[str, Any]] = []
        for ndim in self.ndims:
            nested: dict[str, Any] = {"type": "number"}
            for _ in range(ndim):
                nested = {"type": "array", "items": nested}
            shapes.append(nested)
        encoded = handler(EncodedArray.__pydantic_core_schema__)
        dims = " or ".join(map(str, self.ndims))
        return {
            "anyOf": [*shapes, encoded],
            "description": f"{dims}-D array: nested lists or base64 (little-endian, C order)",
        }
