"""The run result: its typed model, how a run's record becomes one, and the result.json file."""

from harness.result.build import result_document, run_result
from harness.result.files import RESULT_NAME, load_result, write_result, write_run_result
from harness.result.model import RESULT_API_VERSION, RunResult

__all__ = ["RESULT_API_VERSION", "RESULT_NAME", "RunResult", "load_result", "result_document", "run_result",
           "write_result", "write_run_result"]
