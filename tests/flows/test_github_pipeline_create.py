"""`github:pipeline:create` against the fake GitHub, moto and a real registry, in-process.

Each test first runs github:repo:create for `orders` (team payments, owner carol, who is
also its change approver and on-call contact; dave is a member), as a developer would.
IAM documents are read back through boto3 and held to Paved's validator, since moto
accepts any JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from github import Github
from github.Environment import Environment
from github.Team import Team
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType

from blocks import AwsAccount
from flows.actions.github_pipeline_create import (
    PipelineCreateRequest,
    PipelineCreateResult,
    github_pipeline_create,
)
from flows.actions.github_repo_create import github_repo_create
from registry import queries
from registry.db import make_engine, session_scope
from registry.models import Provider, ResourceStatus
from sandbox.fake_github.control import FakeGitHubControl
from tasks.aws.iam import GITHUB_OIDC_THUMBPRINT, delete_deploy_role, ensure_deploy_role
from tasks.aws.policy_documents import InvalidPolicyDocument, validate_policy_document

pytestmark = pytest.mark.usefixtures("paved_blocks", "aws_account")

ORDERS = {"service": "orders", "requester": "dave"}
ROLE = "payments-orders-deploy"
APP = "payments-orders-app"
TASK_ROLE = "payments-orders-task"
CI = ".github/workflows/ci.yml"
DEPLOY = ".github/workflows/deploy.yml"


def create_repository(name: str = "orders", team: str = "payments", owner: str = "carol") -> None:
    requester = {"payments": "dave", "platform": "bob"}[team]
    state = github_repo_create(
        request={"name": name, "team": team, "owner": owner, "requester": requester},
        return_state=True,
    )
    assert state.is_completed(), state.message


def run(request: dict[str, Any]) -> Any:
    return github_pipeline_create(request=request, return_state=True)


def registry(url: str) -> Any:
    return session_scope(make_engine(url))


def iam(account: AwsAccount) -> Any:
    return account.get_client("iam")


def file_text(github: Github, repository: str, path: str) -> str:
    content = github.get_repo(repository).get_contents(path)
    assert not isinstance(content, list)
    return content.decoded_content.decode()


def reviewer_names(environment: Environment) -> list[tuple[str, str]]:
    """(type, team slug or login) of the environment's required reviewers."""
    names = []
    for rule in environment.protection_rules:
        for reviewer in rule.reviewers if rule.type == "required_reviewers" else []:
            who = reviewer.reviewer
            names.append((reviewer.type, who.slug if isinstance(who, Team) else who.login))
    return names


def test_dry_run_then_run_then_rerun(
    fake_github: FakeGitHubControl, github: Github, aws_account: AwsAccount, registry_url: str
) -> None:
    """A dry run touches nothing; the run creates everything (checked through PyGithub and
    boto3); a re-run changes nothing. One test, as each run costs seconds."""
    create_repository()
    fake_github.clear_requests()

    planned = run({**ORDERS, "dry_run": True})

    assert planned.is_completed(), planned.message
    assert planned.result().dry_run
    assert planned.result().deploy_role_arn.endswith(f":role/{ROLE}")
    assert fake_github.requests(writes_only=True) == []
    assert iam(aws_account).list_roles()["Roles"] == []
    assert iam(aws_account).list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    with registry(registry_url) as session:
        kinds = {r.kind for r in queries.find_resources(session, service="orders")}
        assert kinds == {"github_repository"}

    state = run(ORDERS)

    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, PipelineCreateResult)
    account_id = boto3_account(aws_account)
    role_arn = f"arn:aws:iam::{account_id}:role/{ROLE}"
    assert result.deploy_role_arn == role_arn and result.region == "us-east-1"

    # The workflows, rendered from Paved's templates.
    deploy = yaml.safe_load(file_text(github, "acme/orders", DEPLOY))
    assert deploy["permissions"] == {"id-token": "write", "contents": "read"}
    assert deploy["env"] == {
        "AWS_REGION": "us-east-1",
        "ECR_REPOSITORY": APP,
        "ECS_CLUSTER": "paved-shared",
        "ECS_SERVICE": APP,
        "CONTAINER_NAME": "orders",
    }
    job = deploy["jobs"]["deploy"]
    assert job["environment"] == "production"
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert steps["aws-actions/configure-aws-credentials"]["with"]["role-to-assume"] == role_arn
    assert "aws-actions/amazon-ecr-login" in steps
    assert "aws-actions/amazon-ecs-deploy-task-definition" in steps
    assert "docker push" in file_text(github, "acme/orders", DEPLOY)
    ci = yaml.safe_load(file_text(github, "acme/orders", CI))
    assert set(ci["jobs"]) == {"test", "image"} and ci[True]["push"]["branches"] == ["main"]
    assert "<<" not in file_text(github, "acme/orders", CI) + file_text(
        github, "acme/orders", DEPLOY
    )

    # The environments, read through PyGithub.
    repo = github.get_repo("acme/orders")
    assert sorted(env.name for env in repo.get_environments()) == ["production", "staging"]
    assert repo.get_environment("staging").protection_rules == []
    production = repo.get_environment("production")
    assert sorted(rule.type for rule in production.protection_rules) == [
        "branch_policy",
        "required_reviewers",
    ]
    assert reviewer_names(production) == [("Team", "payments")]
    assert production.deployment_branch_policy.protected_branches

    # The deploy role, read through boto3, trusted only by production of this repository.
    role = iam(aws_account).get_role(RoleName=ROLE)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    validate_policy_document(trust, kind="trust")
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:sub"] == (
        "repo:acme/orders:environment:production"
    )
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert trust["Statement"][0]["Principal"]["Federated"] == result.oidc_provider_arn
    inline = iam(aws_account).get_role_policy(RoleName=ROLE, PolicyName="paved-deploy")
    permissions = inline["PolicyDocument"]
    validate_policy_document(permissions, kind="permissions")
    resources = {s["Sid"]: s["Resource"] for s in permissions["Statement"]}
    assert resources["EcrPushPull"] == f"arn:aws:ecr:us-east-1:{account_id}:repository/{APP}"
    assert resources["EcsDeployService"] == (
        f"arn:aws:ecs:us-east-1:{account_id}:service/paved-shared/{APP}"
    )
    # The deploy role may pass the service's task execution role, named by policy: the
    # plan no longer reads the registry for it (it may be planned before the compute
    # exists), and passing a role that does not exist yet grants nothing.
    assert resources["PassTaskExecutionRole"] == f"arn:aws:iam::{account_id}:role/{TASK_ROLE}"
    tags = {t["Key"]: t["Value"] for t in iam(aws_account).list_role_tags(RoleName=ROLE)["Tags"]}
    assert tags == {
        "paved:service": "orders",
        "paved:team": "payments",
        "paved:owner": "carol",
        "paved:cost-center": "cc-200",
        "paved:managed-by": "paved",
    }

    # The account's OIDC provider.
    providers = iam(aws_account).list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in providers] == [result.oidc_provider_arn]
    provider = iam(aws_account).get_open_id_connect_provider(
        OpenIDConnectProviderArn=result.oidc_provider_arn
    )
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]
    assert provider["ThumbprintList"] == [GITHUB_OIDC_THUMBPRINT]
    assert provider["Url"].endswith("token.actions.githubusercontent.com")

    # The registry: every resource with its provider id, owned; the shared provider apart.
    with registry(registry_url) as session:
        found = {
            (r.kind, r.name): r
            for r in queries.find_resources(session, service="orders")
            if r.kind != "github_repository"
        }
        assert sorted(found) == [
            ("github_environment", "acme/orders:production"),
            ("github_environment", "acme/orders:staging"),
            ("github_workflow", f"acme/orders:{CI}"),
            ("github_workflow", f"acme/orders:{DEPLOY}"),
            ("iam_role", ROLE),
        ]
        assert all(r.status == ResourceStatus.ACTIVE for r in found.values())
        assert all(r.tags["paved:owner"] == "carol" for r in found.values())
        assert found[("iam_role", ROLE)].external_id == role_arn
        deploy_url = found[("github_workflow", f"acme/orders:{DEPLOY}")].url
        assert deploy_url is not None and deploy_url.endswith(f"main/{DEPLOY}")
        shared = queries.get_resource(
            session,
            provider=Provider.AWS,
            kind="iam_oidc_provider",
            name=result.oidc_provider_arn,
        )
        assert shared is not None and shared.service is None
        assert shared.external_id == result.oidc_provider_arn
        # Through the engine the service depends on every resource of its pipeline, as
        # on its compute and storage, besides the shared OIDC provider it does not own.
        dependencies = {
            d.depends_on_resource: d.kind
            for d in queries.dependencies_of(session, service="orders")
            if d.depends_on_resource and d.depends_on_resource[1] != "github_repository"
        }
        assert dependencies == {
            ("aws", "iam_oidc_provider", result.oidc_provider_arn): "uses",
            **{(r.provider.value, r.kind, r.name): "deploys-with" for r in found.values()},
        }
        owner = queries.ownership_of(session, thing=ROLE)
        assert owner is not None and (owner.service, owner.owner) == ("orders", "carol")
        journal = queries.journal_for_run(session, flow_run_id=str(state.state_details.flow_run_id))
        assert [entry.state for entry in journal] == ["Running", "Completed"]
        assert journal[-1].action == "github:pipeline:create"

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.name == "create-pipeline/payments/orders"
    assert {"action:github:pipeline:create", "team:payments", "requester:dave"} <= set(
        flow_run.tags
    )

    fake_github.clear_requests()
    rerun = run(ORDERS)

    assert rerun.is_completed(), rerun.message
    assert rerun.result().changes == []
    assert fake_github.requests(writes_only=True) == []
    assert rerun.result().deploy_role_arn == role_arn


def boto3_account(account: AwsAccount) -> str:
    return str(account.get_client("sts").get_caller_identity()["Account"])


def test_two_services_share_one_oidc_provider_and_drift_is_put_back(
    fake_github: FakeGitHubControl, github: Github, aws_account: AwsAccount
) -> None:
    create_repository()
    create_repository("hello", "platform", "alice")

    first = run(ORDERS)
    second = run({"service": "hello", "requester": "bob", "production_reviewers": 2})

    assert first.is_completed(), first.message
    assert second.is_completed(), second.message
    providers = iam(aws_account).list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert len(providers) == 1
    assert first.result().oidc_provider_arn == second.result().oidc_provider_arn
    hello_trust = iam(aws_account).get_role(RoleName="platform-hello-deploy")["Role"][
        "AssumeRolePolicyDocument"
    ]
    assert hello_trust["Statement"][0]["Condition"]["StringEquals"][
        "token.actions.githubusercontent.com:sub"
    ] == ("repo:acme/hello:environment:production")
    production = github.get_repo("acme/hello").get_environment("production")
    assert reviewer_names(production) == [("Team", "platform"), ("User", "alice")]
    assert second.result().environments["production"] == ["@acme/platform", "alice"]

    # Drift on a role (a widened trust, a deleted policy, a changed tag) is put back.
    client = iam(aws_account)
    trust = client.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    widened = json.loads(json.dumps(trust).replace("environment:production", "ref:refs/heads/*"))
    client.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(widened))
    client.delete_role_policy(RoleName=ROLE, PolicyName="paved-deploy")
    client.tag_role(RoleName=ROLE, Tags=[{"Key": "paved:owner", "Value": "mallory"}])

    state = run(ORDERS)

    assert state.is_completed(), state.message
    assert state.result().changes == [
        f"updated the trust policy of {ROLE}",
        "wrote inline policy paved-deploy",
        f"tagged {ROLE}",
    ]
    assert client.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"] == trust
    assert client.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["paved-deploy"]

    # The task functions themselves (`.fn`: no run around them, so no run logs).
    # Refused before any call: a document Paved's validator rejects never reaches IAM.
    with pytest.raises(InvalidPolicyDocument, match="grants every ecr action"):
        ensure_deploy_role.fn(
            aws_account,
            name="payments-orders-other",
            trust_policy=trust,
            permissions_policy={
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}],
            },
            tags={},
        )
    assert sorted(r["RoleName"] for r in client.list_roles()["Roles"]) == [
        ROLE,
        "platform-hello-deploy",
    ]

    assert delete_deploy_role.fn(aws_account, name=ROLE) is True
    assert [r["RoleName"] for r in client.list_roles()["Roles"]] == ["platform-hello-deploy"]
    assert delete_deploy_role.fn(aws_account, name=ROLE) is False


BAD_REQUESTS: dict[str, tuple[dict[str, Any], str]] = {
    "region not allowed": ({"region": "ap-south-1"}, "region 'ap-south-1' is not allowed"),
    "too many reviewers for the people": (
        {"production_reviewers": 3},
        "ask for at most 2",
    ),
    "no reviewers": ({"production_reviewers": 0}, "production_reviewers"),
    "over GitHub's six": ({"production_reviewers": 7}, "production_reviewers"),
    "unknown service": ({"service": "nothing-here"}, "no service 'nothing-here'"),
    "bad service name": ({"service": "Orders"}, "service name"),
    "requester outside the team": ({"requester": "alice"}, "'alice' is not a member"),
    "service without a repository": ({"service": "ledger"}, "run github:repo:create first"),
    "unknown field": ({"reviewers": 2}, "reviewers"),
}


def test_bad_requests_are_rejected_before_any_side_effect(
    fake_github: FakeGitHubControl, aws_account: AwsAccount, registry_url: str
) -> None:
    create_repository()
    with registry(registry_url) as session:
        queries.get_or_create_service(session, name="ledger", team="payments", owner="carol")
    fake_github.clear_requests()

    for name, (change, says) in BAD_REQUESTS.items():
        state = run({**ORDERS, **change})
        assert state.type == StateType.FAILED, name
        assert says in (state.message or ""), f"{name}: {state.message}"
    assert fake_github.requests(writes_only=True) == []
    assert iam(aws_account).list_roles()["Roles"] == []
    with registry(registry_url) as session:
        assert {r.kind for r in queries.find_resources(session)} == {"github_repository"}


def test_request_model_refuses_out_of_range_reviewers_and_describes_fields() -> None:
    with pytest.raises(ValueError, match="production_reviewers"):
        PipelineCreateRequest(service="orders", requester="dave", production_reviewers=7)
    schema = PipelineCreateRequest.model_json_schema()
    assert all(field.get("description") for field in schema["properties"].values())


def test_a_transient_github_failure_is_retried(fake_github: FakeGitHubControl) -> None:
    create_repository()
    fake_github.add_fault(
        "/repos/acme/orders/environments/production", method="PUT", status=502, times=1
    )

    state = run(ORDERS)

    assert state.is_completed(), state.message
    puts = [
        call
        for call in fake_github.requests(writes_only=True)
        if call["method"] == "PUT" and call["path"] == "/repos/acme/orders/environments/production"
    ]
    assert [call["status"] for call in puts] == [502, 200]


def test_a_forbidden_commit_fails_fast_and_a_rerun_converges(
    fake_github: FakeGitHubControl, github: Github, registry_url: str
) -> None:
    create_repository()
    fake_github.add_fault(f"/repos/acme/orders/contents/{CI}", method="PUT", status=403, times=5)

    failed = run(ORDERS)

    assert failed.type == StateType.FAILED
    assert f"commit {CI} failed for acme/orders: HTTP 403" in (failed.message or "")
    attempts = [
        c for c in fake_github.requests() if c["path"].endswith(CI) and c["method"] == "PUT"
    ]
    assert len(attempts) == 1  # permanent: not retried
    with registry(registry_url) as session:
        ci = queries.get_resource(
            session, provider=Provider.GITHUB, kind="github_workflow", name=f"acme/orders:{CI}"
        )
        assert ci is not None and ci.status == ResourceStatus.FAILED and "403" in (ci.error or "")
        role = queries.get_resource(session, provider=Provider.AWS, kind="iam_role", name=ROLE)
        assert role is not None and role.status == ResourceStatus.ACTIVE

    fake_github.clear_faults()
    rerun = run(ORDERS)

    assert rerun.is_completed(), rerun.message
    assert rerun.result().changes == [f"committed {CI}", f"committed {DEPLOY}"]
    assert "deploy" in file_text(github, "acme/orders", DEPLOY)
    with registry(registry_url) as session:
        statuses = {r.status for r in queries.find_resources(session, service="orders")}
        assert statuses == {ResourceStatus.ACTIVE}
