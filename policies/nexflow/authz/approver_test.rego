package nexflow.authz_test

import data.nexflow.authz

approval_input(approver, roles, requester) := {
	"principal": {"id": approver, "roles": roles, "channel": "http"},
	"request": {
		"principal": {"id": requester, "roles": ["admin"], "channel": "http"},
		"skill": {"name": "shell-run", "digest": "sha256:00"},
		"reason_codes": ["approval_required_shell"],
	},
}

test_operator_may_approve_someone_elses_call if {
	a := authz.approval with input as approval_input("olga", ["operator"], "admin")
	a.allow
	a.reasons == []
}

test_admin_may_approve_someone_elses_call if {
	a := authz.approval with input as approval_input("admin", ["admin"], "alice")
	a.allow
}

test_user_may_not_approve if {
	a := authz.approval with input as approval_input("alice", ["user"], "admin")
	not a.allow
	codes(a) == {"approver_role_not_allowed"}
}

test_principal_roles_from_data_count if {
	a := authz.approval with input as approval_input("alice", ["user"], "admin")
		with data.nexflow.config.principals as {"alice": {"roles": ["operator"]}}
	a.allow
}

test_self_approval_refused_by_default if {
	a := authz.approval with input as approval_input("admin", ["admin"], "admin")
	not a.allow
	codes(a) == {"self_approval_not_allowed"}
}

test_self_approval_when_configured if {
	a := authz.approval with input as approval_input("admin", ["admin"], "admin")
		with data.nexflow.config.approvals.approvers.self_approval as true
	a.allow
}

test_user_approving_own_call_gets_both_reasons if {
	a := authz.approval with input as approval_input("alice", ["user"], "alice")
	codes(a) == {"approver_role_not_allowed", "self_approval_not_allowed"}
}

test_malformed_approval_input_is_denied if {
	a := authz.approval with input as {"principal": {"id": "admin"}}
	not a.allow
	codes(a) == {"malformed_input"}
}
