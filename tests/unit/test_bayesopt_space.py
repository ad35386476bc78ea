"""Search spaces: encode/decode round trips, canonical points, keys and input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workers.solvers.bayesopt.space import Param, Space


def mixed_space() -> Space:
    return Space(
        [
            Param("lr", "float", 1e-5, 1e-1, log=True),
            Param("momentum", "float", 0.0, 0.99),
            Param("layers", "int", 1, 8),
            Param("width", "int", 16, 1024, log=True),
            Param("act", "categorical", choices=("relu", "tanh", True, 1, None)),
        ]
    )


def test_dimension_and_layout() -> None:
    space = mixed_space()
    assert space.dim == 4 + 5
    assert list(space.float_dims) == [0, 1]
    assert list(space.int_dims) == [2, 3]
    assert list(space.cat_dims) == [4, 5, 6, 7, 8]


@pytest.mark.parametrize(
    "point",
    [
        {"lr": 1e-5, "momentum": 0.0, "layers": 1, "width": 16, "act": "relu"},
        {"lr": 1e-1, "momentum": 0.99, "layers": 8, "width": 1024, "act": None},
        {"lr": 3.3e-3, "momentum": 0.5, "layers": 4, "width": 17, "act": True},
        {"lr": 2e-4, "momentum": 0.123456789, "layers": 5, "width": 1023, "act": 1},
    ],
)
def test_round_trip(point: dict) -> None:
    space = mixed_space()
    u = space.encode(point)
    assert u.shape == (space.dim,) and np.all((u >= 0.0) & (u <= 1.0))
    back = space.decode(u)
    assert back.keys() == point.keys()
    for name in ("lr", "momentum"):
        assert isinstance(back[name], float)
        assert back[name] == pytest.approx(point[name], rel=1e-12, abs=1e-15)
    for name in ("layers", "width"):
        assert type(back[name]) is int and back[name] == point[name]
    # True and 1 are distinct choices: the decoded object is the very choice, type included
    assert back["act"] is point["act"] or (back["act"] == point["act"])
    assert type(back["act"]) is type(point["act"])
    assert space.key(back) == space.key(point)
    # canonical: encoding the decoding gives the same vector, and snapping is a no-op
    np.testing.assert_allclose(space.encode(back), u, atol=1e-12)
    np.testing.assert_allclose(space.snap(u[None, :])[0], u, atol=1e-12)


def test_integer_bins_cover_the_unit_interval() -> None:
    """Every u decodes to the integer whose bin contains it; all integers are reachable and each
    integer's encoding decodes to itself (linear and log scales)."""
    for log in (False, True):
        space = Space([Param("k", "int", 1, 20, log=log)])
        grid = np.linspace(0.0, 1.0, 20001)
        decoded = [space.decode(np.array([g]))["k"] for g in grid]
        assert sorted(set(decoded)) == list(range(1, 21))
        assert all(a <= b for a, b in zip(decoded, decoded[1:], strict=False))  # monotone
        for k in range(1, 21):
            assert space.decode(space.encode({"k": k}))["k"] == k
    # linear bins have equal width 1/20 and integers sit at their centres
    space = Space([Param("k", "int", 1, 20)])
    np.testing.assert_allclose(space.encode({"k": 1}), [0.025])
    np.testing.assert_allclose(space.encode({"k": 20}), [0.975])


def test_decode_clips_and_snaps() -> None:
    space = mixed_space()
    u = np.array([-3.0, 7.0, 0.51, 2.0, 0.2, 0.9, 0.1, 0.9, 0.0])
    p = space.decode(u)
    assert p["lr"] == pytest.approx(1e-5) and p["momentum"] == 0.99
    assert p["width"] == 1024 and p["act"] == "tanh"  # first of the tied maxima
    snapped = space.snap(u[None, :])[0]
    assert space.decode(snapped) == p
    assert snapped[4:].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("point", "fragment"),
    [
        ({"momentum": 0.5, "layers": 2, "width": 32, "act": "relu"}, "'lr': missing"),
        ({"lr": 1e-3, "momentum": 1.5, "layers": 2, "width": 32, "act": "relu"}, "'momentum'"),
        ({"lr": 0.0, "momentum": 0.5, "layers": 2, "width": 32, "act": "relu"}, "'lr'"),
        ({"lr": "big", "momentum": 0.5, "layers": 2, "width": 32, "act": "relu"}, "'lr'"),
        ({"lr": True, "momentum": 0.5, "layers": 2, "width": 32, "act": "relu"}, "'lr'"),
        ({"lr": math.nan, "momentum": 0.5, "layers": 2, "width": 32, "act": "relu"}, "'lr'"),
        ({"lr": 1e-3, "momentum": 0.5, "layers": 2.5, "width": 32, "act": "relu"}, "'layers'"),
        ({"lr": 1e-3, "momentum": 0.5, "layers": 9, "width": 32, "act": "relu"}, "'layers'"),
        ({"lr": 1e-3, "momentum": 0.5, "layers": 2, "width": 32, "act": "gelu"}, "'act'"),
        ({"lr": 1e-3, "momentum": 0.5, "layers": 2, "width": 32, "act": False}, "'act'"),
        (
            {"lr": 1e-3, "momentum": 0.5, "layers": 2, "width": 32, "act": "relu", "x": 1},
            "unknown parameter",
        ),
    ],
)
def test_encode_errors_name_the_parameter(point: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        mixed_space().encode(point)


def test_integral_floats_are_accepted_for_ints() -> None:
    space = Space([Param("k", "int", 0, 4)])
    np.testing.assert_allclose(space.encode({"k": 3.0}), space.encode({"k": 3}))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "a", "type": "float", "low": 1.0, "high": 1.0}, "low < high"),
        ({"name": "a", "type": "float", "low": 0.0, "high": 1.0, "log": True}, "low > 0"),
        ({"name": "a", "type": "int", "low": 0.5, "high": 3}, "integers"),
        ({"name": "a", "type": "int", "low": 0, "high": 3, "log": True}, "low >= 1"),
        ({"name": "a", "type": "categorical", "choices": ()}, "at least one"),
        ({"name": "a", "type": "categorical", "choices": ("x", "x")}, "twice"),
        ({"name": "a", "type": "categorical", "choices": ([1],)}, "hashable"),
        ({"name": "a", "type": "float", "low": None, "high": 1.0}, "numbers"),
        ({"name": "a", "type": "double", "low": 0.0, "high": 1.0}, "type must be"),
    ],
)
def test_param_validation(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Param(**kwargs)


def test_space_validation() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Space([Param("a", "float", 0, 1), Param("a", "int", 0, 1)])
    with pytest.raises(ValueError, match="at least one"):
        Space([])


def test_keys_identify_points() -> None:
    space = Space([Param("x", "float", 0.0, 1.0), Param("k", "int", 0, 3)])
    a = space.key({"x": 0.1, "k": 2})
    assert a == space.key({"x": 0.1 + 1e-17, "k": 2.0})
    assert a != space.key({"x": 0.1 + 1e-9, "k": 2})
    assert a != space.key({"x": 0.1, "k": 3})


def test_finite_spaces() -> None:
    space = Space([Param("k", "int", -1, 1), Param("c", "categorical", choices=("a", "b"))])
    assert space.cardinality() == 6
    U = space.enumerate_all()
    assert U.shape == (6, space.dim)
    keys = {space.key_of(u) for u in U}
    assert len(keys) == 6
    nb = space.neighbours(space.encode({"k": -1, "c": "a"}))
    assert {tuple(sorted(space.decode(u).items())) for u in nb} == {
        (("c", "a"), ("k", 0)),
        (("c", "b"), ("k", -1)),
    }
    assert Space([Param("x", "float", 0, 1)]).cardinality() is None


def test_from_unit_follows_a_prior() -> None:
    """Uniform inputs map uniformly without a prior and through the truncated-normal quantile
    function with one: the empirical quantiles match scipy's truncnorm."""
    from scipy import stats

    space = Space([Param("x", "float", 0.0, 10.0), Param("c", "categorical", choices=(1, 2))])
    v = (np.arange(1000) + 0.5) / 1000
    V = np.column_stack([v, v])
    plain = np.array([space.decode(u)["x"] for u in space.from_unit(V)])
    np.testing.assert_allclose(plain, 10.0 * v, atol=1e-9)
    withp = np.array([space.decode(u)["x"] for u in space.from_unit(V, {"x": (8.0, 1.0)})])
    ref = stats.truncnorm.ppf(v, (0 - 8.0) / 1.0, (10 - 8.0) / 1.0, loc=8.0, scale=1.0)
    np.testing.assert_allclose(withp, ref, atol=1e-9)
    cats = [space.decode(u)["c"] for u in space.from_unit(V)]
    assert cats.count(1) == cats.count(2) == 500
