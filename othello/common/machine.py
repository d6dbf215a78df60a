"""The machine a figure was measured on, for the record beside it: results are bit-identical
on one machine, and differ in the last digits on another CPU (other kernels)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what ``platform`` knows."""
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_machine() -> dict:
    """CPU, cores, GPU (if any), OS and library versions."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpu": gpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def machine_line(machine: dict) -> str:
    """One line for a report: ``2 cores of AMD EPYC ..., no GPU; torch 2.13.0``."""
    gpu = machine.get("gpu") or "no GPU"
    return (
        f"{machine['cores']} cores of {machine['cpu']}, {gpu}; {machine['os']}, "
        f"Python {machine['python']}, torch {machine['torch']}"
    )
