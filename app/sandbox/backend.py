"""The sandbox of a process: which backend runs tools out of process, chosen at start."""

from dataclasses import dataclass
from enum import StrEnum

from app.config import Settings


class Backend(StrEnum):
    bwrap = "bwrap"
    subprocess = "subprocess"


@dataclass(frozen=True, slots=True)
class Sandbox:
    backend: Backend

    @classmethod
    async def start(cls, settings: Settings) -> "Sandbox":
        return cls(Backend.subprocess)
