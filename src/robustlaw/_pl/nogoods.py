"""Sign combinations proven empty, learned from realizability LPs and reused everywhere.

When the margin LP of a partial sign pattern finds no interior point (optimum t* <= 0,
see :class:`~robustlaw._pl.lp.RegionLP`), its dual solution is a
Gordan / Farkas certificate: weights mu_l >= 0 on at most d + 1 fixed units with

    sum_l mu_l sigma_l w_l = 0,   sum_l mu_l sigma_l b_l = t* sum_l mu_l <= 0,

so that sum_l mu_l sigma_l (w_l . x + b_l) <= 0 at every x: no point has
sigma_l (w_l . x + b_l) > 0 on the whole support. The support with its signs is a
*no-good* valid in every node of the search, not only below the node whose LP found it.
In a node where all units of a no-good but one are fixed to its signs, the last unit
is forced to its other side without an LP (unit propagation, as in clause learning);
a node matching a whole no-good is empty.

Patterns are packed into 64-bit words and each literal keeps the rows holding it, so
that propagation (compiled: :func:`~robustlaw._pl.kernels.unit_propagation`)
checks only the no-goods a newly fixed unit can make unit.
"""

from __future__ import annotations

import numpy as np

from robustlaw._pl.kernels import unit_propagation

__all__ = ["NoGoods"]


def _pack(mask: np.ndarray, words: int) -> np.ndarray:
    """(k,) bool -> (words,) uint64 bit mask (unit l is bit l % 64 of word l // 64)."""
    padded = np.zeros(words * 64, dtype=bool)
    padded[: len(mask)] = mask
    return np.packbits(padded, bitorder="little").view(np.uint64)


class NoGoods:
    """A growing set of empty sign combinations of the units of one network.

    Parameters
    ----------
    k : int
        Units of the network.
    capacity : int
        Initial number of rows (the store grows by doubling).
    """

    def __init__(self, k: int, capacity: int = 1024) -> None:
        self.k = k
        self.words = max(1, (k + 63) // 64)
        self._pos = np.zeros((capacity, self.words), dtype=np.uint64)
        self._neg = np.zeros((capacity, self.words), dtype=np.uint64)
        self.n = 0
        self._keys: set[bytes] = set()
        # rows holding each literal (unit l on: 2 l + 1, off: 2 l), with their counts
        self._rows = np.zeros((2 * k, 16), dtype=np.int64)
        self._count = np.zeros(2 * k, dtype=np.int64)
        #: units fixed by propagation so far (for reporting)
        self.forced = 0
        #: rows learned here (not received from another process)
        self._local: list[int] = []

    def __len__(self) -> int:
        return self.n

    @property
    def learned(self) -> int:
        """Rows learned in this process (not received from another)."""
        return len(self._local)

    def add(self, sign: np.ndarray, local: bool = True) -> bool:
        """Record that no point realizes ``sign`` ((k,) in {-1, 0, +1}; 0 = not part of
        the no-good) strictly; ``local``: learned here, not received from another
        process. Returns False when it was known already."""
        pos = _pack(sign > 0, self.words)
        neg = _pack(sign < 0, self.words)
        key = pos.tobytes() + neg.tobytes()
        if key in self._keys or not (pos.any() or neg.any()):
            return False
        self._keys.add(key)
        if self.n == len(self._pos):
            self._pos = np.vstack([self._pos, np.zeros_like(self._pos)])
            self._neg = np.vstack([self._neg, np.zeros_like(self._neg)])
        row = self.n
        self._pos[row] = pos
        self._neg[row] = neg
        self.n += 1
        lits = 2 * np.flatnonzero(sign) + (sign[sign != 0] > 0)
        if self._count[lits].max() == self._rows.shape[1]:
            self._rows = np.hstack([self._rows, np.zeros_like(self._rows)])
        self._rows[lits, self._count[lits]] = row
        self._count[lits] += 1
        if local:
            self._local.append(row)
        return True

    def export(self, start: int) -> tuple[np.ndarray, int]:
        """The rows learned here from the ``start``-th on, packed ((m, 2 words) uint64:
        on-bits then off-bits), and the start of the next export."""
        rows = self._local[start:]
        return np.hstack([self._pos[rows], self._neg[rows]]), len(self._local)

    def receive(self, packed: np.ndarray) -> int:
        """Add rows exported by another process; returns how many were new."""
        added = 0
        w = self.words
        for row in packed:
            on = np.unpackbits(row[:w].view(np.uint8), bitorder="little")[: self.k]
            off = np.unpackbits(row[w:].view(np.uint8), bitorder="little")[: self.k]
            added += self.add(on.astype(np.int8) - off.astype(np.int8), local=False)
        return added

    def add_certificate(
        self,
        W: np.ndarray,
        b: np.ndarray,
        mu: np.ndarray,
        sign: np.ndarray,
        scale: float,
        margin: float,
        extra_w: np.ndarray | None = None,
        extra_b: float = 0.0,
        extra_total: float = 0.0,
    ) -> bool:
        """Check a dual certificate and record its support as a no-good.

        Parameters
        ----------
        W, b : (k, d), (k,) hyperplanes (unit rows).
        mu : (k,) non-negative weights (zero off the support).
        sign : (k,) the sides sigma of the units (read on the support).
        scale : float
            Radius within which the certificate must hold: with r = sum mu sigma w and
            v = sum mu sigma b (both / sum mu), every x with ||x|| <= scale has
            min_l sigma_l (w_l . x + b_l) <= v + ||r|| scale, which must be <= ``margin``
            (r is 0 up to rounding: about 1e-13 on the bench networks).
        margin : float
            The margin below which a region counts as empty.
        extra_w, extra_b, extra_total : float
            Rows that hold at every point of the domain, already weighted and summed:
            sum_c nu_c (w_c . x + b_c) with sum_c w_c nu_c = ``extra_w`` (d,),
            sum_c nu_c b_c = ``extra_b`` and sum_c nu_c = ``extra_total`` (the ball's
            cuts 1 - u . x >= t); they join r, v and the total.

        Returns True when the certificate checked and was new.
        """
        support = (mu > 0) & (sign != 0)
        if not support.any():
            return False
        m = mu[support] * sign[support]
        total = float(mu[support].sum()) + extra_total
        r = m @ W[support]
        if extra_w is not None:
            r = r + extra_w
        residual = float(np.linalg.norm(r)) / total
        value = (float(m @ b[support]) + extra_b) / total
        if value + residual * scale > margin:
            return False
        nogood = np.zeros(self.k, dtype=np.int8)
        nogood[support] = sign[support]
        return self.add(nogood)

    def propagate(
        self, sign: np.ndarray, changed: np.ndarray | None = None, since: int = 0
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Unit propagation to a fixed point
        (compiled: :func:`~robustlaw._pl.kernels.unit_propagation`).

        Parameters
        ----------
        sign : (k,) int8 partial pattern (0 = free).
        changed : (c,) int, optional
            Units fixed since ``sign`` was last propagated (with the first ``since``
            no-goods); only the no-goods holding one of their literals, and those
            learned since, can have become unit. None: check every no-good.
        since : int
            No-goods already propagated into ``sign`` (ignored when ``changed`` is None).

        Returns
        -------
        sign : (k,) the pattern with every forced unit fixed (a copy when changed).
        forced : (f,) int the units fixed here.
        empty : bool
            A no-good is matched completely: no region realizes ``sign``.
        """
        if self.n == 0:
            return sign, np.zeros(0, dtype=np.int64), False
        full = changed is None or since <= 0
        units = np.zeros(0, dtype=np.int64) if changed is None else np.asarray(changed, np.int64)
        out, forced, empty = unit_propagation(
            sign.astype(np.int8),
            self._pos,
            self._neg,
            self.n,
            self._rows,
            self._count,
            units,
            int(since),
            full,
        )
        if not len(forced) and not empty:
            return sign, forced, False
        self.forced += len(forced)
        return out, forced, empty
