"""The platform an experiment names, ready to use."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.errors import UnsupportedError
from harness.platform.base import Platform
from harness.platform.external import ExternalPlatform
from harness.platform.local.alertmanager import WebhookTarget
from harness.platform.local.platform import LocalPlatform
from harness.spec.loader import LoadedExperiment


def open_platform(loaded: LoadedExperiment, run_dir: Path, extra_rules: Sequence[Path] = (),
                  webhook: WebhookTarget | None = None) -> Platform:
    """Start (local) or describe (external) the target. The caller must `close()` it on every path."""
    experiment = loaded.experiment
    platform = experiment.target.platform
    host = experiment.load.host or loaded.load.profile.host
    if platform == "local":
        local = experiment.target.local_or_default
        running = LocalPlatform(run_dir, local.replicas, local.restart_delay, (*loaded.alert_rules, *extra_rules),
                                webhook, local.auto_restart)
        running.start()
        if experiment.load.host:
            running.load_host = experiment.load.host
        return running
    if platform == "external":
        assert experiment.prometheus is not None  # validation requires it for every platform but local
        external = ExternalPlatform(prometheus_url=experiment.prometheus.url, load_host=host)
        external.start()
        return external
    raise UnsupportedError(
        "platform 'kubernetes' is not supported yet: the file is valid, but this version runs only "
        "'local' and 'external' experiments (nothing was started)"
    )
