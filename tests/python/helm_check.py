"""Lints and renders the Helm chart with Helm's own engine (helm-python-sdk, Helm's Go SDK), checks
every rendered object against the Kubernetes OpenAPI schemas offline (kubernetes-validate), and
tries values that values.schema.json must refuse. Prints one JSON document:

    helm_check.py CHART KUBE_VERSION

    {"lint": {...}, "cases": {NAME: {"objects": [...], "notes": TEXT, "invalid": [MESSAGES]}},
     "refused": {NAME: MESSAGE or null}, "nothing_to_do": MESSAGE, "failed": {NAME: MESSAGE},
     "control": MESSAGE,
     "rules": [...files/k8s-attributes-rules.yaml...]}
"""
import json
import sys

import helm_python as helm
import kubernetes_validate
import yaml

CASES = {
    "default": {},
    # Every option away from its default.
    "everything": {
        "image": {"repository": "registry.example/spider", "tag": "1.2.3", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "registry"}],
        "serviceAccount": {"create": False, "name": "observer"},
        "controller": {
            "port": 4391,
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "feedToken": {"existingSecret": "spider-feed"},
        },
        "clusterName": "eu-west-prod",
        "agent": {
            "usage": {"readInterval": "5s", "maxFlows": 262144},
            "capture": {"enabled": True, "interfaces": ["eth0", "cni0"], "filter": "tcp port 80"},
            "waitForMetadata": True,
            "clusterCidrs": ["10.0.0.0/8", "fd00::/8"],
            "logLevel": "debug",
            "privileged": True,
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "priorityClassName": "system-node-critical",
            "podAnnotations": {"team": "network"},
        },
        "query": {
            "replicas": 2,
            "tokens": {"existingSecret": "spider-token"},
            "service": {"type": "LoadBalancer", "port": 80},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "obs", "effect": "NoSchedule"}],
        },
        "storage": {
            "persistentVolumeClaim": {"existingClaim": "shared-nfs"},
            "maxFileAge": "30s",
            "retention": {"maxAge": {"packets": "24h", "network_usage": "720h"}, "schedule": "@hourly"},
            "objectStore": {
                "url": "s3://spider-datasets/cluster-a",
                "credentialsSecret": "spider-s3",
                "options": {"region": "eu-west-1"},
            },
        },
        "otlp": {
            "endpoint": "http://otel-collector.observability:4318",
            "protocol": "http/protobuf",
            "headers": {"x-tenant": "cluster-a"},
        },
        "selfTelemetry": {"otlpEndpoint": "http://otel-collector.observability:4317", "interval": 15000},
    },
    # The lake in a bucket: no shared volume, staging on each node, the query service's state on
    # a claim of its own.
    "object-store": {
        "storage": {
            "mode": "objectStore",
            "objectStore": {
                "url": "s3://spider-lake/cluster-a",
                "credentialsSecret": "spider-s3",
                "options": {"endpoint": "http://minio.storage:9000", "allow_http": "true"},
                "listingTtl": "20s",
            },
            "state": {"size": "2Gi"},
            "retention": {"maxAge": {"http": "168h"}},
        },
    },
    # Capture only, no query service, a claim the chart creates with a class.
    # The API left open: no tokens Secret, no token in the agents' config.
    "open": {"query": {"tokens": {"create": False}}},
    # Every agent watches the API itself: the ClusterRole is theirs.
    "no-controller": {"controller": {"enabled": False}},
    "capture-only": {
        "agent": {"usage": {"enabled": False}, "capture": {"enabled": True}},
        "query": {"enabled": False},
        "storage": {"persistentVolumeClaim": {"storageClassName": "nfs", "accessModes": ["ReadWriteOnce"]}},
    },
}

# Values the schema must refuse, each with the key its message has to name.
BAD = {
    "otlp protocol": {"otlp": {"protocol": "carrier-pigeon"}},
    "duration": {"agent": {"usage": {"readInterval": "soon"}}},
    "misspelt key": {"agnet": {}},
    "object store scheme": {"storage": {"objectStore": {"url": "http://bucket"}}},
    "storage mode": {"storage": {"mode": "bucket"}},
    "retention dataset": {"storage": {"retention": {"maxAge": {"flows": "24h"}}}},
    "port range": {"query": {"service": {"port": 70000}}},
    "controller port": {"controller": {"port": 0}},
    "cluster name": {"clusterName": "Prod_1"},
    "resources type": {"agent": {"resources": "lots"}},
    "pull policy": {"image": {"pullPolicy": "Sometimes"}},
    "otlp dimension": {"otlp": {"dimensions": ["namespace", "colour"]}},
    "self-telemetry interval": {"selfTelemetry": {"interval": 10}},
}


def render(chart, values, kube_version):
    manifests = chart.render(values, name="spider", namespace="spider", is_install=True)
    objects, notes, invalid = [], "", []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        for document in yaml.safe_load_all(text):
            if not document:
                continue
            objects.append(document)
            try:
                kubernetes_validate.validate(document, kube_version, strict=True)
            except kubernetes_validate.ValidationError as error:
                invalid.append(f"{path}: {document['kind']}: {error.message}")
    return {"objects": objects, "notes": notes, "invalid": invalid}


def refused(chart, values):
    try:
        chart.validate_schema(values)
    except helm.HelmError as error:
        return str(error)
    return None


def main():
    path, kube_version = sys.argv[1], sys.argv[2]
    chart = helm.Chart.load(path)
    result = {
        "lint": {name: helm.lint(path, values, strict=True) for name, values in CASES.items()},
        "cases": {name: render(chart, values, kube_version) for name, values in CASES.items()},
        "refused": {name: refused(chart, values) for name, values in BAD.items()},
    }
    # The offline validator must itself catch a broken object, or its silence proves nothing.
    daemonset = next(o for o in result["cases"]["default"]["objects"] if o["kind"] == "DaemonSet")
    broken = json.loads(json.dumps(daemonset))
    broken["spec"]["template"]["spec"]["hostNetwork"] = "yes"
    try:
        kubernetes_validate.validate(broken, kube_version, strict=True)
        result["control"] = None
    except kubernetes_validate.ValidationError as error:
        result["control"] = error.message
    try:
        chart.render({"agent": {"usage": {"enabled": False}, "whisperer": {"enabled": False}}},
                     name="spider", namespace="spider")
        result["nothing_to_do"] = None
    except helm.HelmError as error:
        result["nothing_to_do"] = str(error)
    # Values the templates refuse, with the reason.
    result["failed"] = {}
    for name, values in {
        "bucket without url": {"storage": {"mode": "objectStore"}},
        "credential option": {
            "storage": {"objectStore": {"url": "s3://b-1/p", "options": {"secret_access_key": "x"}}},
        },
        "bucket with replicas": {
            "storage": {"mode": "objectStore", "objectStore": {"url": "s3://b-1/p"}},
            "query": {"replicas": 2},
        },
    }.items():
        try:
            chart.render(values, name="spider", namespace="spider")
            result["failed"][name] = None
        except helm.HelmError as error:
            result["failed"][name] = str(error)
    with open(f"{path}/files/k8s-attributes-rules.yaml") as rules:
        result["rules"] = yaml.safe_load(rules)
    print(json.dumps(result))


main()
