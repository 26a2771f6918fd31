package nexflow.authz_test

import data.nexflow.authz

test_disabled_skill_is_denied_even_for_admin if {
	d := authz.decision with input as call_input(["admin"], [])
		with data.nexflow.config.skills as {"file-read": {"enabled": false}}
	codes(d) == {"skill_disabled"}
}

test_override_of_another_skill_changes_nothing if {
	d := authz.decision with input as user_input
		with data.nexflow.config.skills as {"file-write": {"enabled": false}}
	d.allow
}

test_skill_roles_override_narrows_who_may_run_it if {
	d := authz.decision with input as user_input
		with data.nexflow.config.skills as {"file-read": {"roles": ["operator"]}}
	codes(d) == {"skill_not_allowed_for_role"}
}

test_skill_roles_override_lets_a_listed_role_run_it if {
	d := authz.decision with input as call_input(["operator"], [])
		with data.nexflow.config.skills as {"file-read": {"roles": ["operator"]}}
	d.allow
}

test_skill_roles_override_cannot_widen_a_role if {
	d := authz.decision with input as call_input(["viewer"], [])
		with data.nexflow.config.skills as {"file-read": {"roles": ["viewer"]}}
	codes(d) == {"skill_not_allowed_for_role"}
}

test_skill_hosts_are_allowed_for_that_skill_only if {
	ask := with_skill(call_input(["user"], []), {"network": ["api.test:443"]})
	d := authz.decision with input as ask
		with data.nexflow.config.skills as {"file-read": {"allowed_hosts": ["api.test"]}}
	d.allow
	d.grants.network == ["api.test:443"]
	other := authz.decision with input as with_skill(ask, {"name": "other-skill"})
		with data.nexflow.config.skills as {"file-read": {"allowed_hosts": ["api.test"]}}
	codes(other) == {"network_not_allowed"}
}

test_skill_roots_are_allowed_for_that_skill_only if {
	ask := with_skill(call_input(["user"], []), {"filesystem": [{"path": "/srv/photos", "mode": "ro"}]})
	d := authz.decision with input as ask
		with data.nexflow.config.skills as {"file-read": {"filesystem_roots": [{"path": "/srv/photos", "mode": "ro"}]}}
	d.allow
	other := authz.decision with input as with_skill(ask, {"name": "other-skill"})
		with data.nexflow.config.skills as {"file-read": {"filesystem_roots": [{"path": "/srv/photos", "mode": "ro"}]}}
	codes(other) == {"filesystem_not_allowed"}
}

test_skill_limit_override_changes_default_and_ceiling if {
	overrides := {"file-read": {"limits": {"defaults": {"wall_time_ms": 1000}, "ceilings": {"memory_bytes": 1048576}}}}
	d := authz.decision with input as user_input with data.nexflow.config.skills as overrides
	d.grants.limits.wall_time_ms == 1000
	d.grants.limits.cpu_time_ms == 30000
	big := authz.decision with input as with_skill(user_input, {"limits": {"memory_bytes": 2097152}})
		with data.nexflow.config.skills as overrides
	codes(big) == {"limit_above_ceiling"}
}
