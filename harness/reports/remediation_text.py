"""The remediation chain as every report writes it: the chain, its numbers, and its moments from the
first fault (console, Markdown and HTML all use these lines)."""

from __future__ import annotations

from harness.reports.figures import pct
from harness.result.model import RemediationResult


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def heading(chain: RemediationResult) -> str:
    runbook = chain.runbook_run.runbook if chain.runbook_run else chain.runbook
    return f"remediation of {chain.slo}: alert {chain.alert}" + (f" → runbook {runbook}" if runbook else "")


def numbers(chain: RemediationResult) -> str:
    return (f"time to detect {_seconds(chain.time_to_detect_s)}, to mitigate {_seconds(chain.time_to_mitigate_s)}, "
            f"to recover {_seconds(chain.time_to_recover_s)}; budget consumed {pct(chain.budget_consumed, 4)} "
            "between the first fault and the recovery")


def moments(chain: RemediationResult) -> list[tuple[float, str]]:
    """(seconds after the first fault, what happened), in order."""
    origin = chain.first_fault
    if origin is None:
        return []
    found = [(t, what) for t, what in ((chain.first_fault, "first fault"), (chain.first_breach, "SLO breached"),
                                        (chain.alert_pending, "alert pending"), (chain.alert_firing, "alert firing"),
                                        (chain.webhook_received, "webhook received"),
                                        (chain.alertmanager_seen, "active in Alertmanager"),
                                        (chain.recovered, "SLO back at objective")) if t is not None]
    run = chain.runbook_run
    if run is not None:
        found.append((run.started, "runbook started"))
        found += [(s.ended, f"step {s.name!r} {s.result}") for s in run.steps]
        found.append((run.ended, "runbook done" if run.ok else "runbook FAILED"))
    return [(t - origin, what) for t, what in sorted(found, key=lambda item: item[0])]


def moments_line(chain: RemediationResult) -> str:
    return " · ".join(f"{offset:+.1f}s {what}" for offset, what in moments(chain))
