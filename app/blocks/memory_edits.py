"""What the memory tools do to a block's text: pure functions, no database.

Each returns the new value or raises ``EditRejected`` with the message the model will see.
"""

import re

LINE_PREFIX = re.compile(r"(^|\n)\s*\d+→ ?")
LINE_WARNING = "line numbers are shown for reference only"
READ_ONLY = "Error This block is read-only and cannot be edited."


class EditRejected(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _check_no_line_numbers(*texts: str) -> None:
    for text in texts:
        if LINE_PREFIX.search(text) or LINE_WARNING in text.lower():
            raise EditRejected(
                "Error: the arguments contain line-number prefixes (like `3→ `) copied from "
                "the memory view; pass the block's text without them."
            )


def replace(value: str, label: str, old: str, new: str) -> str:
    _check_no_line_numbers(old, new)
    old, new, value = old.expandtabs(), new.expandtabs(), value.expandtabs()
    if not old:
        raise EditRejected("Error: old_string must not be empty.")
    count = value.count(old)
    if count == 0:
        raise EditRejected(
            f"No replacement was performed: old_string `{old}` does not appear verbatim in "
            f"memory block `{label}`."
        )
    if count > 1:
        lines = [i + 1 for i, line in enumerate(value.split("\n")) if old in line]
        raise EditRejected(
            f"No replacement was performed: old_string `{old}` occurs {count} times in memory "
            f"block `{label}` (lines {lines}); include more context so it is unique."
        )
    return value.replace(old, new, 1)


def insert(value: str, label: str, new: str, insert_line: int) -> str:
    _check_no_line_numbers(new)
    lines = value.split("\n") if value else []
    if insert_line == -1:
        insert_line = len(lines)
    if not 0 <= insert_line <= len(lines):
        raise EditRejected(
            f"Error: insert_line {insert_line} is out of range for memory block `{label}`, "
            f"which has {len(lines)} lines (use 0 for the top, -1 for the end)."
        )
    return "\n".join([*lines[:insert_line], *new.expandtabs().split("\n"), *lines[insert_line:]])


def rethink(new_memory: str) -> str:
    _check_no_line_numbers(new_memory)
    return new_memory


def append(value: str, content: str) -> str:
    return f"{value}\n{content}" if value else content


def replace_all(value: str, label: str, old: str, new: str) -> str:
    if not old or old not in value:
        raise EditRejected(f"Error: `{old}` was not found in memory block `{label}`.")
    return value.replace(old, new)
