"""The daemon raises its open-file soft limit to the hard limit at start, so a managed broker (which
inherits it, one descriptor per connected device) is not capped at a shell's or systemd's 1024."""

import resource

from harness import Instance


def soft_open_files(pid: int) -> int:
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-files line")


def test_daemon_and_managed_broker_run_with_the_hard_open_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(1024, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    inst = Instance()
    try:
        inst.start()
        assert soft_open_files(inst.proc.pid) == hard
        assert soft_open_files(inst.broker_pid()) == hard
        assert "open files limit" in inst.log()
    finally:
        inst.cleanup()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
