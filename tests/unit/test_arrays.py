"""Array wire formats: lists and base64 decode alike; bad arrays fail with a reason."""

from __future__ import annotations

import base64
from typing import Annotated

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from schemas.arrays import ArrayField, decode_array, encode_array


class Model(BaseModel):
    M: Annotated[np.ndarray, ArrayField(2)]


def b64(a: np.ndarray, dtype: str = "float64") -> dict:
    wire = {"float64": "<f8", "float32": "<f4", "int64": "<i8", "int32": "<i4"}[dtype]
    raw = np.ascontiguousarray(a, dtype=wire).tobytes()
    return {"dtype": dtype, "shape": list(a.shape), "base64": base64.b64encode(raw).decode()}


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32"])
def test_base64_and_list_forms_decode_alike(dtype: str) -> None:
    a = np.arange(12, dtype=float).reshape(3, 4) - 5.5 * (dtype.startswith("float"))
    from_list = Model.model_validate({"M": a.tolist()}).M
    from_b64 = Model.model_validate({"M": b64(a, dtype)}).M
    assert from_list.dtype == from_b64.dtype == np.float64
    np.testing.assert_array_equal(from_list, from_b64)
    np.testing.assert_array_equal(from_b64, a.astype(dtype))


def test_round_trip_through_json_is_exact() -> None:
    a = np.random.default_rng(0).standard_normal((5, 3))
    m = Model.model_validate({"M": a})
    again = Model.model_validate_json(m.model_dump_json())
    np.testing.assert_array_equal(again.M, a)  # base64 keeps every bit


def test_decoded_arrays_are_read_only() -> None:
    m = Model.model_validate({"M": [[1.0, 2.0]]})
    with pytest.raises(ValueError):
        m.M[0, 0] = 3.0


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([[1.0, 2.0], [3.0]], "ragged"),
        ([[1.0, "a"]], "non-numeric"),
        ([[1.0, float("nan")]], "NaN or infinity"),
        ([[1.0, float("-inf")]], "NaN or infinity"),
        ([1.0, 2.0], "2-D"),
        ([[[1.0]]], "2-D"),
        ([[]], "empty"),
        ("text", "list of numbers"),
        ({"dtype": "float64", "shape": [2, 2], "base64": "AAAA"}, "need 32"),
        ({"dtype": "float64", "shape": [1, 1], "base64": "@@"}, "not valid base64"),
        ({"dtype": "float64", "shape": [-1, 1], "base64": ""}, "non-negative"),
        ({"dtype": "float64", "shape": [1, 1]}, "Field required"),
        ({"dtype": "float64", "shape": [1, 1], "base64": "", "x": 1}, "Extra inputs"),
    ],
)
def test_bad_arrays_name_the_reason(value: object, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        Model.model_validate({"M": value})
    errors = info.value.errors()
    assert errors[0]["loc"][0] == "M"
    assert any(fragment in e["msg"] for e in errors), errors


def test_nan_from_base64_is_rejected_with_its_index() -> None:
    a = np.ones((2, 2))
    a[1, 0] = np.nan
    with pytest.raises(ValidationError, match=r"first at index \[1, 0\]"):
        Model.model_validate({"M": b64(a)})


def test_encode_list_turns_non_finite_into_null_and_base64_keeps_it() -> None:
    a = np.array([1.0, np.nan, np.inf])
    assert encode_array(a, "list") == [1.0, None, None]
    packed = encode_array(a, "base64")
    back = np.frombuffer(base64.b64decode(packed["base64"]), dtype="<f8")
    assert np.isnan(back[1]) and np.isinf(back[2]) and packed["shape"] == [3]


def test_scalars_are_not_arrays() -> None:
    with pytest.raises(Exception, match="list of numbers"):
        decode_array(2)
