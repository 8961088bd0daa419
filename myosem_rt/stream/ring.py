"""A preallocated ring buffer whose most recent items are always one contiguous view.

The storage holds every item twice (``2 * capacity`` slots, item ``k`` at ``k % capacity`` and at
``k % capacity + capacity``), so the last ``n <= capacity`` items are the contiguous slice ending at
``write_position + capacity``. Writes cost two copies of the new items; reads cost nothing (a view), and
nothing is ever shifted (no ``np.roll``) or allocated after construction.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """``capacity`` items of shape ``item_shape``; :meth:`view` returns read-only views of recent items."""

    def __init__(self, capacity: int, item_shape: tuple[int, ...] | int, dtype: np.dtype | type = np.float64):
        if capacity < 1:
            raise ValueError(f"ring capacity must be >= 1, got {capacity}")
        shape = (item_shape,) if isinstance(item_shape, int) else tuple(item_shape)
        self.capacity = int(capacity)
        self._buf = np.zeros((2 * self.capacity, *shape), dtype=dtype)
        self._ro = self._buf.view()
        self._ro.flags.writeable = False
        self._pos = 0  # next write slot in [0, capacity)
        self.total = 0  # items written since creation

    @property
    def size(self) -> int:
        """Items currently held (at most ``capacity``)."""
        return min(self.total, self.capacity)

    def write(self, items: np.ndarray) -> None:
        """Append ``(n, *item_shape)`` items; beyond ``capacity`` only the newest are kept."""
        n = items.shape[0]
        cap = self.capacity
        if n >= cap:
            self._buf[:cap] = items[n - cap :]
            self._buf[cap:] = items[n - cap :]
            self._pos = 0
            self.total += n
            return
        pos = self._pos
        first = min(n, cap - pos)
        self._buf[pos : pos + first] = items[:first]
        self._buf[pos + cap : pos + cap + first] = items[:first]
        rest = n - first
        if rest:
            self._buf[:rest] = items[first:]
            self._buf[cap : cap + rest] = items[first:]
        self._pos = (pos + n) % cap
        self.total += n

    def view(self, n: int, end: int | None = None) -> np.ndarray:
        """Read-only view of the ``n`` items before item number ``end`` (absolute count; default: newest).

        The view aliases the storage: it stays valid until ``capacity - (total - end)`` more items have been
        written. Raises ``IndexError`` for items that were never written or were already overwritten.
        """
        end = self.total if end is None else end
        back = self.total - end
        if n < 0 or back < 0 or end - n < 0 or back + n > self.capacity:
            raise IndexError(
                f"items [{end - n}, {end}) not in ring (total {self.total}, capacity {self.capacity})"
            )
        stop = self._pos + self.capacity - back
        return self._ro[stop - n : stop]
