"""The Helm chart renders, every object is valid Kubernetes (strict schemas, offline), and it holds what the
stack needs: the four Deployments with probes and resources, autoscalers, disruption budgets, the migration hook,
the Secret references, non-root pods, and Rasa's endpoints with the Redis lock store."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from api.settings import Settings
from tests.deploy.conftest import (
    CHART,
    COMPONENTS,
    REPO_ROOT,
    Objects,
    find,
    of_kind,
    production_values,
    render,
)
from tests.deploy.test_secrets import secret_settings

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
CRD_KINDS = {"ServiceMonitor"}  # not in Kubernetes' own schemas: checked by shape below
BACKEND_KEYS = {"DATABASE_URL", "DESKMATE_ASSERTION_KEY", "DESKMATE_RASA_CHANNEL_SECRET", "DESKMATE_ACTIONS_SECRET"}


def validate_all(objects: Objects) -> None:
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{obj['kind']} {obj['metadata']['name']} is not valid Kubernetes {version}: "
                            f"{exc.message} at {'.'.join(map(str, exc.path))}")


def name(component: str) -> str:
    return f"deskmate-{component}"


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def secret_refs(cont: dict[str, Any]) -> dict[str, str]:
    """Variable -> Secret name, for the container's secretKeyRef variables."""
    return {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in cont.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})}


def endpoints(objects: Objects) -> dict[str, Any]:
    return yaml.safe_load(find(objects, "ConfigMap", name("rasa-endpoints"))["data"]["endpoints.yml"])


@pytest.mark.parametrize("values", ["default", "production"])
def test_helm_lint_finds_nothing_in_strict_mode(values: str) -> None:
    report = helm.lint(str(CHART), production_values() if values == "production" else None, strict=True,
                       namespace="deskmate", kube_version=f"v{KUBERNETES_VERSIONS[0]}")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []  # 2 warning, 3 error (1 is info)


@pytest.mark.parametrize("values", ["default", "production", "chart-made secret", "mounted model", "no redis auth"])
def test_every_rendered_object_is_valid_kubernetes(values: str) -> None:
    variants = {
        "default": {},
        "production": production_values(),
        "chart-made secret": {"secret": {"create": True, "values": {"DATABASE_URL": "postgresql://u:p@db/deskmate"}}},
        "mounted model": {"rasa": {"model": {"file": "candidate.tar.gz",
                                             "volume": {"persistentVolumeClaim": {"claimName": "rasa-models"}}}}},
        "no redis auth": {**production_values(), "redis": {"enabled": False, "auth": False,
                                                            "external": {"host": "redis.internal"}}},
    }
    objects = render(variants[values])
    assert len(objects) >= 15
    validate_all(objects)


def test_strict_validation_rejects_an_unknown_field(default_objects: Objects) -> None:
    """The validator is strict: the checks above would catch a misspelt field."""
    broken = yaml.safe_load(yaml.safe_dump(find(default_objects, "Deployment", name("api"))))
    container(broken)["livenessProbes"] = container(broken).pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_process_is_a_deployment_with_probes_and_resources(default_objects: Objects, component: str) -> None:
    deployment = find(default_objects, "Deployment", name(component))
    cont = container(deployment)
    assert cont["livenessProbe"]
    if component != "worker":  # the worker serves nothing: no Service, no readiness
        assert cont["readinessProbe"]
        service = find(default_objects, "Service", name(component))
        assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
        assert {p["targetPort"] for p in service["spec"]["ports"]} == {"http"}
        assert "http" in {p["name"] for p in cont["ports"]}
    for bound in ("requests", "limits"):
        assert set(cont["resources"][bound]) == {"cpu", "memory"}, (component, bound)


def test_the_probes_are_the_processes_own_health_endpoints(default_objects: Objects) -> None:
    api = container(find(default_objects, "Deployment", name("api")))
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container(find(default_objects, "Deployment", name("rasa")))["readinessProbe"]["httpGet"]["path"] == "/"
    actions = container(find(default_objects, "Deployment", name("actions")))
    assert actions["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container(find(default_objects, "Deployment", name("worker")))["livenessProbe"]["exec"]["command"][0] == "python"


def test_the_health_paths_exist_in_the_code() -> None:
    """The probes' paths are the ones the api and the action server serve."""
    app = (REPO_ROOT / "api" / "app.py").read_text()
    assert '.get("/healthz")' in app and '.get("/readyz"' in app
    assert '"/health"' in (REPO_ROOT / "actions" / "server.py").read_text()


def test_every_pod_runs_as_non_root_with_a_read_only_root(production_objects: Objects) -> None:
    pods = [o["spec"]["template"]["spec"] for o in production_objects if o["kind"] in {"Deployment", "Job"}]
    assert len(pods) == 5  # four processes and the migration Job (Redis is external here)
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["automountServiceAccountToken"] is False
        for cont in pod["containers"]:
            assert cont["securityContext"]["allowPrivilegeEscalation"] is False
            assert cont["securityContext"]["readOnlyRootFilesystem"] is True
            assert cont["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_the_bundled_redis_runs_as_non_root_too(default_objects: Objects) -> None:
    pod = find(default_objects, "Deployment", name("redis"))["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0


def test_autoscalers_on_cpu_and_disruption_budgets_in_production(production_objects: Objects) -> None:
    for component in COMPONENTS:
        hpa = find(production_objects, "HorizontalPodAutoscaler", name(component))
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name(component)}
        assert hpa["spec"]["minReplicas"] >= 2
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
        # the autoscaler owns the replica count: a fixed one would fight it on every upgrade
        assert "replicas" not in find(production_objects, "Deployment", name(component))["spec"]
        pdb = find(production_objects, "PodDisruptionBudget", name(component))
        pod_labels = find(production_objects, "Deployment", name(component))["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert pdb["spec"]["maxUnavailable"] == 1


def test_by_default_fixed_replicas_and_no_autoscaler(default_objects: Objects) -> None:
    assert not of_kind(default_objects, "HorizontalPodAutoscaler")
    assert len(of_kind(default_objects, "PodDisruptionBudget")) == len(COMPONENTS)
    for component in COMPONENTS:
        assert find(default_objects, "Deployment", name(component))["spec"]["replicas"] == 1


def test_migrations_run_as_a_hook_job_before_install_and_upgrade(default_objects: Objects) -> None:
    job = find(default_objects, "Job", name("migrations"))
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    cont = container(job)
    assert cont["args"] == ["deskmate", "migrate"]
    assert secret_refs(cont).keys() >= BACKEND_KEYS
    # the api does not migrate on its own then; its /readyz waits for the Job
    assert find(default_objects, "ConfigMap", name("config"))["data"]["DESKMATE_AUTO_MIGRATE"] == "false"


def test_the_cli_has_the_commands_the_chart_runs() -> None:
    cli = (REPO_ROOT / "api" / "cli.py").read_text()
    for command in ("migrate", "serve", "worker"):
        assert f'@app.command("{command}")' in cli


def test_without_the_migration_job_the_api_migrates_itself() -> None:
    objects = render({"migrations": {"enabled": False}})
    assert not of_kind(objects, "Job")
    assert find(objects, "ConfigMap", name("config"))["data"]["DESKMATE_AUTO_MIGRATE"] == "true"


def test_the_database_url_and_keys_come_from_the_secret(default_objects: Objects) -> None:
    for component in ("api", "worker"):
        cont = container(find(default_objects, "Deployment", name(component)))
        assert secret_refs(cont) == dict.fromkeys(BACKEND_KEYS, "deskmate")
        assert {"secretRef": {"name": "deskmate"}} in cont["envFrom"]  # the optional keys (integrations)
    rasa = container(find(default_objects, "Deployment", name("rasa")))
    assert set(secret_refs(rasa)) == {"DESKMATE_RASA_TOKEN", "DESKMATE_RASA_CHANNEL_SECRET", "DESKMATE_ACTIONS_SECRET",
                                      "DESKMATE_RASA_DB_PASSWORD"}
    assert "envFrom" not in rasa  # Rasa and the action server get their own keys only
    actions = container(find(default_objects, "Deployment", name("actions")))
    assert set(secret_refs(actions)) == {"DESKMATE_ACTIONS_SECRET", "DESKMATE_SERVICE_TOKEN"}
    assert not of_kind(default_objects, "Secret")  # yours to create
    for obj in default_objects:  # no secret value anywhere in the rendered objects
        assert "postgresql://" not in yaml.safe_dump(obj)


def test_a_chart_made_secret_is_a_hook_ahead_of_the_migrations() -> None:
    objects = render({"secret": {"create": True, "values": {"DATABASE_URL": "postgresql://u:p@db/deskmate",
                                                            "DESKMATE_ACTIONS_SECRET": "x" * 40}}})
    secret = find(objects, "Secret", "deskmate")
    assert secret["stringData"]["DATABASE_URL"] == "postgresql://u:p@db/deskmate"
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    job = find(objects, "Job", name("migrations"))
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"])


def test_a_chart_made_secret_without_a_database_url_is_refused() -> None:
    with pytest.raises(helm.HelmError, match="DATABASE_URL"):
        render({"secret": {"create": True, "values": {"DESKMATE_ACTIONS_SECRET": "x" * 40}}})


def test_the_api_talks_to_the_rasa_service_and_rasa_to_the_action_server(default_objects: Objects) -> None:
    config = find(default_objects, "ConfigMap", name("config"))["data"]
    rasa_service = find(default_objects, "Service", name("rasa"))
    assert config["DESKMATE_RASA_URL"] == f"http://{name('rasa')}:{rasa_service['spec']['ports'][0]['port']}"
    actions_service = find(default_objects, "Service", name("actions"))
    assert endpoints(default_objects)["action_endpoint"]["url"] == (
        f"http://{name('actions')}:{actions_service['spec']['ports'][0]['port']}/webhook")
    api_env = {e["name"]: e.get("value") for e in container(find(default_objects, "Deployment", name("actions")))["env"]}
    assert api_env["DESKMATE_API_URL"] == f"http://{name('api')}:{find(default_objects, 'Service', name('api'))['spec']['ports'][0]['port']}"


def test_the_lock_store_is_the_bundled_redis_by_default(default_objects: Objects) -> None:
    lock = endpoints(default_objects)["lock_store"]
    assert lock["type"] == "redis"
    assert lock["url"] == name("redis") and lock["port"] == 6379
    assert "password" not in lock
    redis = find(default_objects, "Deployment", name("redis"))
    assert redis["spec"]["replicas"] == 1
    assert find(default_objects, "Service", name("redis"))["spec"]["ports"][0]["port"] == 6379


def test_the_lock_store_is_an_external_redis_in_production(production_objects: Objects) -> None:
    lock = endpoints(production_objects)["lock_store"]
    assert lock["url"] == "deskmate-locks.redis.example.internal" and lock["port"] == 6380
    assert lock["password"] == "${DESKMATE_REDIS_PASSWORD}" and lock["use_ssl"] is True
    assert not [o for o in production_objects if "redis" in o["metadata"]["name"] and o["kind"] != "ConfigMap"]
    assert "DESKMATE_REDIS_PASSWORD" in secret_refs(container(find(production_objects, "Deployment", name("rasa"))))


def test_an_external_redis_needs_a_host() -> None:
    with pytest.raises(helm.HelmError, match="redis.external.host"):
        render({"redis": {"enabled": False}})


def test_rasa_serves_the_baked_model_or_a_mounted_one(default_objects: Objects) -> None:
    args = container(find(default_objects, "Deployment", name("rasa")))["args"]
    assert args[args.index("--model") + 1] == "/app/bot/models/deskmate.tar.gz"
    assert args[args.index("--auth-token") + 1] == "$(DESKMATE_RASA_TOKEN)"  # Kubernetes fills it in
    assert args[args.index("--endpoints") + 1] == "/etc/deskmate/endpoints.yml"
    objects = render({"rasa": {"model": {"file": "candidate.tar.gz",
                                         "volume": {"persistentVolumeClaim": {"claimName": "rasa-models"}}}}})
    rasa = find(objects, "Deployment", name("rasa"))
    args = container(rasa)["args"]
    assert args[args.index("--model") + 1] == "/models/candidate.tar.gz"
    volumes = {v["name"]: v for v in rasa["spec"]["template"]["spec"]["volumes"]}
    assert volumes["model"]["persistentVolumeClaim"] == {"claimName": "rasa-models"}


def test_the_rasa_endpoints_keep_the_repository_s_action_and_tracker_settings(default_objects: Objects) -> None:
    """The chart's endpoints.yml is bot/endpoints.yml's with the Services' names and the lock store."""
    ours = endpoints(default_objects)
    repo = yaml.safe_load((REPO_ROOT / "bot" / "endpoints.yml").read_text())
    assert ours["action_endpoint"]["headers"] == repo["action_endpoint"]["headers"]
    assert set(ours["tracker_store"]) == set(repo["tracker_store"])
    assert ours["tracker_store"]["password"] == repo["tracker_store"]["password"]


def test_only_the_api_reaches_rasa_and_only_rasa_the_action_server_and_redis(default_objects: Objects) -> None:
    policies = {p["metadata"]["name"]: p for p in of_kind(default_objects, "NetworkPolicy")}
    assert set(policies) == {name("rasa"), name("actions"), name("redis")}
    for target, source in (("rasa", "api"), ("actions", "rasa"), ("redis", "rasa")):
        (rule,) = policies[name(target)]["spec"]["ingress"]
        assert rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == source
        assert policies[name(target)]["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == target


def test_a_config_change_rolls_the_pods() -> None:
    def checksum(objects: Objects) -> str:
        return find(objects, "Deployment", name("api"))["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(render()) != checksum(render({"config": {"DESKMATE_LOG_LEVEL": "DEBUG"}}))


def test_settings_pass_through_the_config_map(production_objects: Objects) -> None:
    data = find(production_objects, "ConfigMap", name("config"))["data"]
    assert data["DESKMATE_PUBLIC_URL"] == "https://help.example.com"
    assert data["DESKMATE_DB_POOL_MAX"] == "10"
    assert all(isinstance(v, str) for v in data.values())


def test_the_service_monitor_scrapes_the_api_metrics() -> None:
    objects = render({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}})
    monitor = find(objects, "ServiceMonitor", name("api"))
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"] == [{
        "port": "http", "path": "/metrics", "interval": "30s",
        # the api refuses a scrape without DESKMATE_METRICS_TOKEN as a bearer token: the Secret's key
        "authorization": {"type": "Bearer", "credentials": {"name": "deskmate", "key": "DESKMATE_METRICS_TOKEN"}}}]
    assert monitor["spec"]["selector"]["matchLabels"] == find(objects, "Service", name("api"))["spec"]["selector"]


def test_the_ingress_routes_to_the_api(production_objects: Objects) -> None:
    ingress = find(production_objects, "Ingress", name("api"))
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": name("api"), "port": {"name": "http"}}
    assert ingress["spec"]["tls"][0]["secretName"] == "deskmate-tls"


def test_another_release_name_prefixes_every_object() -> None:
    objects = render(release="helpdesk")
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"} == {
        f"helpdesk-deskmate-{c}" for c in (*COMPONENTS, "redis")}
    assert find(objects, "ConfigMap", "helpdesk-deskmate-config")["data"]["DESKMATE_RASA_URL"] == (
        "http://helpdesk-deskmate-rasa:5005")


def test_the_worker_probe_tells_a_running_process_from_a_stopped_one() -> None:
    """The worker's liveness command, run against a live process and a stopped one (SIGSTOP) in place of PID 1."""
    command = container(find(render(), "Deployment", name("worker")))["livenessProbe"]["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        probe = [sys.executable, "-c", command[2].replace("/proc/1/stat", f"/proc/{sleeper.pid}/stat")]
        assert subprocess.run(probe, check=False).returncode == 0
        os.kill(sleeper.pid, signal.SIGSTOP)
        os.waitpid(sleeper.pid, os.WUNTRACED)  # returns once the kernel has stopped it
        assert subprocess.run(probe, check=False).returncode == 1
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize(("values", "message"), [
    ({"api": {"replica": 2}}, "additional properties 'replica' not allowed"),
    ({"rasa": {"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": 150}}}, "maximum"),
    ({"config": {"DESKMATE_SECRET_KEY": "in a ConfigMap"}}, "DESKMATE_SECRET_KEY"),
    ({"config": {"DATABASE_URL": "postgresql://u:p@db/deskmate"}}, "DATABASE_URL"),
    ({"redis": {"keyPrefix": "desk-mate"}}, "keyPrefix"),
    ({"trackerStore": {"host": ""}}, "trackerStore/host"),
    ({"rasa": {"model": {"file": "/models/x.tar.gz"}}}, "model/file"),
    ({"securityContext": {"runAsUser": 0}}, "runAsUser"),
])
def test_bad_values_are_refused_with_the_value_named(values: dict[str, Any], message: str) -> None:
    """values.schema.json: a misspelt or misplaced value stops the render instead of being ignored."""
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(values)


def test_the_schema_keeps_every_secret_out_of_the_config_map() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    refused = set(schema["properties"]["config"]["propertyNames"]["not"]["enum"])
    settings = {n for n in secret_settings(Settings, "DESKMATE_") if n.startswith("DESKMATE_")}
    assert settings <= refused
    assert refused - settings == {"DESKMATE_SERVICE_TOKEN", "DESKMATE_RASA_DB_PASSWORD", "DESKMATE_REDIS_PASSWORD"}
