"""Run results for report tests, shaped as a real run writes them (result.json fields), built small."""

from __future__ import annotations

from typing import Any

from harness.result.model import RunResult

FILE = "experiments/checkout.yaml"
LINES = {"metadata": 4, "faults": 30, "hypothesis.avail": 40, "hypothesis.avail.max_budget_consumed": 41,
         "hypothesis.latency": 42, "hypothesis.latency.max_burn_rate": 43, "expect[0]": 46, "expect[1]": 48}


def phase(verdict: str, good: int, total: int, start: float, end: float, reason: str = "") -> dict[str, Any]:
    return {"start": start, "end": end, "good": good, "bad": total - good, "total": total, "sli": good / total,
            "verdict": verdict, "reason": reason or f"{total - good} bad of {total} events"}


def slo(name: str, verdict: str, phases: dict[str, dict[str, Any]], checks: list[tuple[str, str, str]],
        **extra: Any) -> dict[str, Any]:
    return {"name": name, "objective": 99.0, "verdict": verdict, "phases": phases,
            "checks": [{"check": c, "verdict": v, "reason": r} for c, v, r in checks], **extra}


def checkout_result(latency_verdict: str = "FAIL", run_id: str = "r1", **changes: Any) -> RunResult:
    """Two SLOs over three phases, a budget and a burn limit, two expectations and one reverted fault."""
    fault_reason = "1200 bad of 1600 events: interval [72.8 %, 77.1 %] above the budget 5.0 %"
    data: dict[str, Any] = {
        "experiment": "checkout", "run_id": run_id, "run_dir": f"runs/{run_id}",
        "verdict": "FAIL" if latency_verdict == "FAIL" else latency_verdict, "exit_code": 1,
        "reason": f"latency: phase fault: {fault_reason}", "platform": "local", "started": 1000.0, "ended": 1060.0,
        "phases": {"baseline": {"start": 1005.0, "end": 1020.0}, "fault": {"start": 1020.0, "end": 1040.0},
                   "recovery": {"start": 1040.0, "end": 1055.0}},
        "slos": [
            slo("avail", "PASS", {"baseline": phase("PASS", 1200, 1200, 1005, 1020),
                                  "fault": phase("PASS", 1599, 1600, 1020, 1040)},
                [("phase baseline", "PASS", "0 bad of 1200 events"), ("phase fault", "PASS", "1 bad of 1600 events"),
                 ("budget consumed", "PASS", "0.01% within the limit 1.00%")], budget_consumed=0.0001,
                peak_burn_rate=0.06),
            slo("latency", latency_verdict, {"fault": phase(latency_verdict, 400, 1600, 1020, 1040, fault_reason)},
                [("phase fault", latency_verdict, fault_reason), ("burn rate", "PASS", "peak 0.50 within 10")],
                budget_consumed=0.012, peak_burn_rate=15.0),
        ],
        "faults": [{"name": "slow", "type": "latency", "started": 1025.0, "ended": 1035.0, "reverted": True}],
        "expectations": [
            {"kind": "recovers", "target": "avail", "within": "15s", "verdict": "PASS", "reason": "back after 2.0s"},
            {"kind": "recovers", "target": "avail", "within": "5s", "verdict": "PASS", "reason": "back after 2.0s"},
        ],
        "source": {"file": FILE, "fingerprint": "abc", "lines": LINES},
    }
    data.update(changes)
    return RunResult.model_validate(data)
