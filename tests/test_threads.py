"""torch's CPU threads: the free cores of the process's affinity mask, or CAE_THREADS."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cae.errors import InputError
from cae.threads import THREADS_VARIABLE, chosen_threads


@pytest.mark.parametrize(("cores", "load", "expected"), [(2, 0.3, 2), (2, 1.2, 1), (2, 3.9, 1), (16, 4.5, 12), (1, 0.0, 1)])
def test_threads_are_the_cores_the_load_leaves_free(cores, load, expected):
    assert chosen_threads({}, load=load, cores=cores) == expected


def test_the_environment_variable_overrides_the_choice():
    assert chosen_threads({THREADS_VARIABLE: "3"}, load=9.0, cores=2) == 3


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_thread_count_is_one_clear_error(value):
    with pytest.raises(InputError, match=f"{THREADS_VARIABLE}='{value}': expected a whole number"):
        chosen_threads({THREADS_VARIABLE: value})


def test_the_command_line_starts_torch_with_the_chosen_threads():
    code = "import sys, torch; from cae.cli import app; app.run = lambda argv: print(torch.get_num_threads(), torch.get_num_interop_threads()) or 0; app.main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, THREADS_VARIABLE: "1"})
    assert (done.returncode, done.stdout.split(), done.stderr) == (0, ["1", "1"], "")
    refused = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={**os.environ, THREADS_VARIABLE: "many"})
    assert refused.returncode == 2 and "CAE_THREADS='many'" in refused.stderr and "Traceback" not in refused.stderr


def test_the_command_line_help_never_imports_torch():
    """Fitting the threads must not cost `cae --help` the seconds of importing torch."""
    import subprocess
    import sys

    code = ("import sys; from cae.cli import app; sys.argv = ['cae', '--help']\n"
            "try:\n    app.main()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**__import__('os').environ, "CAE_THREADS": "1"})
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr
