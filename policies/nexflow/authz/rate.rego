# Rate limits per principal
#
# The control plane counts the calls each principal made before this one, over the last
# minute and the last hour, and passes them as input.context.rate = {minute, hour}.
# A limit is {"per_minute": n, "per_hour": n} (either may be left out; null = no limit).
# Which limit applies, first match wins:
#   data.nexflow.config.principals[id].rate_limit   when the key is present
#   the most generous limit among the roles that allow this skill (a role with no
#   rate_limit, or null, is unlimited; so then is the principal)
#
# The decision reads input.context.rate nowhere but here and in the shape checks of
# input.rego: below every cap, the counts change nothing else. The control plane's
# decision cache relies on that (rate_caps below); a test fails if another rule reads them.
package nexflow.authz

_role_limits contains object.get(_cfg.roles[name], "rate_limit", null) if {
	some name in _skill_roles
}

_principal_limit := object.get(_principal_cfg, "rate_limit", "unset")

_has_principal_limit if _principal_limit != "unset"

_unlimited_window(limit, _) if limit == null

_unlimited_window(limit, window) if {
	is_object(limit)
	object.get(limit, window, null) == null
}

_some_role_unlimited(window) if {
	some limit in _role_limits
	_unlimited_window(limit, window)
}

# The most generous cap among the roles, for one window. Written without max() and
# without a comprehension inside a function: rego-cpp (regopy 1.5.2) orders numbers
# wrongly in max/min/sort and loses a function's argument inside a comprehension.
_largest_role_cap(window) := cap if {
	some limit in _role_limits
	cap := limit[window]
	is_number(cap)
	not _role_cap_above(window, cap)
}

_role_cap_above(window, cap) if {
	some limit in _role_limits
	limit[window] > cap
}

# The effective cap for one window ("per_minute" or "per_hour"); undefined = no cap.
_window_cap(window) := _principal_limit[window] if {
	_has_principal_limit
	is_object(_principal_limit)
	is_number(_principal_limit[window])
}

_window_cap(window) := _largest_role_cap(window) if {
	not _has_principal_limit
	count(_role_limits) > 0
	not _some_role_unlimited(window)
}

_windows := {"per_minute": "minute", "per_hour": "hour"}

# METADATA
# description: The principal made as many calls as its rate limit allows in this window.
# custom:
#   code: rate_limited
_violations contains _reason("rate_limited", message) if {
	some window, counter in _windows
	cap := _window_cap(window)
	used := input.context.rate[counter]
	used >= cap
	message := sprintf("%v calls in the last %s; the limit is %v", [used, counter, cap])
}

# METADATA
# description: |
#   The cap each counter of input.context.rate is held to for this call, or null where
#   none applies ({"minute": n|null, "hour": n|null}). While every count is below its cap
#   the decision is the same whatever the counts, so the control plane caches it once for
#   all of them and compares the counts itself; at or above a cap it asks the policy.
rate_caps := {counter: _cap_or_null(window) | some window, counter in _windows}

_cap_or_null(window) := cap if {
	cap := _window_cap(window)
} else := null
