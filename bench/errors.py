"""User-facing errors.

A `UserError` is bad input (a suite, a path, a flag). The CLI prints its message as one
paragraph and exits with status 2 before any run starts; it never shows a traceback.
"""


class UserError(Exception):
    exit_code = 2
