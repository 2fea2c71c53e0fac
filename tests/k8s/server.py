"""The simulated Kubernetes API server: the real `kubernetes` client and `chaosk8s` talk to it over HTTP.

    with ApiSimulator() as sim:             # 127.0.0.1, a free port; the controller runs on a thread
        sim.cluster.add_workload(...)
        sim.write_kubeconfig(path, context="kind-gate", namespace="shop")
        sim.deny("delete", "pods")          # RBAC: that verb on that resource answers 403
        sim.go_away(); sim.come_back()      # unreachable, then listening again on the same port

Only what the harness and chaosk8s use is served; anything else is a 404 naming the path.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.k8s.chaos import GROUP, KINDS, VERSION
from tests.k8s.cluster import ApiError, Cluster, Pod, Workload, stamp

Handler = Callable[[dict[str, str], dict[str, list[str]], Any], tuple[int, Any]]
_NS = r"/namespaces/(?P<ns>[^/]+)"
_APPS = {"deployments": "Deployment", "statefulsets": "StatefulSet", "replicasets": "ReplicaSet"}


class ApiSimulator:
    def __init__(self, cluster: Cluster | None = None, tick_s: float = 0.1) -> None:
        self.cluster = cluster or Cluster()
        self.denied: set[tuple[str, str]] = set()
        self.requests: list[tuple[str, str]] = []
        self.authorized: list[tuple[str, str]] = []
        """(verb, resource) of every request that reached a route: what an RBAC Role must grant."""
        self._tick_s = tick_s
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._serving: threading.Thread | None = None
        self._controller: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- life cycle ----------------------------------------------------------------------------------

    def start(self) -> ApiSimulator:
        self._listen()
        self._controller = threading.Thread(target=self._control_loop, name="k8s-sim-controller", daemon=True)
        self._controller.start()
        return self

    def _listen(self) -> None:
        simulator = self

        class Handle(_Handler):
            sim = simulator

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handle)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._serving = threading.Thread(target=self._server.serve_forever, name="k8s-sim-http", daemon=True)
        self._serving.start()

    def go_away(self) -> None:
        """Stop listening (the API server is unreachable); the cluster state and the controller stay."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def come_back(self) -> None:
        if self._server is None:
            self._listen()

    def stop(self) -> None:
        self._stop.set()
        self.go_away()
        if self._controller is not None:
            self._controller.join(timeout=5)
        for key in list(self.cluster.chaos.active):  # leave no proxy rule behind
            self.cluster.chaos._recover(key)

    def __enter__(self) -> ApiSimulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _control_loop(self) -> None:
        while not self._stop.wait(self._tick_s):
            self.cluster.reconcile()

    # -- switches for tests --------------------------------------------------------------------------

    def deny(self, verb: str, resource: str) -> None:
        """Answer 403 to `verb` (get, list, delete, create, or *) on `resource` (pods, pods/eviction, ...)."""
        self.denied.add((verb, resource))

    def write_kubeconfig(self, path: Path, context: str = "sim", namespace: str = "default",
                         extra_contexts: tuple[str, ...] = ()) -> Path:
        contexts = [{"name": name, "context": {"cluster": "sim", "user": "sim", "namespace": namespace}}
                    for name in (context, *extra_contexts)]
        config = {"apiVersion": "v1", "kind": "Config", "current-context": context,
                  "clusters": [{"name": "sim", "cluster": {"server": self.url}}],
                  "users": [{"name": "sim", "user": {"token": "simulated"}}], "contexts": contexts}
        path.write_text(yaml.safe_dump(config))
        return path

    # -- routing -------------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, str, str, Handler]]:
        """(method, path pattern, verb, resource, handler)."""
        c = self.cluster
        core, apps, policy = "/api/v1", "/apis/apps/v1", "/apis/policy/v1"
        chaos = f"/apis/{GROUP}/{VERSION}"
        return [
            ("GET", f"{core}/namespaces", "list", "namespaces", lambda m, q, b: (200, _list(
                "NamespaceList", "v1", [_namespace(n, t) for n, t in c.namespaces.items()]))),
            ("GET", f"{core}{_NS}", "get", "namespaces", self._get_namespace),
            ("GET", f"{core}{_NS}/pods", "list", "pods", lambda m, q, b: (200, _list("PodList", "v1", [
                _pod(p) for p in c.pods_in(m["ns"], _one(q, "labelSelector"), _one(q, "fieldSelector"))]))),
            ("GET", f"{core}{_NS}/pods/(?P<name>[^/]+)", "get", "pods",
             lambda m, q, b: (200, _pod(c.pod(m["ns"], m["name"])))),
            ("DELETE", f"{core}{_NS}/pods/(?P<name>[^/]+)", "delete", "pods",
             lambda m, q, b: (200, _pod(c.delete_pod(m["ns"], m["name"])))),
            ("POST", f"{core}{_NS}/pods/(?P<name>[^/]+)/eviction", "create", "pods/eviction",
             lambda m, q, b: (201, _evicted(c.evict_pod(m["ns"], m["name"])))),
            ("GET", f"{apps}{_NS}/(?P<plural>deployments|statefulsets|replicasets)", "list", "apps",
             self._list_apps),
            ("GET", f"{apps}{_NS}/(?P<plural>deployments|statefulsets|replicasets)/(?P<name>[^/]+)", "get", "apps",
             self._get_app),
            ("GET", f"{policy}{_NS}/poddisruptionbudgets", "list", "poddisruptionbudgets",
             lambda m, q, b: (200, _list("PodDisruptionBudgetList", "policy/v1", [
                 _pdb(c, pdb) for (ns, _), pdb in sorted(c.pdbs.items()) if ns == m["ns"]]))),
            ("GET", chaos, "get", "chaos-mesh.org", self._chaos_resources),
            ("GET", f"{chaos}{_NS}/(?P<plural>[a-z]+)", "list", "chaos-mesh.org", self._list_chaos),
            ("POST", f"{chaos}{_NS}/(?P<plural>[a-z]+)", "create", "chaos-mesh.org", self._create_chaos),
            ("GET", f"{chaos}{_NS}/(?P<plural>[a-z]+)/(?P<name>[^/]+)", "get", "chaos-mesh.org", self._get_chaos),
            ("DELETE", f"{chaos}{_NS}/(?P<plural>[a-z]+)/(?P<name>[^/]+)", "delete", "chaos-mesh.org",
             self._delete_chaos),
        ]

    def answer(self, method: str, url: str, body: Any) -> tuple[int, Any]:
        parts = urlsplit(url)
        self.requests.append((method, parts.path))
        for route_method, pattern, verb, resource, handler in self.routes():
            found = re.fullmatch(pattern, parts.path)
            if route_method != method or found is None:
                continue
            groups = found.groupdict()
            named = groups.get("plural", resource) if resource in ("apps", "chaos-mesh.org") else resource
            self.authorized.append((verb, named))
            if {(verb, named), ("*", named), (verb, "*")} & self.denied:
                return 403, _status(403, "Forbidden", f'{named} is forbidden: User "system:serviceaccount:harness:'
                                    f'harness" cannot {verb} resource "{named}" in the namespace '
                                    f'"{groups.get("ns", "")}"')
            try:
                return handler(groups, parse_qs(parts.query), body)
            except ApiError as err:
                return err.code, _status(err.code, err.reason, err.message)
        return 404, _status(404, "NotFound", f"the server could not find the requested resource ({parts.path})")

    def _get_namespace(self, m: dict[str, str], _q: Any, _b: Any) -> tuple[int, Any]:
        created = self.cluster.namespaces.get(m["ns"])
        if created is None:
            raise ApiError(404, "NotFound", f'namespaces "{m["ns"]}" not found')
        return 200, _namespace(m["ns"], created)

    def _list_apps(self, m: dict[str, str], _q: Any, _b: Any) -> tuple[int, Any]:
        kind = _APPS[m["plural"]]
        if kind == "ReplicaSet":
            items = [_replicaset(self.cluster, w) for w in self.cluster.workloads
                     if w.namespace == m["ns"] and w.kind == "Deployment"]
        else:
            items = [_workload(self.cluster, w) for w in self.cluster.workloads
                     if w.namespace == m["ns"] and w.kind == kind]
        return 200, _list(f"{kind}List", "apps/v1", items)

    def _get_app(self, m: dict[str, str], _q: Any, _b: Any) -> tuple[int, Any]:
        kind = _APPS[m["plural"]]
        if kind == "ReplicaSet":
            owner = next((w for w in self.cluster.workloads if f"{w.name}-{w.template_hash}" == m["name"]), None)
            if owner is None:
                raise ApiError(404, "NotFound", f'replicasets.apps "{m["name"]}" not found')
            return 200, _replicaset(self.cluster, owner)
        return 200, _workload(self.cluster, self.cluster.workload(kind, m["ns"], m["name"]))

    def _crds(self) -> None:
        if not self.cluster.chaos.installed:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _chaos_resources(self, _m: Any, _q: Any, _b: Any) -> tuple[int, Any]:
        self._crds()
        return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{GROUP}/{VERSION}",
                     "resources": [{"name": plural, "singularName": plural, "namespaced": True, "kind": kind,
                                    "verbs": ["create", "delete", "get", "list"]} for plural, kind in KINDS.items()]}

    def _plural(self, m: dict[str, str]) -> str:
        self._crds()
        if m["plural"] not in KINDS:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return m["plural"]

    def _list_chaos(self, m: dict[str, str], _q: Any, _b: Any) -> tuple[int, Any]:
        plural = self._plural(m)
        items = [o for (p, ns, _), o in sorted(self.cluster.chaos.objects.items()) if p == plural and ns == m["ns"]]
        return 200, {"apiVersion": f"{GROUP}/{VERSION}", "kind": f"{KINDS[plural]}List", "items": items,
                     "metadata": {"resourceVersion": "1"}}

    def _create_chaos(self, m: dict[str, str], _q: Any, body: Any) -> tuple[int, Any]:
        return 201, self.cluster.chaos.create(self._plural(m), m["ns"], body if isinstance(body, dict) else {})

    def _get_chaos(self, m: dict[str, str], _q: Any, _b: Any) -> tuple[int, Any]:
        found = self.cluster.chaos.objects.get((self._plural(m), m["ns"], m["name"]))
        if found is None:
            raise ApiError(404, "NotFound", f'{m["plural"]}.{GROUP} "{m["name"]}" not found')
        return 200, found

    def _delete_chaos(self, m: dict[str, str], _q: Any, _b: Any) -> tuple[int, Any]:
        return 200, self.cluster.chaos.delete(self._plural(m), m["ns"], m["name"])


class _Handler(BaseHTTPRequestHandler):
    sim: ApiSimulator

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        code, payload = self.sim.answer(self.command, self.path, body)
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return None  # the test output stays readable


# -- the objects as the API shows them ---------------------------------------------------------------


def _one(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def _list(kind: str, api_version: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "1"}, "items": items}


def _namespace(name: str, created: float) -> dict[str, Any]:
    return {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name, "uid": f"ns-{name}",
            "creationTimestamp": stamp(created)}, "status": {"phase": "Active"}}


def _pod(pod: Pod) -> dict[str, Any]:
    ready = pod.ready()
    workload = pod.workload
    owner = ({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{workload.name}-{workload.template_hash}",
              "uid": f"rs-{workload.name}", "controller": True} if workload.kind == "Deployment" else
             {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": workload.name, "uid": f"sts-{workload.name}",
              "controller": True})
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid, "labels": pod.labels,
                     "creationTimestamp": stamp(pod.created), "ownerReferences": [owner]},
        "spec": {"containers": [{"name": workload.name, "image": "shop:sim"}], "nodeName": "sim-node-1"},
        "status": {"phase": "Running" if ready else "Pending", "podIP": f"10.0.0.{10 + pod.index}",
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"},
                                  {"type": "ContainersReady", "status": "True" if ready else "False"}]},
    }


def _evicted(pod: Pod) -> dict[str, Any]:
    return {"kind": "Eviction", "apiVersion": "policy/v1",
            "metadata": {"name": pod.name, "namespace": pod.namespace}}


def _workload(cluster: Cluster, workload: Workload) -> dict[str, Any]:
    count = workload.replicas.count()
    return {"kind": workload.kind, "apiVersion": "apps/v1",
            "metadata": {"name": workload.name, "namespace": workload.namespace, "uid": f"w-{workload.name}",
                         "labels": workload.labels, "generation": 1},
            "spec": {"replicas": count, "selector": {"matchLabels": workload.labels},
                     "template": {"metadata": {"labels": workload.labels},
                                  "spec": {"containers": [{"name": workload.name, "image": "shop:sim"}]}}},
            "status": cluster.workload_status(workload)}


def _replicaset(cluster: Cluster, workload: Workload) -> dict[str, Any]:
    body = _workload(cluster, workload)
    body["kind"] = "ReplicaSet"
    body["metadata"] = {**body["metadata"], "name": f"{workload.name}-{workload.template_hash}",
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": workload.name,
                                             "uid": f"w-{workload.name}", "controller": True}]}
    return body


def _pdb(cluster: Cluster, pdb: dict[str, Any]) -> dict[str, Any]:
    with cluster.lock:
        status = cluster.pdb_status(pdb)
    return {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1", "metadata": pdb["metadata"],
            "spec": pdb["spec"], "status": status}
