"""Reaching the cluster the way chaostoolkit-kubernetes does, and naming it for the context allowlist.

In chaosk8s' order: a kubeconfig file (`KUBECONFIG`, else ~/.kube/config) with the file's context or
its current one; in a pod with `CHAOSTOOLKIT_IN_POD=true`, the in-cluster service account; otherwise
`KUBERNETES_HOST` (with `KUBERNETES_API_KEY` and the other variables chaosk8s reads). The name the
allowlist checks is the context's, "in-cluster", or the host URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3.exceptions
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config import kube_config
from kubernetes.config.config_exception import ConfigException

from harness.errors import PlatformError

IN_CLUSTER = "in-cluster"
RETRIES = 1
"""urllib3 retries per call (its default is 3): with a 5 s timeout, an API server that stopped answering
holds a revert up to 10 s, not 20 s."""


@dataclass(frozen=True)
class Connection:
    """Where the harness talks to: the context's name, the namespace, and how to reach it again."""

    context: str
    namespace: str
    kubeconfig: str | None
    """The kubeconfig file used (None: in-cluster or KUBERNETES_HOST)."""
    api: client.ApiClient

    def recipe(self) -> dict[str, Any]:
        """How `harness rollback` reaches the same cluster later (no credential: those are read again)."""
        return {"context": self.context, "namespace": self.namespace, "kubeconfig": self.kubeconfig}

    def chaosk8s_secrets(self) -> dict[str, str]:
        """What chaosk8s functions need to use this same context. They load the kubeconfig the client
        found at import: refuse when that is not the file the harness checked the policy against."""
        if self.kubeconfig is None:
            return {}
        seen_at_import = str(kube_config.KUBE_CONFIG_DEFAULT_LOCATION).split(os.pathsep)[0]
        if Path(os.path.expanduser(seen_at_import)).resolve() != Path(self.kubeconfig).resolve():
            raise PlatformError(f"kubernetes context {self.context}: chaosk8s would read {seen_at_import}, but the "
                                f"harness checked {self.kubeconfig}: set KUBECONFIG before the harness starts")
        return {"KUBERNETES_CONTEXT": self.context}


def kubeconfig_path(environ: Mapping[str, str]) -> Path:
    """The kubeconfig file; of a KUBECONFIG list (a:b), the first (merging several is not supported)."""
    first = environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]
    return Path(os.path.expanduser(first))


def connect(context: str | None, namespace: str, environ: Mapping[str, str] | None = None,
            kubeconfig: str | None = None) -> Connection:
    """A client for the cluster; PlatformError (exit 5) naming the context when it cannot be configured."""
    env = os.environ if environ is None else environ
    path = Path(kubeconfig) if kubeconfig else kubeconfig_path(env)
    try:
        if path.is_file():
            return _from_kubeconfig(path, context, namespace)
        if env.get("CHAOSTOOLKIT_IN_POD") == "true":
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            configuration.retries = RETRIES
            return Connection(IN_CLUSTER, namespace, None, client.ApiClient(configuration))
    except ConfigException as err:
        raise PlatformError(f"kubernetes context {context or '(current)'}: cannot configure the client: {err}") from err
    host = env.get("KUBERNETES_HOST")
    if not host:
        raise PlatformError(f"no kubeconfig at {path}, not in a pod (CHAOSTOOLKIT_IN_POD) and no KUBERNETES_HOST: "
                            "there is no cluster to talk to")
    configuration = client.Configuration()
    configuration.host = host
    configuration.verify_ssl = env.get("KUBERNETES_VERIFY_SSL") is not None
    configuration.ssl_ca_cert = env.get("KUBERNETES_CA_CERT_FILE")
    if "KUBERNETES_API_KEY" in env:
        configuration.api_key["authorization"] = env["KUBERNETES_API_KEY"]
        configuration.api_key_prefix["authorization"] = env.get("KUBERNETES_API_KEY_PREFIX", "Bearer")
    configuration.retries = RETRIES
    return Connection(host, namespace, None, client.ApiClient(configuration))


def _from_kubeconfig(path: Path, context: str | None, namespace: str) -> Connection:
    contexts, current = config.list_kube_config_contexts(config_file=str(path))  # type: ignore[no-untyped-call]
    names = [c["name"] for c in contexts]
    chosen = context or (current or {}).get("name")
    if chosen not in names:
        raise PlatformError(f"kubernetes context {chosen or '(none)'} is not in {path} (it has: "
                            f"{', '.join(names) or 'none'})")
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), context=chosen,  # type: ignore[no-untyped-call]
                            client_configuration=configuration)
    configuration.retries = RETRIES
    return Connection(str(chosen), namespace, str(path), client.ApiClient(configuration))


def environment_error(err: Exception, connection: Connection, action: str, resource: str) -> PlatformError:
    """An API failure as the user needs it: which context, namespace and resource, and what it means."""
    where = f"context {connection.context}, namespace {connection.namespace}"
    if isinstance(err, ApiException):
        meaning = {401: "not authenticated", 403: "RBAC denied it (see the Role in deploy/kubernetes/rbac.yaml)",
                   404: "not found", 429: "the Eviction API refused it: it would violate a PodDisruptionBudget"
                   }.get(err.status or 0, f"HTTP {err.status} {err.reason}")
        return PlatformError(f"kubernetes ({where}): cannot {action} {resource}: {meaning}")
    if isinstance(err, urllib3.exceptions.HTTPError | OSError):
        return PlatformError(f"kubernetes ({where}): cannot {action} {resource}: the API server at "
                             f"{connection.api.configuration.host} is unreachable ({type(err).__name__})")
    return PlatformError(f"kubernetes ({where}): cannot {action} {resource}: {type(err).__name__}: {err}")
