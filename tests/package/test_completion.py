"""The bash completion the package installs (config/bash-completion/smartproductctl): subcommands
and options come from the program's own --help, at every level, and option values complete.
Needs bash-completion (./dev.sh package installs it); skips with a message without it."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")
BIN = Path(os.environ.get("SP_BIN_DIR", ROOT / "build" / "bin"))

pytestmark = pytest.mark.skipif(not BASH_COMPLETION.is_file(),
                                reason="bash-completion is not installed")


def complete(*words: str) -> list[str]:
    if not (BIN / "smartproductctl").is_file():
        pytest.skip(f"no smartproductctl in {BIN}")
    script = f"""
source {BASH_COMPLETION}
source {ROOT}/config/bash-completion/smartproductctl
COMP_WORDS=(smartproductctl "$@"); COMP_CWORD=$(({len(words)}))
COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}
_smartproductctl smartproductctl "${{COMP_WORDS[-1]}}" "${{COMP_WORDS[-2]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = subprocess.run(["bash", "-c", script, "bash", *words], capture_output=True, text=True,
                       env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}, timeout=30)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.splitlines() if w]


def test_subcommands_at_every_level():
    top = complete("")
    for sub in ("init", "ca", "user", "backup", "restore", "migrate", "device-cert"):
        assert sub in top
    assert complete("c") == ["catalog", "ca"]
    assert "registration-code" in complete("ca", "")
    # --config and its value are skipped when finding the subcommand path.
    assert complete("--config", "/x.toml", "ca", "re") == ["registration-code", "register"]


def test_options_and_values():
    assert complete("init", "--d") == ["--data-dir", "--dir"]
    assert complete("init", "--jitr", "") == ["on", "off"]
    opts = complete("user", "add", "--")
    for o in ("--email", "--admin", "--password-stdin", "--config", "--dir"):
        assert o in opts
    assert "root" in complete("init", "--user", "ro")


def test_status_and_doctor():
    top = complete("")
    assert "status" in top and "doctor" in top
    assert complete("doc") == ["doctor"]
    for sub in ("status", "doctor"):
        opts = complete(sub, "--")
        for o in ("--json", "--timeout", "--config", "--dir"):
            assert o in opts, (sub, opts)
    # --timeout takes a value: it is not mistaken for a subcommand.
    assert complete("status", "--timeout", "3", "--j") == ["--json"]
