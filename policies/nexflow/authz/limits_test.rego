package nexflow.authz_test

import data.nexflow.authz

test_skill_ask_replaces_default if {
	d := authz.decision with input as with_skill(user_input, {"limits": {"wall_time_ms": 5000}})
	d.grants.limits.wall_time_ms == 5000
	d.grants.limits.output_bytes == 1048576
}

test_ask_at_ceiling_is_granted if {
	d := authz.decision with input as with_skill(user_input, {"limits": {"pids": 256}})
	d.grants.limits.pids == 256
}

test_ask_above_ceiling_is_denied if {
	d := authz.decision with input as with_skill(user_input, {"limits": {"memory_bytes": 4294967296}})
	codes(d) == {"limit_above_ceiling"}
}
