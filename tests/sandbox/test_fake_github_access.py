"""Collaborators, team memberships and deployment environments of the fake GitHub, driven
through PyGithub as access:grant and github:pipeline:create drive GitHub."""

from __future__ import annotations

from typing import Any

import pytest
from github import Github, GithubException
from github.EnvironmentDeploymentBranchPolicy import EnvironmentDeploymentBranchPolicyParams
from github.EnvironmentProtectionRuleReviewer import ReviewerParams
from github.Repository import Repository

from sandbox.fake_github import FakeGitHubControl


@pytest.fixture
def repo(gh: Github) -> Repository:
    """acme/orders from the template, team payments maintaining it (as github:repo:create)."""
    org = gh.get_organization("acme")
    created = org.create_repo_from_template("orders", gh.get_repo("acme/service-template"))
    org.get_team_by_slug("payments").update_team_repository(created, "maintain")
    return created


def repo_state(control: FakeGitHubControl, full_name: str = "acme/orders") -> dict[str, Any]:
    return next(r for r in control.state()["repositories"] if r["full_name"] == full_name)


def status_of(call: object) -> int:
    with pytest.raises(GithubException) as caught:
        call()  # type: ignore[operator]
    return caught.value.status


# -- collaborators ------------------------------------------------------------------------------


def test_a_direct_grant_takes_effect_at_once_and_shows_in_the_state(
    repo: Repository, control: FakeGitHubControl
) -> None:
    assert repo.get_collaborator_permission("erin") == "none"
    assert repo.add_to_collaborators("erin", "push") is None  # 204, no invitation
    assert repo.has_in_collaborators("erin")
    assert repo.get_collaborator_permission("erin") == "write"
    assert repo.get_collaborator_role_name("erin") == "write"
    assert repo_state(control)["collaborators"] == {"erin": "push"}
    repo.remove_from_collaborators("erin")
    assert not repo.has_in_collaborators("erin")
    assert repo_state(control)["collaborators"] == {}
    repo.remove_from_collaborators("erin")  # removing again is no error


def test_the_highest_of_direct_and_team_permissions_wins(repo: Repository) -> None:
    assert repo.get_collaborator_role_name("dave") == "maintain"  # through payments
    repo.add_to_collaborators("dave", "pull")
    assert repo.get_collaborator_role_name("dave") == "maintain"
    repo.add_to_collaborators("dave", "admin")
    assert repo.get_collaborator_permission("dave") == "admin"
    assert repo.get_collaborator_role_name("paved-bot") == "admin"  # an organization owner


def test_team_membership_changes_access_end_to_end(gh: Github, repo: Repository) -> None:
    payments = gh.get_organization("acme").get_team_by_slug("payments")
    erin = gh.get_user("erin")
    assert not repo.has_in_collaborators("erin")
    payments.add_membership(erin, "member")
    assert payments.get_team_membership("erin").role == "member"
    assert repo.has_in_collaborators("erin")
    assert "erin" in [user.login for user in repo.get_collaborators()]
    payments.remove_membership(erin)
    assert not repo.has_in_collaborators("erin")


def test_collaborator_refusals(repo: Repository, gh: Github) -> None:
    assert status_of(lambda: repo.add_to_collaborators("erin", "owner")) == 422
    assert status_of(lambda: repo.get_collaborator_permission("nobody-here")) == 404
    assert status_of(lambda: repo.add_to_collaborators("nobody-here", "pull")) == 404
    missing = gh.withLazy(True).get_repo("acme/missing")
    assert not missing.has_in_collaborators("carol")  # a 404, which PyGithub reads as "no"
    assert status_of(lambda: missing.add_to_collaborators("carol", "pull")) == 404


def test_collaborator_lists_filter_by_affiliation_and_permission(repo: Repository) -> None:
    repo.add_to_collaborators("erin", "triage")
    assert [u.login for u in repo.get_collaborators(affiliation="direct")] == ["erin"]
    # Every seeded person is a member of the organization: nobody is an outside collaborator.
    assert list(repo.get_collaborators(affiliation="outside")) == []
    assert [u.login for u in repo.get_collaborators(permission="triage")] == ["erin"]
    listed = {u.login: u.permissions.maintain for u in repo.get_collaborators()}
    assert listed == {"paved-bot": True, "carol": True, "dave": True, "erin": False}


# -- environments -------------------------------------------------------------------------------


def test_environment_with_team_reviewer_is_read_back_in_githubs_shape(
    gh: Github, repo: Repository, control: FakeGitHubControl
) -> None:
    team = gh.get_organization("acme").get_team_by_slug("payments")
    repo.create_environment(
        "production",
        reviewers=[ReviewerParams("Team", team.id)],
        deployment_branch_policy=EnvironmentDeploymentBranchPolicyParams(protected_branches=True),
    )
    production = repo.get_environment("Production")  # names are case-insensitive
    assert production.name == "production"
    assert production.html_url.endswith(
        "/acme/orders/deployments/activity_log?environments_filter=production"
    )
    [policy, reviewers] = production.protection_rules
    assert (policy.type, reviewers.type) == ("branch_policy", "required_reviewers")
    [reviewer] = reviewers.reviewers
    assert reviewer.type == "Team" and reviewer.reviewer.id == team.id
    assert repo_state(control)["environments"] == {
        "production": {
            "wait_timer": 0,
            "prevent_self_review": False,
            "reviewers": [{"type": "Team", "id": team.id, "name": "payments"}],
            "deployment_branch_policy": {
                "protected_branches": True,
                "custom_branch_policies": False,
            },
        }
    }


def test_updating_an_environment_keeps_its_id_and_rule_ids(gh: Github, repo: Repository) -> None:
    carol = gh.get_user("carol")
    first = repo.create_environment("production", reviewers=[ReviewerParams("User", carol.id)])
    rule_id = first.protection_rules[0].id
    second = repo.create_environment(
        "production", wait_timer=10, reviewers=[ReviewerParams("User", carol.id)]
    )
    assert second.id == first.id
    by_type = {rule.type: rule for rule in second.protection_rules}
    assert by_type["required_reviewers"].id == rule_id
    assert by_type["wait_timer"].wait_timer == 10
    cleared = repo.create_environment("production")
    assert cleared.protection_rules == [] and cleared.deployment_branch_policy is None


def test_environment_refusals(gh: Github, repo: Repository) -> None:
    platform = gh.get_organization("acme").get_team_by_slug("platform")
    erin = gh.get_user("erin")
    carol = gh.get_user("carol")
    no_access_team = [ReviewerParams("Team", platform.id)]
    assert status_of(lambda: repo.create_environment("p", reviewers=no_access_team)) == 422
    no_access_user = [ReviewerParams("User", erin.id)]
    assert status_of(lambda: repo.create_environment("p", reviewers=no_access_user)) == 422
    seven = [ReviewerParams("User", carol.id)] * 7
    assert status_of(lambda: repo.create_environment("p", reviewers=seven)) == 422
    both = EnvironmentDeploymentBranchPolicyParams(True, True)
    assert status_of(lambda: repo.create_environment("p", deployment_branch_policy=both)) == 422
    assert status_of(lambda: repo.create_environment("p", wait_timer=-1)) == 422
    assert list(repo.get_environments()) == []
    assert status_of(lambda: repo.delete_environment("p")) == 404
    repo.edit(archived=True)
    assert status_of(lambda: repo.create_environment("p")) == 403


def test_environments_list_with_total_count_and_reset_forgets_them(
    repo: Repository, control: FakeGitHubControl, gh: Github
) -> None:
    for name in ("staging", "production", "qa"):
        repo.create_environment(name)
    environments = repo.get_environments()
    assert environments.totalCount == 3
    assert [env.name for env in environments] == ["production", "qa", "staging"]
    repo.delete_environment("qa")
    assert repo_state(control)["environments"].keys() == {"production", "staging"}
    control.reset()
    assert status_of(lambda: gh.get_repo("acme/orders").get_environments().totalCount) == 404
