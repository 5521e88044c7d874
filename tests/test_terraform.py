"""deploy/terraform: the ECS deployment parses, and it gives the service every setting production needs.

No cloud and no provider download here: the files are parsed with python-hcl2 and checked against
``app/core/config.py`` itself. ``terraform fmt -check`` runs only where the terraform binary exists; elsewhere
that test is not collected at all (it is not counted as a pass).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import typing
from pathlib import Path
from typing import Any

import hcl2
import pytest
from pydantic import SecretStr

from app.core.config import MID_ENV_PREFIX, ConfigurationError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "deploy" / "terraform"
SETTINGS_ENV_NAMES = frozenset(name.upper() for name in Settings.model_fields if name != "mid_ids")

# A valid production value for each setting the derivation below may have to fill in. A new requirement in
# config.py without a sample here fails the test, which is the point: the deployment must then set it too.
SAMPLE_VALUES = {
    "NETVALVE_API_KEY": "nv-api-key-0123456789abcdef",
    "SERVICE_API_KEYS": "service-key-0123456789abcdef",
    "NETVALVE_WEBHOOK_AUTH_VALUES": "webhook-value-0123456789abcdef",
    "MEDUSA_WEBHOOK_SECRET": "medusa-secret-0123456789abcdef",
    "MEDUSA_WEBHOOK_URL": "https://medusa.example.com/hooks/payment/netvalve_netvalve",
    "NETVALVE_WEBHOOK_AUTH_HEADER": "x-netvalve-webhook",
    "NETVALVE_CLIENT_ID": "client-id",
    "NETVALVE_RETURN_BASE_URL": "https://shop.example.com",
    "DATABASE_URL": "postgresql://netvalve:pw@db.example.com:5432/netvalve",
    "TRUSTED_PROXIES": "10.0.0.0/16",
}
# The defaults of these do not describe a production site, though config.py cannot tell: DATABASE_URL's
# default is a local database.
ALWAYS_REQUIRED = ("APP_ENV", "DATABASE_URL")
# Policy rather than site: written as literals in ecs.tf, every other value comes from a variable.
FIXED_SETTINGS = {"APP_ENV": "production", "LOG_FORMAT": "json", "STOREFRONT_AUTH": "publishable_key"}
CONFIGURATION_PROBLEM = re.compile(r"\b([A-Z][A-Z0-9_]+): ")
REFERENCE = re.compile(r"(?<!data\.)\b(aws_[a-z0-9_]+|random_[a-z0-9_]+)\.([a-z0-9_]+)\b")
DATA_REFERENCE = re.compile(r"\bdata\.([a-z0-9_]+)\.([a-z0-9_]+)\b")


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals and block labels quoted; expressions come as ``${...}``."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


class Deployment:
    """Every block of every .tf file, by kind; resource and data blocks by ``(type, name)``."""

    def __init__(self, folder: Path) -> None:
        self.text = {path.name: path.read_text() for path in sorted(folder.glob("*.tf"))}
        self.locals: dict[str, Any] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.data: dict[tuple[str, str], dict[str, Any]] = {}
        for path in sorted(folder.glob("*.tf")):
            with path.open() as handle:
                parsed = hcl2.load(handle)
            for block in parsed.get("locals", []):
                self.locals.update(block)
            for block in parsed.get("variable", []):
                self.variables.update({unquote(name): body for name, body in block.items()})
            for kind, into in (("resource", self.resources), ("data", self.data)):
                for block in parsed.get(kind, []):
                    for rtype, named in block.items():
                        for name, body in named.items():
                            into[(unquote(rtype), unquote(name))] = body

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        assert (rtype, name) in self.resources, f"no resource {rtype}.{name}"
        return self.resources[(rtype, name)]

    def of_type(self, rtype: str) -> list[dict[str, Any]]:
        return [body for (kind, _), body in self.resources.items() if kind == rtype]

    def all_text(self) -> str:
        return "\n".join(self.text.values())


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    return Deployment(TERRAFORM)


def plain_environment(deployment: Deployment) -> dict[str, str]:
    return {name: unquote(value) for name, value in deployment.locals["plain_environment"].items()}


def secret_names(deployment: Deployment) -> set[str]:
    """What the tasks always get from Secrets Manager (the optional keys default to none)."""
    required = {unquote(key) for key in deployment.locals["required_app_secret_keys"]}
    return required | {"DATABASE_URL"}


def deployed_names(deployment: Deployment) -> set[str]:
    return set(plain_environment(deployment)) | secret_names(deployment)


def production_requirements(
    deployed: set[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[set[str], dict[str, str]]:
    """The settings production refuses to start without, found by asking ``load_settings`` itself.

    Start from APP_ENV=production plus a valid value for each setting the deployment sets (what it sets can
    make further settings required: MEDUSA_WEBHOOK_URL its secret), then fill in every setting the
    configuration error names until the settings load."""
    for name in list(os.environ):
        if name.upper() in SETTINGS_ENV_NAMES or name.upper().startswith(MID_ENV_PREFIX):
            monkeypatch.delenv(name)
    values = {name: SAMPLE_VALUES[name] for name in deployed if name in SAMPLE_VALUES}
    required: set[str] = set()
    for _ in range(len(SETTINGS_ENV_NAMES)):
        try:
            load_settings(_env_file=None, app_env="production", **{k.lower(): v for k, v in values.items()})
        except ConfigurationError as exc:
            problem = str(exc)
        else:
            return required, values
        # A model-level error is reported under SETTINGS; the settings it names follow.
        named = set(CONFIGURATION_PROBLEM.findall(problem)) & SETTINGS_ENV_NAMES
        assert named, f"a configuration error that names no setting: {problem}"
        missing = named - set(values)
        assert missing, f"the sample values themselves are refused: {problem}"
        unknown = missing - set(SAMPLE_VALUES)
        assert not unknown, f"production now requires {sorted(unknown)}: add samples and deploy them"
        required |= missing
        values.update({name: SAMPLE_VALUES[name] for name in missing})
    raise AssertionError("the production requirements did not converge")


def secret_settings() -> set[str]:
    """Settings that hold a credential: typed SecretStr, or hidden from repr (database URLs)."""
    names = set()
    for name, field in Settings.model_fields.items():
        if not field.repr or SecretStr in _leaf_types(field.annotation):
            names.add(name.upper())
    return names


def _leaf_types(annotation: Any) -> set[Any]:
    args = typing.get_args(annotation)
    if not args:
        return {annotation}
    return set().union(*(_leaf_types(arg) for arg in args))


class TestProductionSettings:
    def test_the_derivation_finds_what_config_py_requires(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Nothing deployed: the bare requirements of _production_is_complete must come out.
        required, _ = production_requirements(set(), monkeypatch)
        assert {"NETVALVE_API_KEY", "SERVICE_API_KEYS", "TRUSTED_PROXIES"} <= required
        required_with_hook, _ = production_requirements({"MEDUSA_WEBHOOK_URL"}, monkeypatch)
        assert "MEDUSA_WEBHOOK_SECRET" in required_with_hook

    def test_every_setting_production_requires_is_deployed(
        self, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        deployed = deployed_names(deployment)
        required, _ = production_requirements(deployed, monkeypatch)
        missing = (required | set(ALWAYS_REQUIRED)) - deployed
        assert not missing, f"production requires {sorted(missing)}, which ecs.tf does not set"

    def test_names_are_real_settings(self, deployment: Deployment) -> None:
        unknown = deployed_names(deployment) - SETTINGS_ENV_NAMES
        assert not unknown, f"ecs.tf sets {sorted(unknown)}, which app/core/config.py does not read"
        optional = deployment.variables["optional_secret_keys"]["validation"][0]["condition"]
        for name in re.findall(r'"([A-Z][A-Z0-9_]+)"', optional):
            assert name in SETTINGS_ENV_NAMES, name

    def test_credentials_come_only_from_secrets_manager(self, deployment: Deployment) -> None:
        credentials = secret_settings()
        assert {
            "DATABASE_URL",
            "NETVALVE_API_KEY",
            "SERVICE_API_KEYS",
            "MEDUSA_WEBHOOK_SECRET",
        } <= credentials
        in_plain = credentials & set(plain_environment(deployment))
        assert not in_plain, f"{sorted(in_plain)} are credentials but set as plain environment"
        optional = deployment.variables["optional_secret_keys"]["validation"][0]["condition"]
        assert set(re.findall(r'"([A-Z][A-Z0-9_]+)"', optional)) <= credentials

    def test_site_specific_values_come_from_variables(self, deployment: Deployment) -> None:
        for name, value in plain_environment(deployment).items():
            if name in FIXED_SETTINGS:
                assert value == FIXED_SETTINGS[name], name
            else:
                assert re.search(r"\b(var|data)\.", value), (
                    f"{name} = {value} is neither a variable nor looked up"
                )
        assert plain_environment(deployment)["APP_ENV"] == "production"

    def test_the_task_gets_the_plain_settings_the_mids_and_the_secrets(self, deployment: Deployment) -> None:
        environment = deployment.locals["environment"]
        assert "local.plain_environment" in environment
        assert "var.netvalve_mid_ids" in environment
        assert MID_ENV_PREFIX in environment
        secrets = deployment.locals["secrets"]
        assert "DATABASE_URL = aws_secretsmanager_secret.database_url.arn" in secrets
        assert "for key in local.app_secret_keys" in secrets
        assert "aws_secretsmanager_secret.app.arn" in secrets
        app_secret_keys = deployment.locals["app_secret_keys"]
        assert "local.required_app_secret_keys" in app_secret_keys
        assert "var.optional_secret_keys" in app_secret_keys
        container = deployment.locals["container"]
        assert "local.environment" in container["environment"]
        assert "local.secrets" in container["secrets"]
        assert container["readonlyRootFilesystem"] is True
        assert unquote(container["user"]) == "10001:10001"


class TestInfrastructure:
    def test_service_runs_at_least_two_fargate_tasks_behind_the_alb(self, deployment: Deployment) -> None:
        service = deployment.resource("aws_ecs_service", "app")
        assert unquote(service["launch_type"]) == "FARGATE"
        assert service["desired_count"] == "${var.desired_count}"
        desired = deployment.variables["desired_count"]
        assert desired["default"] >= 2
        assert desired["validation"][0]["condition"] == "${var.desired_count >= 2}"
        balancer = service["load_balancer"][0]
        assert balancer["target_group_arn"] == "${aws_lb_target_group.app.arn}"
        assert unquote(balancer["container_name"]) == "app"
        assert service["deployment_minimum_healthy_percent"] == 100

    def test_the_alb_health_check_is_ready(self, deployment: Deployment) -> None:
        check = deployment.resource("aws_lb_target_group", "app")["health_check"][0]
        assert unquote(check["path"]) == "/ready"
        assert unquote(check["matcher"]) == "200"
        assert unquote(deployment.resource("aws_lb", "this")["load_balancer_type"]) == "application"
        https = deployment.resource("aws_lb_listener", "https")
        assert unquote(https["protocol"]) == "HTTPS"
        assert https["certificate_arn"] == "${var.certificate_arn}"

    def test_uvicorn_keeps_idle_connections_longer_than_the_alb(self, deployment: Deployment) -> None:
        assert deployment.locals["alb_idle_timeout"] == 60
        assert deployment.resource("aws_lb", "this")["idle_timeout"] == "${local.alb_idle_timeout}"
        keep_alive = deployment.locals["server_environment"]["UVICORN_TIMEOUT_KEEP_ALIVE"]
        margin = re.fullmatch(r"\$\{tostring\(local\.alb_idle_timeout \+ (\d+)\)\}", keep_alive)
        assert margin is not None, keep_alive
        assert int(margin.group(1)) > 0
        assert "local.server_environment" in deployment.locals["environment"]

    def test_migrations_run_as_a_one_off_task_with_their_own_logs(self, deployment: Deployment) -> None:
        tasks = deployment.locals["tasks"]
        assert set(tasks) == {"app", "migrate"}
        assert [unquote(word) for word in tasks["migrate"]["container"]["command"]] == [
            "alembic",
            "upgrade",
            "head",
        ]
        assert "command" not in tasks["app"]["container"]
        assert tasks["app"]["container"]["portMappings"][0]["containerPort"] == "${local.container_port}"
        definition = deployment.resource("aws_ecs_task_definition", "this")
        assert definition["for_each"] == "${local.tasks}"
        containers = definition["container_definitions"]
        assert "merge(local.container, each.value.container" in containers
        assert "awslogs-group = aws_cloudwatch_log_group.this[each.key].name" in containers
        service = deployment.resource("aws_ecs_service", "app")
        assert service["task_definition"] == '${aws_ecs_task_definition.this["app"].arn}'
        assert 'aws_ecs_task_definition.this["migrate"].arn' in deployment.text["outputs.tf"]

    def test_each_task_has_a_log_group_with_a_retention(self, deployment: Deployment) -> None:
        group = deployment.resource("aws_cloudwatch_log_group", "this")
        assert group["for_each"] == "${local.tasks}"
        assert group["retention_in_days"] == "${var.log_retention_days}"

    def test_rds_postgresql_is_private_encrypted_and_generates_the_database_url(
        self, deployment: Deployment
    ) -> None:
        db = deployment.resource("aws_db_instance", "this")
        assert unquote(db["engine"]) == "postgres"
        assert db["publicly_accessible"] is False
        assert db["storage_encrypted"] is True
        assert db["password"] == "${random_password.db.result}"
        url = deployment.resource("aws_secretsmanager_secret_version", "database_url")["secret_string"]
        assert unquote(url).startswith("postgresql://")
        assert "aws_db_instance.this.address" in url
        assert "random_password.db.result" in url

    def test_only_the_tasks_reach_the_database_and_the_execution_role_reads_the_secrets(
        self, deployment: Deployment
    ) -> None:
        rule = deployment.resource("aws_vpc_security_group_ingress_rule", "db_from_tasks")
        assert rule["referenced_security_group_id"] == "${aws_security_group.tasks.id}"
        assert rule["from_port"] == rule["to_port"] == 5432
        policy = deployment.data[("aws_iam_policy_document", "read_secrets")]["statement"][0]
        assert set(policy["resources"]) == {
            "${aws_secretsmanager_secret.app.arn}",
            "${aws_secretsmanager_secret.database_url.arn}",
        }

    def test_every_reference_resolves(self, deployment: Deployment) -> None:
        # terraform validate needs the providers, which cannot be downloaded here; this catches typos.
        text = deployment.all_text()
        used_variables = set(re.findall(r"\bvar\.([a-z0-9_]+)", text))
        assert used_variables <= set(deployment.variables), used_variables - set(deployment.variables)
        unused = set(deployment.variables) - used_variables
        assert not unused, f"variables nothing uses: {sorted(unused)}"
        assert set(REFERENCE.findall(text)) <= set(deployment.resources)
        assert set(DATA_REFERENCE.findall(text)) <= set(deployment.data)
        used_locals = set(re.findall(r"\blocal\.([a-z0-9_]+)", text))
        assert used_locals <= set(deployment.locals), used_locals - set(deployment.locals)

    def test_every_variable_is_described_and_typed(self, deployment: Deployment) -> None:
        for name, body in deployment.variables.items():
            assert "type" in body, name
            assert unquote(body.get("description", "")), name

    def test_example_tfvars_sets_every_variable_without_a_default(self, deployment: Deployment) -> None:
        with (TERRAFORM / "example.tfvars").open() as handle:
            example = hcl2.load(handle)
        without_default = {name for name, body in deployment.variables.items() if "default" not in body}
        assert without_default <= set(example), without_default - set(example)


if shutil.which("terraform"):
    # Defined only where the binary exists: elsewhere the check is absent, never a skip counted as a pass.
    def test_terraform_fmt_check() -> None:
        result = subprocess.run(
            ["terraform", "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
