"""Errors that reach the user as one clear line.

`InputError` is for anything the user can fix (a missing band, a cube that is too small);
the CLI prints it in one red line and exits with code 2. Any other exception is an internal
error (exit code 1).
"""


class InputError(Exception):
    """Bad input: the message says what is wrong and, where possible, how to fix it."""

    exit_code = 2


class CubeError(InputError):
    """A cube failed validation; `problems` holds one message per problem found."""

    def __init__(self, problems: list[str], source: str = "cube") -> None:
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class DataWarning(UserWarning):
    """Something about the input the user should know, though cae can go on (no cloud mask).

    The CLI shows it as one yellow `warning:` line; what it says is also recorded in the
    output's provenance where it changes what the output means.
    """


class PluginError(InputError):
    """The installed modality plugins contradict each other (e.g. two claim one name)."""
