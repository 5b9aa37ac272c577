"""The sandbox for untrusted Python scripts; see `bootstrap` for the design."""
from .bootstrap import (BROKER_ENV, EXIT_ERROR, EXIT_LIMIT, EXIT_SETUP, EXIT_VIOLATION, INNER_RUN_DIR, BrokerClient,
                        BrokerError, BrokerHandler, Isolation, SandboxError, SandboxLimits, SandboxResult,
                        SandboxViolation, Status, probe_isolation, run_sandboxed)

__all__ = ["BROKER_ENV", "EXIT_ERROR", "EXIT_LIMIT", "EXIT_SETUP", "EXIT_VIOLATION", "INNER_RUN_DIR", "BrokerClient",
           "BrokerError", "BrokerHandler", "Isolation", "SandboxError", "SandboxLimits", "SandboxResult",
           "SandboxViolation", "Status", "probe_isolation", "run_sandboxed"]
