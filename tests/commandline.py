"""Running the real `policycorpus` command in a subprocess (crawls need a fresh Twisted reactor each)."""

import subprocess
import sys


def policycorpus(*args, check=True, timeout=900) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "policycorpus", *map(str, args)], capture_output=True, text=True,
                            timeout=timeout)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result
