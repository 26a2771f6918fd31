package nexflow.authz_test

import data.nexflow.authz

test_unknown_role_is_denied if {
	d := authz.decision with input as call_input(["root"], [])
	codes(d) == {"no_matching_role"}
}

test_no_roles_is_denied if {
	d := authz.decision with input as call_input([], [])
	codes(d) == {"no_matching_role"}
}

test_viewer_runs_nothing if {
	d := authz.decision with input as call_input(["viewer"], [])
	codes(d) == {"skill_not_allowed_for_role"}
}

test_user_runs_skill_without_dangerous_permissions if {
	d := authz.decision with input as call_input(["user"], ["filesystem"])
	d.allow
}

test_user_may_use_network_on_the_allowlist if {
	ask := with_skill(call_input(["user"], ["network"]), {"network": ["api.test:443"]})
	d := authz.decision with input as ask with data.nexflow.config.network.allowed_hosts as ["api.test"]
	d.allow
	d.grants.network == ["api.test:443"]
}

test_user_may_not_use_shell if {
	d := authz.decision with input as call_input(["user"], ["shell"])
	codes(d) == {"permission_not_allowed"}
}

test_user_may_not_use_secrets if {
	d := authz.decision with input as call_input(["user"], ["secrets"])
	codes(d) == {"permission_not_allowed"}
}

test_operator_may_not_use_secrets if {
	d := authz.decision with input as call_input(["operator"], ["secrets"])
	codes(d) == {"permission_not_allowed"}
}

test_admin_secrets_need_approval if {
	d := authz.decision with input as call_input(["admin"], ["secrets", "shell"])
	d.require_approval
	codes(d) == {"approval_required_secrets", "approval_required_shell"}
}

test_roles_are_a_union if {
	d := authz.decision with input as call_input(["viewer", "user", "ghost"], ["filesystem"])
	d.allow
}

test_unknown_permission_class_is_denied if {
	d := authz.decision with input as call_input(["admin"], ["kernel"])
	codes(d) == {"permission_not_allowed"}
}

test_filesystem_request_implies_filesystem_permission if {
	ask := with_skill(call_input(["admin"], []), {"filesystem": [{"path": workspace, "mode": "ro"}]})
	authz._requested_permissions == {"filesystem"} with input as ask
}

test_network_request_implies_network_permission if {
	ask := with_skill(call_input(["user"], []), {"network": ["api.github.com:443"]})
	d := authz.decision with input as ask
		with data.nexflow.config.roles.user.permissions as ["filesystem"]
		with data.nexflow.config.network.allowed_hosts as ["api.github.com"]
	codes(d) == {"permission_not_allowed"}
}

roles_by_name_and_tag := {
	"byname": {"skills": {"names": ["file-read"], "tags": []}, "permissions": []},
	"bytag": {"skills": {"names": [], "tags": ["files"]}, "permissions": []},
	"other": {"skills": {"names": ["web-fetch"], "tags": ["web"]}, "permissions": []},
}

test_role_allows_skill_by_name if {
	d := authz.decision with input as call_input(["byname"], []) with data.nexflow.config.roles as roles_by_name_and_tag
	d.allow
}

test_role_allows_skill_by_tag if {
	d := authz.decision with input as call_input(["bytag"], []) with data.nexflow.config.roles as roles_by_name_and_tag
	d.allow
}

test_role_for_other_skills_is_denied if {
	d := authz.decision with input as call_input(["other"], []) with data.nexflow.config.roles as roles_by_name_and_tag
	codes(d) == {"skill_not_allowed_for_role"}
}

test_approval_classes_come_from_data if {
	d := authz.decision with input as call_input(["admin"], ["network"])
		with data.nexflow.config.approvals.required_for as ["network"]
		with data.nexflow.config.network.allowed_hosts as []
	codes(d) == {"approval_required_network"}
}

test_filesystem_approval_from_data if {
	d := authz.decision with input as call_input(["user"], ["filesystem"])
		with data.nexflow.config.approvals.required_for as ["filesystem"]
	codes(d) == {"approval_required_filesystem"}
}

test_data_assigns_roles_to_a_principal if {
	d := authz.decision with input as call_input([], [])
		with data.nexflow.config.principals as {"alice": {"roles": ["user"]}}
	d.allow
}

test_data_roles_add_to_credential_roles if {
	d := authz.decision with input as call_input(["user"], ["shell"])
		with data.nexflow.config.principals as {"alice": {"roles": ["operator"]}}
	codes(d) == {"approval_required_shell"}
}

test_data_roles_of_another_principal_do_not_apply if {
	d := authz.decision with input as call_input([], [])
		with data.nexflow.config.principals as {"bob": {"roles": ["admin"]}}
	codes(d) == {"no_matching_role"}
}
