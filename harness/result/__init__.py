"""The run result: its typed model and result.json (a run's record becomes one in `harness.run.result_build`)."""

from harness.result.files import RESULT_NAME, load_result, write_run_result
from harness.result.model import RESULT_API_VERSION, RunResult

__all__ = ["RESULT_API_VERSION", "RESULT_NAME", "RunResult", "load_result", "write_run_result"]
