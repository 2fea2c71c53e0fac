"""The built-in fault types, each declared in its own module exactly as a plugin would declare one.

Their file models live with the experiment format (`harness.spec.faults`); what they do lives here.
"""

from harness.faults.base import FaultType
from harness.faults.builtin.chaostoolkit import CHAOSTOOLKIT
from harness.faults.builtin.cpu_stress import CPU_STRESS
from harness.faults.builtin.http import HTTP
from harness.faults.builtin.pod_kill import POD_KILL
from harness.faults.builtin.process import PROCESS
from harness.faults.builtin.process_pause import PROCESS_PAUSE
from harness.faults.builtin.proxy import BLACKHOLE, HTTP_ERROR, LATENCY

BUILT_IN: tuple[FaultType, ...] = (POD_KILL, LATENCY, HTTP_ERROR, BLACKHOLE, PROCESS_PAUSE, CPU_STRESS, CHAOSTOOLKIT,
                                   HTTP, PROCESS)
