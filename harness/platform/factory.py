"""The platform an experiment names, ready to use."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.platform.base import Platform
from harness.platform.external import ExternalPlatform
from harness.platform.kubernetes.platform import KubernetesPlatform
from harness.platform.local.alertmanager import WebhookTarget
from harness.platform.local.platform import LocalPlatform
from harness.spec.loader import LoadedExperiment
from harness.spec.models import KubernetesTarget


def open_platform(loaded: LoadedExperiment, run_dir: Path, extra_rules: Sequence[Path] = (),
                  webhook: WebhookTarget | None = None) -> Platform:
    """Start (local), describe (external) or connect to (kubernetes) the target. The caller must `close()`
    it on every path."""
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
    kubernetes = experiment.target.kubernetes or KubernetesTarget()
    assert experiment.prometheus is not None  # validation requires it for every platform but local
    cluster = KubernetesPlatform(kubernetes, experiment.prometheus.url, host)
    cluster.start()
    return cluster
