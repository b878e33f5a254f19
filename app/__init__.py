"""sleeptime-server: a Letta-compatible server for stateful agents with sleep-time compute."""

__version__ = "0.1.0"
