"""``python -m inference_backend``: see ``cli``. A capture ends without the interpreter's
teardown (``process_exit``)."""

import sys

from .cli import ENDS_AT_ONCE, command_of, main
from .process_exit import exit_now

if __name__ == "__main__":
    code = main()
    if command_of(sys.argv[1:]) in ENDS_AT_ONCE:
        exit_now(code)
    sys.exit(code)
