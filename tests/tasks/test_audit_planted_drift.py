"""The drift the audit benchmark plants, found by the AWS inventory and the audit's rules
against the session's moto: a bucket made public, its encryption removed, a table's
billing mode changed, and a policy added by hand to a deploy role (inline or attached).
The role's policies are the newest check: the inventory reads them from the same
GetAccountAuthorizationDetails answer it lists roles from, and restoring never removes
them (the finding stays open for a person)."""

from __future__ import annotations

import json
from typing import Any

from blocks.aws import AwsAccount
from flows.audits.drift_rules import setting_differences
from tasks.audit.aws_inventory import list_aws_resources
from tasks.audit.aws_remediate import restore_aws_resource
from tasks.aws.iam import DEPLOY_POLICY_NAME
from tests.tasks.test_aws_inventory import DECLARED, PERMISSIONS, TAGS, TRUST, by_key, provision

BUCKET, TABLE, ROLE = "payments-orders-data", "payments-orders-state", "payments-orders-deploy"
# The role's spec as the pipeline action registers it.
ROLE_SPEC = {"trust_policy": TRUST, "inline_policies": {DEPLOY_POLICY_NAME: PERMISSIONS}}
EXTRA = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"


def differences(account: AwsAccount, kind: str, name: str, spec: dict[str, Any]) -> Any:
    observed = by_key(list_aws_resources(account))[kind, name]
    return setting_differences(kind, spec, observed.settings)


def test_a_deploy_role_as_paved_made_it_shows_no_difference(account: AwsAccount) -> None:
    provision(account)

    assert differences(account, "iam_role", ROLE, ROLE_SPEC) == {}


def test_an_inline_policy_added_to_a_deploy_role_is_a_difference(account: AwsAccount) -> None:
    provision(account)
    account.get_client("iam").put_role_policy(
        RoleName=ROLE, PolicyName="hand-made", PolicyDocument=json.dumps(EXTRA)
    )

    assert differences(account, "iam_role", ROLE, ROLE_SPEC) == {
        "inline_policy_names": {
            "declared": [DEPLOY_POLICY_NAME],
            "actual": ["hand-made", DEPLOY_POLICY_NAME],
        }
    }


def test_an_attached_policy_on_a_deploy_role_is_a_difference_never_removed(
    account: AwsAccount,
) -> None:
    provision(account)
    iam = account.get_client("iam")
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=ADMIN_ARN)

    assert differences(account, "iam_role", ROLE, ROLE_SPEC) == {
        "attached_policy_arns": {"declared": [], "actual": [ADMIN_ARN]}
    }
    role_arn = iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    changes = restore_aws_resource(
        account,
        kind="iam_role",
        name=ROLE,
        external_id=role_arn,
        declared=ROLE_SPEC,
        declared_tags=TAGS,
    )
    assert changes == [
        f"not restored: policies on role {ROLE} Paved did not put there: {ADMIN_ARN}"
    ]
    attached = iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [ADMIN_ARN]


def test_a_bucket_made_public_and_unencrypted_is_a_difference(account: AwsAccount) -> None:
    provision(account)
    s3 = account.get_client("s3")
    s3.delete_public_access_block(Bucket=BUCKET)
    public = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(public))
    s3.delete_bucket_encryption(Bucket=BUCKET)

    assert differences(account, "s3_bucket", BUCKET, DECLARED["s3_bucket", BUCKET]) == {
        "public_access": {"declared": "blocked", "actual": "open"},
        "encryption": {"declared": "AES256", "actual": None},
    }


def test_a_table_whose_billing_mode_changed_is_a_difference(account: AwsAccount) -> None:
    provision(account)
    account.get_client("dynamodb").update_table(
        TableName=TABLE,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )

    assert differences(account, "dynamodb_table", TABLE, DECLARED["dynamodb_table", TABLE]) == {
        "billing_mode": {"declared": "PAY_PER_REQUEST", "actual": "PROVISIONED"}
    }
