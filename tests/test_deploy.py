"""The Dockerfile and the Helm chart, checked without a container engine or a
cluster: the Dockerfile's properties from its text; the chart linted and
rendered by Helm's own engine (helm-python-sdk), every manifest validated
against Kubernetes' schemas (kubernetes-validate), the security context, the
config round trip, values that must fail, and one source of truth for the
dashboard and the alerting rules."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from scanner.configfile import parse_config

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "keysentry"
# GKE's channels carry 1.33 to 1.35 at the end of 2026; the newest schemas too.
K8S_VERSIONS = ("1.34.0", kubernetes_validate.latest_version())
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}  # CRDs: no upstream schema

EVERYTHING_ON: dict[str, Any] = {
    "replicaCount": 2,
    "image": {"digest": "sha256:" + "a" * 64},
    "database": {"type": "postgresql"},
    "existingSecret": "keysentry-secrets",
    "secretEnv": {
        "KEYSENTRY_DATABASE_URL": "database-url",
        "KEYSENTRY_FINGERPRINT_KEY": "fingerprint-key",
        "SMTP_PASSWORD": "smtp-password",
        "WEBHOOK_SECRET": "webhook-secret",
        "GITHUB_TOKEN": "github-token",
    },
    "serviceAccount": {"gcpServiceAccount": "keysentry@sec-tools.iam.gserviceaccount.com"},
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    "grafana": {"dashboard": {"enabled": True}},
    "networkPolicy": {
        "enabled": True,
        "egress": {
            "googleApis": {"cidrs": ["199.36.153.8/30"]},
            "smtp": {"port": 587, "cidrs": ["10.20.0.5/32"]},
            "webhooks": {"port": 443, "cidrs": ["203.0.113.0/24"]},
            "database": {"port": 5432, "cidrs": ["10.30.0.0/24"]},
        },
    },
}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every manifest the chart renders for VALUES, parsed."""
    chart = helm.Chart.load(CHART)
    rendered = chart.render(values, name="keysentry", namespace="security", is_install=True)
    manifests = []
    for path, text in rendered.items():
        if path.endswith(".txt"):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def notes(values: dict[str, Any] | None = None) -> str:
    chart = helm.Chart.load(CHART)
    rendered = chart.render(values, name="keysentry", namespace="security", is_install=True)
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


def by_kind(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in manifests}


# --- Dockerfile -------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    lines: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        word, _, rest = text.partition(" ")
        lines.append((word.upper(), rest.strip()))
    return lines


def test_the_dockerfile_has_the_properties_a_platform_team_checks() -> None:
    steps = instructions(ROOT / "Dockerfile")
    args = dict(a.split("=", 1) for k, a in steps if k == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base  # pinned by version
    stages = [i for i, (k, _) in enumerate(steps) if k == "FROM"]
    assert len(stages) >= 2  # multi-stage
    final = steps[stages[-1] :]
    build = " ".join(a for k, a in steps[: stages[-1]] if k == "RUN")
    assert "--require-hashes -r requirements.lock" in build
    # The runtime stage installs nothing: its one RUN takes the world's write bit off
    # what the base leaves writable (tests/test_image.py checks the built image).
    runs = [a for k, a in final if k == "RUN"]
    assert runs == ["find / -xdev -perm -0002 ! -type l ! -path /tmp -exec chmod o-w {} +"]
    user = next(a for k, a in reversed(final) if k == "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit()
    entrypoint = json.loads(next(a for k, a in final if k == "ENTRYPOINT"))
    assert entrypoint == ["keysentry", "run"]
    healthcheck = next(a for k, a in final if k == "HEALTHCHECK")
    assert "http://127.0.0.1:9184/healthz" in healthcheck and "CMD" in healthcheck
    labels = " ".join(a for k, a in final if k == "LABEL")
    keys = set(re.findall(r"(org\.opencontainers\.image\.[a-z]+)=", labels))
    assert {
        f"org.opencontainers.image.{k}"
        for k in ("title", "description", "version", "revision", "source", "licenses")
    } <= keys
    assert ("EXPOSE", "9184") in final
    # Everything copied into the build exists and is let through by .dockerignore.
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore
    for kind, arguments in steps:
        if kind == "COPY" and not arguments.startswith("--from"):
            *sources, _ = shlex.split(arguments)
            for source in sources:
                assert (ROOT / source).exists() and source.rstrip("/") in allowed, source


# --- Helm chart -----------------------------------------------------------


def test_the_chart_lints_clean_with_defaults_and_with_everything_on() -> None:
    for values in (None, EVERYTHING_ON):
        report = helm.lint(CHART, values, strict=True)
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("values", [None, EVERYTHING_ON], ids=["defaults", "everything-on"])
def test_every_rendered_manifest_is_valid_kubernetes(values: dict[str, Any] | None) -> None:
    manifests = render(values)
    kinds = {m["kind"] for m in manifests}
    expected = {"Deployment", "ServiceAccount", "ConfigMap", "Service"}
    if values is None:
        assert kinds == expected | {"PersistentVolumeClaim"}
    else:
        extra = {"NetworkPolicy", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"}
        assert kinds == expected | extra
    for manifest in manifests:
        if manifest["kind"] in OPERATOR_KINDS:
            assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(manifest, version, strict=True)


def test_the_pod_runs_locked_down_and_outlives_the_shutdown_grace() -> None:
    for values in (None, EVERYTHING_ON):
        manifests = render(values)
        deployment = by_kind(manifests)["Deployment"]
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert security["runAsNonRoot"] is True
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        # Writable: /tmp, and the SQLite volume when there is one; nothing else.
        writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
        assert writable <= {"/tmp", "/var/lib/keysentry"}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        config = config_of(manifests)
        assert pod["terminationGracePeriodSeconds"] > config.worker.shutdown_grace
        assert container["args"] == ["--config", "/etc/keysentry/keysentry.yaml"]


def config_of(manifests: list[dict[str, Any]]) -> Any:
    configmap = next(
        m for m in manifests if m["kind"] == "ConfigMap" and "keysentry.yaml" in m["data"]
    )
    return parse_config(configmap["data"]["keysentry.yaml"], "configmap keysentry.yaml")


def test_the_config_block_round_trips_into_a_valid_keysentry_config() -> None:
    sample = yaml.safe_load((ROOT / "scanner" / "samples" / "demo-alerts.yaml").read_text())
    config_values = {
        **sample,
        "worker": {"scope": "organizations/123456789012", "shutdown_grace": "45s"},
        "usage": {"enabled": True},
        "leaks": {"github": {"orgs": ["acme"]}},
    }
    rendered = config_of(render({"config": config_values}))
    expected = parse_config(yaml.safe_dump(config_values), "values")
    assert rendered == expected
    assert rendered.worker.scope == "organizations/123456789012"
    assert rendered.alerts.enabled and rendered.leaks.github.orgs == ["acme"]


def test_secrets_are_only_referenced_and_workload_identity_is_annotated() -> None:
    manifests = render(EVERYTHING_ON)
    kinds = by_kind(manifests)
    assert "Secret" not in kinds
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert set(env) == set(EVERYTHING_ON["secretEnv"])
    for name, key in EVERYTHING_ON["secretEnv"].items():
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "keysentry-secrets", "key": key}
    annotations = kinds["ServiceAccount"]["metadata"]["annotations"]
    assert annotations["iam.gke.io/gcp-service-account"] == (
        "keysentry@sec-tools.iam.gserviceaccount.com"
    )
    assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    assert container["image"].endswith("@sha256:" + "a" * 64)


def test_the_network_policy_allows_only_what_keysentry_reaches() -> None:
    policy = by_kind(render(EVERYTHING_ON))["NetworkPolicy"]["spec"]
    egress = {
        (
            tuple(p["port"] for p in rule["ports"]),
            tuple(t.get("ipBlock", {}).get("cidr") for t in rule["to"]),
        )
        for rule in policy["egress"]
    }
    assert ((53, 53), (None,)) in egress  # DNS, by namespace
    assert ((443,), ("199.36.153.8/30",)) in egress
    assert ((587,), ("10.20.0.5/32",)) in egress
    assert ((443,), ("203.0.113.0/24",)) in egress
    assert ((5432,), ("10.30.0.0/24",)) in egress
    assert policy["ingress"][0]["ports"] == [{"port": 9184, "protocol": "TCP"}]


def test_dashboard_and_rules_have_one_source_of_truth() -> None:
    dashboards = ROOT / "dashboards"
    files = CHART / "files"
    assert (files / "alerts.yml").read_bytes() == (dashboards / "alerts.yml").read_bytes()
    assert (files / "keysentry.json").read_bytes() == (dashboards / "keysentry.json").read_bytes()
    manifests = render(EVERYTHING_ON)
    rule = next(m for m in manifests if m["kind"] == "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((dashboards / "alerts.yml").read_text())
    board = next(m for m in manifests if m["kind"] == "ConfigMap" and "keysentry.json" in m["data"])
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(board["data"]["keysentry.json"]) == json.loads(
        (dashboards / "keysentry.json").read_text()
    )


def test_runbook_urls_follow_the_configured_base() -> None:
    wiki = "https://wiki.example.com/security/keysentry-runbooks"
    values = EVERYTHING_ON | {
        "metrics": {"prometheusRule": {"enabled": True, "runbookBaseUrl": wiki}}
    }
    rule = next(m for m in render(values) if m["kind"] == "PrometheusRule")
    shipped = yaml.safe_load((ROOT / "dashboards" / "alerts.yml").read_text())
    urls = [r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"]]
    expected = [
        wiki + "#" + r["annotations"]["runbook_url"].split("#", 1)[1]
        for g in shipped["groups"]
        for r in g["rules"]
    ]
    assert urls == expected and len(urls) == 18
    with pytest.raises(helm.HelmError, match="runbookBaseUrl"):
        render(EVERYTHING_ON | {"metrics": {"prometheusRule": {"runbookBaseUrl": "wiki/x"}}})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": 2}, "/database/type"),  # more than one replica on SQLite
        ({"securityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem"),
        ({"image": {"digest": "latest"}}, "digest"),
        ({"replicas": 3}, "replicas"),  # a misspelt value is not silently ignored
        ({"config": {"worker": {"scope": "my-org"}}}, "scope"),
        ({"config": {"database_url": "postgresql://u:p@h/db"}}, "database_url"),
        ({"terminationGracePeriodSeconds": "60"}, "terminationGracePeriodSeconds"),
    ],
)
def test_wrong_values_fail_at_install(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(values)


def test_template_checks_fail_with_a_reason() -> None:
    with pytest.raises(
        helm.HelmError, match=r"needs existingSecret and secretEnv\.KEYSENTRY_DATABASE_URL"
    ):
        render({"database": {"type": "postgresql"}})
    with pytest.raises(helm.HelmError, match="secretEnv needs existingSecret"):
        render({"secretEnv": {"GITHUB_TOKEN": "token"}})
    for grace in ("90s", "2m", 60):
        with pytest.raises(
            helm.HelmError, match=r"must be longer than config\.worker\.shutdown_grace"
        ):
            render({"config": {"worker": {"shutdown_grace": grace}}})
    longer = {"config": {"worker": {"shutdown_grace": "2m"}}, "terminationGracePeriodSeconds": 150}
    assert (
        by_kind(render(longer))["Deployment"]["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"
        ]
        == 150
    )


def test_notes_say_how_to_reach_the_metrics_and_check_the_first_scan() -> None:
    text = notes({"config": {"worker": {"scope": "organizations/1"}}})
    assert "kubectl -n security port-forward svc/keysentry 9184:9184" in text
    assert "/metrics" in text and "keysentry scans" in text
    assert "WARNING" not in text
    assert "config.worker.scope is not set" in notes()


def test_the_values_file_of_the_gke_guide_installs_as_written() -> None:
    guide = (ROOT / "docs" / "deploy-gke.md").read_text()
    block = guide.split("A minimal `values-gke.yaml`:", 1)[1].split("```yaml\n", 1)[1]
    values = yaml.safe_load(block.split("```", 1)[0])
    values["secretEnv"]["SMTP_PASSWORD"] = "smtp-password"  # as the guide says next
    assert helm.lint(CHART, values, strict=True)["errors"] == []
    manifests = render(values)
    config = config_of(manifests)
    assert config.worker.scope == "organizations/123456789012"
    assert config.alerts.enabled and config.alerts.smtp.password_env == "SMTP_PASSWORD"
    kinds = by_kind(manifests)
    assert kinds["Deployment"]["spec"]["replicas"] == 2
    assert "PodDisruptionBudget" in kinds and "ServiceMonitor" in kinds
