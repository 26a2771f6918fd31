package nexflow.authz_test

import data.nexflow.authz

test_allowed_call_has_no_reasons_and_default_limits if {
	d := authz.decision with input as user_input
	d.allow
	not d.require_approval
	d.reasons == []
	d.grants.limits.wall_time_ms == 30000
}

test_denied_call_grants_nothing if {
	d := authz.decision with input as call_input(["viewer"], [])
	not d.allow
	d.grants == {"filesystem": [], "network": [], "limits": {}, "secrets": []}
}

test_missing_configuration_denies if {
	d := authz.decision with input as user_input with data.nexflow.config as {}
	not d.allow
	codes(d) == {"no_matching_role"}
}

test_undefined_parts_give_the_default_decision if {
	d := authz.decision with input as user_input with authz._deny as 7
	not d.allow
	codes(d) == {"default_deny"}
}

test_not_positively_allowed_gives_default_deny if {
	d := authz.decision with input as user_input with authz._positively_allowed as false
	not d.allow
	codes(d) == {"default_deny"}
}

test_malformed_input_hides_other_reasons if {
	d := authz.decision with input as object.union(call_input(["nobody"], []), {"principal": {"id": "", "roles": []}})
	codes(d) == {"malformed_input"}
}

test_approval_required_is_not_allowed if {
	d := authz.decision with input as call_input(["admin"], ["shell"])
	not d.allow
	d.require_approval
	codes(d) == {"approval_required_shell"}
	d.grants.limits.pids == 64
}

test_approved_call_is_allowed if {
	approved := object.union(call_input(["admin"], ["shell"]), {"context": {"approved": true}})
	d := authz.decision with input as approved
	d.allow
	not d.require_approval
}

test_deny_outranks_approval if {
	d := authz.decision with input as call_input(["user"], ["shell"])
	not d.require_approval
	codes(d) == {"permission_not_allowed"}
}
