"""What tests read of other processes, from Linux's /proc."""
from __future__ import annotations

import os


def running(pid: int) -> bool:
    """Running, not exited and not a zombie (an orphan's zombie is reaped by init)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def workers_of(pid: int) -> set[int]:
    """Running child processes of `pid` other than multiprocessing's resource tracker: its workers."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    command = cmdline.read()
            except OSError:
                continue
            if parent == pid and b"resource_tracker" not in command and running(int(entry)):
                found.add(int(entry))
    return found
