"""``ByIdentity`` derives a value once per object, tells equal objects apart, and forgets the
least recently used first."""

from typing import Any

from app.kit.memo import ByIdentity


def test_a_value_is_derived_once_per_object() -> None:
    derived: list[Any] = []

    def size(value: dict[str, Any]) -> int:
        derived.append(value)
        return len(value)

    memo = ByIdentity(size, size=2)
    first, equal, other = {"a": 1}, {"a": 1}, {"a": 1, "b": 2}
    assert memo(first) == 1 and memo(first) == 1
    assert derived == [first]
    assert memo(equal) == 1 and derived[-1] is equal  # equal is not the same
    assert memo(first) == 1 and len(derived) == 2  # first was used last: kept
    assert memo(other) == 2  # over the size: equal, the least recently used, goes
    assert memo(first) == 1 and len(derived) == 3
    assert memo(equal) == 1 and len(derived) == 4
