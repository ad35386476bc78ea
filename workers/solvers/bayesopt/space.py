r"""Search spaces and their encoding into the unit cube.

Every model and acquisition function works on *encoded* points ``u`` in ``[0, 1]^D``:

* ``float`` on ``[low, high]``: ``u = (x - low) / (high - low)``; with ``log=True`` the same on
  ``log x`` (``low > 0``).
* ``int`` on ``{low, ..., high}``: the continuous relaxation ``[low - 1/2, high + 1/2]`` is mapped
  to ``[0, 1]``, so every integer owns a bin of equal width and is encoded at its bin's centre;
  any ``u`` decodes to the integer of the bin it falls in (round half to even at bin edges). With
  ``log=True`` the relaxation is ``[log(low - 1/2), log(high + 1/2)]`` (``low >= 1``): the bin of
  ``k`` is then ``[log(k - 1/2), log(k + 1/2)]`` and ``k`` is encoded at ``log k``.
* ``categorical`` with ``k`` choices: ``k`` one-hot coordinates; any ``u`` decodes to the
  choice with the largest coordinate (the first on ties).

An encoded point is *canonical* when it is the encoding of its own decoding (floats in range,
integers at their encoded value, categoricals exactly one-hot); :meth:`Space.snap` makes points
canonical, vectorised. Two points are the same trial when their :meth:`Space.key` agree: integers
and choices exactly, floats to 12 significant digits (so that a decode/encode round trip, which can
move a float by an ulp, never creates a "new" point).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
from scipy import stats

__all__ = ["Param", "ParamType", "Space"]

ParamType = Literal["float", "int", "categorical"]
_KEY_DIGITS = 12


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def same_choice(a: Any, b: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1`` (both are choices a user may mean)."""
    if isinstance(a, bool | np.bool_) or isinstance(b, bool | np.bool_):
        return type(a) is type(b) and bool(a == b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Param:
    """One parameter of a search space.

    Attributes
    ----------
    name
        Unique within a space.
    type
        ``"float"``, ``"int"`` or ``"categorical"``.
    low, high
        Inclusive bounds of a numeric parameter (``low < high`` for floats, ``low <= high`` and
        integer-valued for ints); ``None`` for categoricals.
    log
        Search a numeric parameter on a log scale (``low > 0`` for floats, ``low >= 1`` for
        ints).
    choices
        The values of a categorical parameter (distinct, hashable); ``None`` otherwise.
    """

    name: str
    type: ParamType
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"parameter name must be a non-empty string, got {self.name!r}")
        where = f"parameter {self.name!r}"
        if self.type == "categorical":
            if self.low is not None or self.high is not None or self.log:
                raise ValueError(f"{where}: a categorical parameter takes no low/high/log")
            if self.choices is None or len(self.choices) == 0:
                raise ValueError(f"{where}: a categorical parameter needs at least one choice")
            choices = tuple(self.choices)
            for i, c in enumerate(choices):
                try:
                    hash(c)
                except TypeError:
                    raise ValueError(f"{where}: choice {c!r} is not hashable") from None
                if any(same_choice(c, d) for d in choices[:i]):
                    raise ValueError(f"{where}: choice {c!r} appears twice")
            object.__setattr__(self, "choices", choices)
            return
        if self.type not in ("float", "int"):
            raise ValueError(f"{where}: type must be 'float', 'int' or 'categorical'")
        if self.choices is not None:
            raise ValueError(f"{where}: only categorical parameters take choices")
        if not (_is_number(self.low) and _is_number(self.high)):
            raise ValueError(f"{where}: low and high must be numbers")
        low, high = float(self.low), float(self.high)  # type: ignore[arg-type]
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"{where}: low and high must be finite")
        if self.type == "float":
            if not low < high:
                raise ValueError(f"{where}: need low < high, got [{low}, {high}]")
            if self.log and low <= 0.0:
                raise ValueError(f"{where}: a log-scale float needs low > 0, got {low}")
        else:
            if not (low.is_integer() and high.is_integer()):
                raise ValueError(f"{where}: int bounds must be integers, got [{low}, {high}]")
            if not low <= high:
                raise ValueError(f"{where}: need low <= high, got [{low}, {high}]")
            if self.log and low < 1.0:
                raise ValueError(f"{where}: a log-scale int needs low >= 1, got {low}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)


@dataclass(frozen=True)
class _Slot:
    """Where one parameter lives in the encoded vector, and its relaxation interval."""

    param: Param
    start: int
    width: int
    a: float  # relaxed interval [a, b] (in log space for log params); unused for categoricals
    b: float
    low: float = 0.0  # the parameter's own bounds (numeric parameters)
    high: float = 0.0

    @property
    def n_ints(self) -> int:
        """Number of integers of an int parameter."""
        return int(self.high - self.low) + 1


class Space:
    """A search space: the encoding of parameter dicts into ``[0, 1]^dim`` and back.

    Parameters
    ----------
    params
        The parameters, in the order of the encoded coordinates (names unique, at least one).
    """

    def __init__(self, params: Sequence[Param]) -> None:
        params = tuple(params)
        if not params:
            raise ValueError("a search space needs at least one parameter")
        names = [p.name for p in params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate parameter names: {dupes}")
        self.params: tuple[Param, ...] = params
        slots = []
        start = 0
        for p in params:
            if p.type == "categorical":
                assert p.choices is not None
                slots.append(_Slot(p, start, len(p.choices), 0.0, 1.0))
                start += len(p.choices)
                continue
            assert p.low is not None and p.high is not None
            a, b = p.low, p.high
            if p.type == "int":
                a, b = a - 0.5, b + 0.5
            if p.log:
                a, b = math.log(a), math.log(b)
            slots.append(_Slot(p, start, 1, a, b, p.low, p.high))
            start += 1
        self._slots = tuple(slots)
        self._by_name = {s.param.name: s for s in slots}
        self.dim: int = start
        self.float_dims = np.array(
            [s.start for s in slots if s.param.type == "float"], dtype=np.intp
        )
        self.int_dims = np.array([s.start for s in slots if s.param.type == "int"], dtype=np.intp)
        self.cat_dims = np.array(
            [
                i
                for s in slots
                if s.param.type == "categorical"
                for i in range(s.start, s.start + s.width)
            ],
            dtype=np.intp,
        )

    # --- single points ----------------------------------------------------------------------------
    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """The canonical encoding of ``params`` (a dict holding every parameter), shape ``(dim,)``.

        Raises
        ------
        ValueError
            Naming the parameter, when one is missing or unknown, of the wrong type, out of its
            range, or not one of its choices.
        """
        unknown = sorted(set(params) - set(self._by_name))
        if unknown:
            raise ValueError(f"unknown parameter(s): {unknown}")
        u = np.zeros(self.dim)
        for s in self._slots:
            p = s.param
            if p.name not in params:
                raise ValueError(f"parameter {p.name!r}: missing value")
            value = params[p.name]
            if p.type == "categorical":
                u[s.start + self._choice_index(p, value)] = 1.0
                continue
            if not _is_number(value):
                raise ValueError(f"parameter {p.name!r}: expected a number, got {value!r}")
            x = float(value)
            if not math.isfinite(x):
                raise ValueError(f"parameter {p.name!r}: value {value!r} is not finite")
            if p.type == "int" and not (isinstance(value, Integral) or x.is_integer()):
                raise ValueError(f"parameter {p.name!r}: expected an integer, got {value!r}")
            if not (s.low <= x <= s.high):
                raise ValueError(
                    f"parameter {p.name!r}: value {value!r} outside [{s.low:g}, {s.high:g}]"
                )
            t = math.log(x) if p.log else x
            u[s.start] = min(max((t - s.a) / (s.b - s.a), 0.0), 1.0)
        return u

    def decode(self, u: np.ndarray) -> dict[str, Any]:
        """The parameter dict of an encoded point (any point of ``R^dim``; clipped to the cube).

        Floats come back as ``float`` within ``[low, high]``, ints as ``int``, categoricals as the
        choice object itself.
        """
        u = np.asarray(u, dtype=float)
        if u.shape != (self.dim,):
            raise ValueError(f"expected an encoded point of shape ({self.dim},), got {u.shape}")
        out: dict[str, Any] = {}
        for s in self._slots:
            p = s.param
            if p.type == "categorical":
                assert p.choices is not None
                out[p.name] = p.choices[int(np.argmax(u[s.start : s.start + s.width]))]
                continue
            t = s.a + min(max(float(u[s.start]), 0.0), 1.0) * (s.b - s.a)
            x = math.exp(t) if p.log else t
            if p.type == "int":
                out[p.name] = int(min(max(round(x), s.low), s.high))
            else:
                out[p.name] = min(max(x, s.low), s.high)
        return out

    def key(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """Identity of a trial: equal keys mean the same point (see the module notes)."""
        out: list[Any] = []
        for s in self._slots:
            p = s.param
            value = params[p.name]
            if p.type == "categorical":
                out.append(self._choice_index(p, value))
            elif p.type == "int":
                out.append(int(round(float(value))))
            else:
                out.append(float(f"{float(value):.{_KEY_DIGITS}g}"))
        return tuple(out)

    def key_of(self, u: np.ndarray) -> tuple[Any, ...]:
        """:meth:`key` of the decoding of an encoded point."""
        return self.key(self.decode(u))

    # --- vectorised helpers -----------------------------------------------------------------------
    def snap(self, U: np.ndarray) -> np.ndarray:
        """Canonical points (as :meth:`encode` of :meth:`decode`), shape ``(N, dim)``; new array."""
        U = np.clip(np.array(U, dtype=float, ndmin=2), 0.0, 1.0)
        for s in self._slots:
            p = s.param
            if p.type == "int":
                U[:, s.start] = self._int_encoded(s, self._int_index(s, U[:, s.start]))
            elif p.type == "categorical":
                block = U[:, s.start : s.start + s.width]
                hot = np.argmax(block, axis=1)
                block[:] = 0.0
                block[np.arange(U.shape[0]), hot] = 1.0
        return U

    def from_unit(
        self, V: np.ndarray, prior: Mapping[str, tuple[float, float]] | None = None
    ) -> np.ndarray:
        """Map points of ``[0, 1)^n_params`` (one coordinate per parameter, e.g. Sobol points) to
        canonical encoded points, shape ``(N, dim)``.

        A float or int coordinate is spread uniformly over the (log-)relaxed interval, or, for a
        parameter with a prior ``(mean, sd)`` in natural units, through the inverse CDF of that
        normal truncated to the relaxed interval; a categorical coordinate picks choice
        ``floor(v * k)``.
        """
        V = np.asarray(V, dtype=float)
        if V.ndim != 2 or V.shape[1] != len(self.params):
            raise ValueError(f"expected shape (N, {len(self.params)}), got {V.shape}")
        prior = prior or {}
        U = np.zeros((V.shape[0], self.dim))
        for j, s in enumerate(self._slots):
            p = s.param
            v = np.clip(V[:, j], 0.0, 1.0 - 1e-12)
            if p.type == "categorical":
                hot = np.minimum((v * s.width).astype(np.intp), s.width - 1)
                U[np.arange(V.shape[0]), s.start + hot] = 1.0
                continue
            if p.name in prior:
                mean, sd = prior[p.name]
                lo, hi = (math.exp(s.a), math.exp(s.b)) if p.log else (s.a, s.b)
                x = stats.truncnorm.ppf(v, (lo - mean) / sd, (hi - mean) / sd, loc=mean, scale=sd)
                x = np.clip(x, lo, hi)
                t = np.log(x) if p.log else x
                u = (t - s.a) / (s.b - s.a)
            else:
                u = v
            U[:, s.start] = u
        return self.snap(U)

    def natural(self, U: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Relaxed natural value ``x(u)`` of numeric parameter ``name`` at encoded points ``U``
        (``(N, dim)``; ints not rounded) and its derivative ``dx/du`` along its coordinate."""
        s = self._by_name[name]
        if s.param.type == "categorical":
            raise ValueError(f"parameter {name!r} is categorical")
        t = s.a + np.clip(U[:, s.start], 0.0, 1.0) * (s.b - s.a)
        if s.param.log:
            x = np.exp(t)
            return x, x * (s.b - s.a)
        return t, np.full_like(t, s.b - s.a)

    def column(self, name: str) -> int:
        """Encoded coordinate of numeric parameter ``name``."""
        return self._by_name[name].start

    def cardinality(self) -> int | None:
        """Number of distinct points, or ``None`` when a float parameter makes it infinite."""
        n = 1
        for s in self._slots:
            p = s.param
            if p.type == "float":
                return None
            if p.type == "categorical":
                n *= s.width
            else:
                n *= s.n_ints
        return n

    def enumerate_all(self) -> np.ndarray:
        """All points of a finite space, canonical, shape ``(cardinality, dim)``."""
        n = self.cardinality()
        if n is None:
            raise ValueError("the space has a float parameter: it is not finite")
        axes = []
        for s in self._slots:
            p = s.param
            if p.type == "categorical":
                axes.append(np.arange(s.width))
            else:
                axes.append(np.arange(s.n_ints))
        grids = np.meshgrid(*axes, indexing="ij")
        idx = np.stack([g.ravel() for g in grids], axis=1)
        U = np.zeros((idx.shape[0], self.dim))
        for j, s in enumerate(self._slots):
            if s.param.type == "categorical":
                U[np.arange(idx.shape[0]), s.start + idx[:, j]] = 1.0
            else:
                U[:, s.start] = self._int_encoded(s, idx[:, j])
        return U

    def neighbours(self, u: np.ndarray) -> np.ndarray:
        """Canonical discrete neighbours of canonical ``u``: each int one step up or down, each
        categorical switched to each other choice; shape ``(M, dim)`` (``M`` may be 0)."""
        rows = []
        for s in self._slots:
            p = s.param
            if p.type == "int":
                k = int(self._int_index(s, u[s.start : s.start + 1])[0])
                for step in (-1, 1):
                    if 0 <= k + step < s.n_ints:
                        v = u.copy()
                        v[s.start] = self._int_encoded(s, np.array([k + step]))[0]
                        rows.append(v)
            elif p.type == "categorical":
                hot = int(np.argmax(u[s.start : s.start + s.width]))
                for c in range(s.width):
                    if c != hot:
                        v = u.copy()
                        v[s.start : s.start + s.width] = 0.0
                        v[s.start + c] = 1.0
                        rows.append(v)
        return np.array(rows).reshape(len(rows), self.dim)

    # --- internals --------------------------------------------------------------------------------
    @staticmethod
    def _choice_index(p: Param, value: Any) -> int:
        assert p.choices is not None
        for i, c in enumerate(p.choices):
            if same_choice(c, value):
                return i
        raise ValueError(f"parameter {p.name!r}: {value!r} is not one of {list(p.choices)!r}")

    @staticmethod
    def _int_index(s: _Slot, u: np.ndarray) -> np.ndarray:
        """Offset ``k - low`` of the integer each encoded value decodes to."""
        p = s.param
        t = s.a + np.clip(u, 0.0, 1.0) * (s.b - s.a)
        x = np.exp(t) if p.log else t
        k = np.clip(np.round(x), s.low, s.high)
        return (k - s.low).astype(np.intp)

    @staticmethod
    def _int_encoded(s: _Slot, offset: np.ndarray) -> np.ndarray:
        p = s.param
        k = np.asarray(offset, dtype=float) + s.low
        t = np.log(k) if p.log else k
        return np.clip((t - s.a) / (s.b - s.a), 0.0, 1.0)
