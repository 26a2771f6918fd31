package nexflow.authz_test

import data.nexflow.authz

secret_input(roles, names) := with_skill(call_input(roles, ["secrets"]), {"secrets": names})

grant(secret, skills, principals, roles) := {"secret": secret, "skills": skills, "principals": principals, "roles": roles}

test_declared_secret_without_grant_is_denied if {
	d := authz.decision with input as secret_input(["admin"], ["github_token"])
	"secret_not_granted" in codes(d)
	not d.allow
	d.grants.secrets == []
}

test_grant_by_role_reaches_the_call if {
	d := authz.decision with input as secret_input(["admin"], ["github_token"])
		with data.nexflow.config.secrets.grants as [grant("github_token", ["file-read"], [], ["admin"])]
		with data.nexflow.config.approvals.required_for as []
	d.allow
	d.grants.secrets == ["github_token"]
}

test_grant_by_principal_reaches_the_call if {
	d := authz.decision with input as secret_input(["admin"], ["github_token"])
		with data.nexflow.config.secrets.grants as [grant("github_token", ["*"], ["alice"], [])]
		with data.nexflow.config.approvals.required_for as []
	d.grants.secrets == ["github_token"]
}

test_grant_for_another_skill_does_not_count if {
	d := authz.decision with input as secret_input(["admin"], ["github_token"])
		with data.nexflow.config.secrets.grants as [grant("github_token", ["other-skill"], ["alice"], ["admin"])]
	codes(d) == {"secret_not_granted"}
}

test_grant_for_another_principal_does_not_count if {
	d := authz.decision with input as secret_input(["admin"], ["github_token"])
		with data.nexflow.config.secrets.grants as [grant("github_token", ["*"], ["bob"], ["operator"])]
	codes(d) == {"secret_not_granted"}
}

test_one_missing_grant_denies_the_call if {
	d := authz.decision with input as secret_input(["admin"], ["github_token", "smtp_password"])
		with data.nexflow.config.secrets.grants as [grant("github_token", ["*"], [], ["admin"])]
	codes(d) == {"secret_not_granted"}
}

test_secrets_need_the_permission_class if {
	d := authz.decision with input as secret_input(["user"], ["github_token"])
		with data.nexflow.config.secrets.grants as [grant("github_token", ["*"], [], ["user"])]
	"permission_not_allowed" in codes(d)
}

test_secrets_need_approval_by_default if {
	d := authz.decision with input as secret_input(["admin"], ["github_token"])
		with data.nexflow.config.secrets.grants as [grant("github_token", ["*"], [], ["admin"])]
	d.require_approval
	"approval_required_secrets" in codes(d)
	d.grants.secrets == ["github_token"]
}

test_bad_secret_name_is_malformed_input if {
	d := authz.decision with input as secret_input(["admin"], ["GITHUB_TOKEN"])
	codes(d) == {"malformed_input"}
}

test_no_secrets_grants_none if {
	d := authz.decision with input as call_input(["admin"], [])
		with data.nexflow.config.approvals.required_for as []
	d.grants.secrets == []
}

optional_input(roles, names) := with_skill(call_input(roles, []), {"optional_secrets": names})

test_optional_secret_without_grant_runs_without_it if {
	d := authz.decision with input as optional_input(["user"], ["github_token"])
		with data.nexflow.config.approvals.required_for as []
	d.allow
	not d.require_approval
	d.grants.secrets == []
}

test_optional_secret_without_grant_needs_no_secrets_approval if {
	d := authz.decision with input as optional_input(["admin"], ["github_token"])
	d.allow
	not "approval_required_secrets" in codes(d)
}

test_granted_optional_secret_reaches_the_call if {
	d := authz.decision with input as optional_input(["admin"], ["github_token", "smtp_password"])
		with data.nexflow.config.secrets.grants as [grant("github_token", ["file-read"], [], ["admin"])]
		with data.nexflow.config.approvals.required_for as []
	d.allow
	d.grants.secrets == ["github_token"]
}

test_granted_optional_secret_is_a_secrets_call if {
	d := authz.decision with input as optional_input(["admin"], ["github_token"])
		with data.nexflow.config.secrets.grants as [grant("github_token", ["*"], ["alice"], [])]
	d.require_approval
	"approval_required_secrets" in codes(d)
	d.grants.secrets == ["github_token"]
}

test_granted_optional_secret_needs_the_permission_class if {
	d := authz.decision with input as optional_input(["user"], ["github_token"])
		with data.nexflow.config.secrets.grants as [grant("github_token", ["*"], [], ["user"])]
	"permission_not_allowed" in codes(d)
}

test_required_and_optional_together if {
	d := authz.decision with input as with_skill(
		call_input(["admin"], ["secrets"]),
		{"secrets": ["smtp_password"], "optional_secrets": ["smtp_username"]},
	)
		with data.nexflow.config.secrets.grants as [grant("smtp_password", ["*"], [], ["admin"])]
		with data.nexflow.config.approvals.required_for as []
	d.allow
	d.grants.secrets == ["smtp_password"]
}

test_bad_optional_secret_name_is_malformed_input if {
	d := authz.decision with input as optional_input(["admin"], ["GITHUB_TOKEN"])
	codes(d) == {"malformed_input"}
}
