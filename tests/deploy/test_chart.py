"""The Helm chart (deploy/helm/rig) and the plain manifest (deploy/kubernetes):
helm lint, helm template with the chart's defaults, with a values file shaped
like RIG's own chart's, and with the ServiceMonitor on; every rendered manifest
validated against the Kubernetes schemas offline; what matters asserted.

Run: python3 tests/deploy/test_chart.py (needs PyPI helm-python-sdk,
kubernetes-validate, PyYAML).
"""
import os
import sys
import unittest

import helm_python as helm
import kubernetes_validate
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
CHART = os.path.join(REPO, "deploy", "helm", "rig")
MANIFEST = os.path.join(REPO, "deploy", "kubernetes", "rig.yaml")
K8S = "1.33.0"


def render(values=None):
    chart = helm.Chart.load(CHART)
    files = chart.render(values or {}, name="rig", namespace="apps", is_install=True)
    docs = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


RIG_VALUES = load(os.path.join(HERE, "rig-chart-values.yaml"))[0]


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def validate(testcase, docs):
    for d in docs:
        if d["apiVersion"].startswith("monitoring.coreos.com"):
            continue  # a CRD: not in the Kubernetes schemas
        try:
            kubernetes_validate.validate(d, K8S, strict=True)
        except kubernetes_validate.ValidationError as e:
            testcase.fail(f"{d['kind']} {d['metadata']['name']}: {e.message} at {list(e.path)}")


def env_of(deployment):
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}, container


class Chart(unittest.TestCase):
    def test_lint_is_clean(self):
        for values in ({}, RIG_VALUES):
            report = helm.lint(CHART, values, strict=True, kube_version="v" + K8S)
            errors = [m for m in report.get("messages") or [] if m.get("severity", 0) >= 2] + (report.get("errors") or [])
            self.assertEqual(errors, [], report)

    def test_defaults_render_valid_manifests_with_the_right_probes(self):
        docs = render()
        validate(self, docs)
        kinds = sorted(d["kind"] for d in docs)
        self.assertEqual(kinds, ["Deployment", "PodDisruptionBudget", "Secret", "Service", "Service", "Service"])
        (deployment,) = by_kind(docs, "Deployment")
        env, container = env_of(deployment)
        self.assertEqual(container["livenessProbe"]["httpGet"], {"path": "/health", "port": "internal-http"})
        self.assertEqual(container["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "internal-http"})
        self.assertEqual(env["NODE_HOST"]["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP")
        self.assertEqual(env["NODE_COOKIE"]["valueFrom"]["secretKeyRef"]["key"], "cookie")
        self.assertEqual(env["DNS_NAME"]["value"], "rig-headless.apps.svc.cluster.local")
        self.assertEqual(env["DISCOVERY_TYPE"]["value"], "dns")
        spec = deployment["spec"]["template"]["spec"]
        self.assertGreater(spec["terminationGracePeriodSeconds"], 10, "above RIG_SHUTDOWN_GRACE_MS (10 s)")
        self.assertEqual(spec["securityContext"]["runAsUser"], 1000)
        self.assertIn("memory", container["resources"]["requests"])
        headless = [s for s in by_kind(docs, "Service") if s["spec"].get("clusterIP") == "None"]
        self.assertEqual(len(headless), 1)
        self.assertTrue(headless[0]["spec"]["publishNotReadyAddresses"])
        ports = {p["containerPort"] for p in container["ports"]}
        self.assertTrue({4000, 4001, 4010, 4011, 4020} <= ports, ports)

    def test_rig_chart_values_render_through_this_chart(self):
        values = RIG_VALUES
        docs = render(values)
        validate(self, docs)
        (deployment,) = by_kind(docs, "Deployment")
        self.assertEqual(deployment["spec"]["replicas"], 3)
        env, container = env_of(deployment)
        for name, value in values["deployment"]["env"].items():
            if name == "NODE_COOKIE":
                continue
            self.assertEqual(env[name]["value"], str(value), name)
        # The cookie from the pod spec moves into the Secret.
        self.assertNotIn("value", env["NODE_COOKIE"])
        (secret,) = by_kind(docs, "Secret")
        import base64
        self.assertEqual(base64.b64decode(secret["data"]["cookie"]).decode(), "magiccookie")
        public = [s for s in by_kind(docs, "Service") if s["metadata"]["name"] == "rig"]
        self.assertEqual(public[0]["spec"]["type"], "LoadBalancer")
        self.assertTrue(container["image"].startswith("accenture/reactive-interaction-gateway:"))

    def test_validation_catches_a_broken_manifest(self):
        (deployment,) = by_kind(render(), "Deployment")
        deployment["spec"]["replicas"] = "two"
        with self.assertRaises(AssertionError):
            validate(self, [deployment])

    def test_grace_period_follows_the_shutdown_grace(self):
        docs = render({"deployment": {"env": {"RIG_SHUTDOWN_GRACE_MS": 30000}}})
        (deployment,) = by_kind(docs, "Deployment")
        self.assertGreater(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 30)

    def test_service_monitor_is_optional(self):
        docs = render({"serviceMonitor": {"enabled": True}})
        validate(self, docs)
        (monitor,) = by_kind(docs, "ServiceMonitor")
        self.assertEqual(monitor["spec"]["endpoints"][0]["path"], "/metrics")


class PlainManifest(unittest.TestCase):
    def test_validates_and_probes_as_the_chart(self):
        docs = load(MANIFEST)
        validate(self, docs)
        (deployment,) = by_kind(docs, "Deployment")
        env, container = env_of(deployment)
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"], "/health")
        self.assertIn("NODE_HOST", env)


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=2))
