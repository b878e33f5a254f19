"""Values derived from an object, remembered by the object's identity.

For objects a hot path meets again and again unchanged (a tool's schema, held by the
process's tool definitions), where a key computed from their contents would cost what the
value does. Each entry holds its object, so its ``id`` cannot be given to another object while
the entry lives; the least recently used entries go first once ``size`` is reached. Only for
objects nobody changes in place once made.
"""

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ByIdentity(Generic[K, V]):
    def __init__(self, derive: Callable[[K], V], size: int = 1024) -> None:
        self._derive = derive
        self._size = size
        self._entries: OrderedDict[int, tuple[K, V]] = OrderedDict()

    def __call__(self, key: K) -> V:
        entry = self._entries.get(id(key))
        if entry is not None and entry[0] is key:
            self._entries.move_to_end(id(key))
            return entry[1]
        value = self._derive(key)
        self._entries[id(key)] = (key, value)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value
