"""Logged exceptions rendered as the server renders them: structlog's plain traceback.

structlog's console renderer pretty-prints tracebacks, with every frame's local variables,
when the Rich package is installed. The server does not depend on Rich (the image has
none); the test environment has it, through schemathesis, and rendering one logged
exception that way took seconds of the CPU of the tests that provoke a 500. The test process
renders them as a server would; what a test asserts on is the log records, never this text.
"""

import structlog


def install() -> None:
    # What an uncoloured ConsoleRenderer (PlainConsoleRenderer's) picks as it is built.
    structlog.dev.default_monochrome_exception_formatter = structlog.dev.plain_traceback
