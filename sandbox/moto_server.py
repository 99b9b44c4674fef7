"""moto's server with the sandbox's extensions: `python -m sandbox.moto_server -H HOST -p PORT`.

The same command line as moto's own `moto_server`; `sandbox.moto_ext` is installed first,
so AWS Config and the Tagging API answer the drift audit's batched calls as real AWS does.

Unlike `moto_server` it does not log a line per request, only warnings and errors: a
drift audit sends thousands of requests, and a line for each would bury the warnings in
the stack's `aws` log.
"""

from __future__ import annotations

import logging

from moto.server import main as moto_main

from sandbox import moto_ext

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Install the extensions, then serve as `moto_server` would with `argv`."""
    moto_ext.install()
    # werkzeug logs each request at INFO on the "werkzeug" logger.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_main(argv)


if __name__ == "__main__":
    main()
