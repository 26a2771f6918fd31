package nexflow.authz_test

import data.nexflow.authz

with_rate(base, minute, hour) := object.union(base, {"context": {"rate": {"minute": minute, "hour": hour}}})

test_user_under_the_minute_limit_is_allowed if {
	d := authz.decision with input as with_rate(user_input, 59, 59)
	d.allow
}

test_user_at_the_minute_limit_is_denied if {
	d := authz.decision with input as with_rate(user_input, 60, 60)
	codes(d) == {"rate_limited"}
	d.reasons[0].message == "60 calls in the last minute; the limit is 60"
}

test_user_at_the_hour_limit_is_denied if {
	d := authz.decision with input as with_rate(user_input, 0, 1000)
	codes(d) == {"rate_limited"}
	d.reasons[0].message == "1000 calls in the last hour; the limit is 1000"
}

test_admin_is_not_rate_limited if {
	d := authz.decision with input as with_rate(call_input(["admin"], []), 100000, 100000)
	d.allow
}

test_most_generous_role_wins if {
	d := authz.decision with input as with_rate(call_input(["user", "operator"], []), 100, 100)
	d.allow
}

test_unlimited_role_makes_the_principal_unlimited if {
	d := authz.decision with input as with_rate(call_input(["user", "admin"], []), 5000, 5000)
	d.allow
}

test_role_with_only_a_minute_limit_has_no_hour_cap if {
	d := authz.decision with input as with_rate(user_input, 1, 999999)
		with data.nexflow.config.roles.user.rate_limit as {"per_minute": 10, "per_hour": null}
	d.allow
}

test_principal_override_replaces_role_limits if {
	d := authz.decision with input as with_rate(user_input, 5, 5)
		with data.nexflow.config.principals as {"alice": {"rate_limit": {"per_minute": 5, "per_hour": 100}}}
	codes(d) == {"rate_limited"}
}

test_principal_override_null_means_unlimited if {
	d := authz.decision with input as with_rate(user_input, 500, 50000)
		with data.nexflow.config.principals as {"alice": {"rate_limit": null}}
	d.allow
}

test_rate_counts_are_required if {
	context := object.union(user_input.context, {"rate": {"minute": 1}})
	malformed(object.union(object.remove(user_input, ["context"]), {"context": object.remove(context, ["rate"])}))
	malformed(object.union(object.remove(user_input, ["context"]), {"context": object.union(object.remove(context, ["rate"]), {"rate": {"minute": 1}})}))
}

test_negative_rate_counts_are_malformed if {
	malformed(object.union(user_input, {"context": {"rate": {"minute": -1, "hour": 0}}}))
}

test_rate_limited_is_a_deny_even_when_approved if {
	ask := object.union(with_rate(user_input, 60, 60), {"context": {"approved": true}})
	d := authz.decision with input as ask
	not d.allow
	not d.require_approval
}

test_rate_caps_are_the_most_generous_role_caps if {
	authz.rate_caps == {"minute": 120, "hour": 3000} with input as call_input(["user", "operator"], [])
}

test_rate_caps_are_null_for_an_unlimited_role if {
	authz.rate_caps == {"minute": null, "hour": null} with input as call_input(["admin"], [])
}

test_rate_caps_follow_the_principal_limit if {
	limit := {"rate_limit": {"per_minute": 5}}
	caps := authz.rate_caps with input as user_input
		with data.nexflow.config.principals as {"alice": limit}
	caps == {"minute": 5, "hour": null}
}

test_decision_and_rate_caps_agree_with_both_rules if {
	both := authz.decision_and_rate_caps with input as with_rate(user_input, 60, 0)
	both.decision == authz.decision with input as with_rate(user_input, 60, 0)
	both.rate_caps == {"minute": 60, "hour": 1000}
}
