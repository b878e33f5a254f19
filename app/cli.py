"""The ``sleeptime`` command: serve, worker, migrate, manage API keys, export and import agents.

Start-up makes a few hundred thousand objects that live as long as the process: modules,
classes, schemas, routes. The cyclic garbage collector would walk them over and over while
they are being made (about a tenth of a second of a server's start) and again at every full
collection afterwards. So it is off while the commands and the application are imported,
and what they made is then moved out of its view (``gc.freeze``) before it is turned on.
"""

import gc
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    gc.disable()
    try:
        # Imported here, with the collector off; ``commands`` loads what every command needs.
        from app import commands  # noqa: PLC0415

        args = commands.parse(argv)
        if args.command == "serve":
            import app.main  # noqa: PLC0415, F401 (the application ``serve`` runs)
    finally:
        gc.freeze()
        gc.enable()
    return commands.run(args)


if __name__ == "__main__":
    sys.exit(main())
