# METADATA
# title: Nexflow skill-call authorization
# description: |
#   Entry point data.nexflow.authz.decision. Default deny: a call runs only when no rule
#   objects and a role positively allows the skill and every permission class it uses.
#   Configuration lives in data.nexflow.config (policies/data.json).
package nexflow.authz

# METADATA
# description: Returned whenever the decision cannot be computed (e.g. missing configuration).
# custom:
#   code: default_deny
default decision := {
	"allow": false,
	"require_approval": false,
	"reasons": [{"code": "default_deny", "message": "no policy rule allowed this call"}],
	"grants": {"filesystem": [], "network": [], "limits": {}, "secrets": []},
}

# METADATA
# description: The decision the control plane enforces.
decision := {
	"allow": _allow,
	"require_approval": _require_approval,
	"reasons": _reasons,
	"grants": _grants,
}

# METADATA
# description: |
#   The decision and the rate caps it was made under, from one evaluation: what the
#   control plane's decision cache asks on a miss (see rate_caps in rate.rego).
decision_and_rate_caps := {"decision": decision, "rate_caps": rate_caps}

_cfg := data.nexflow.config

_reason(code, message) := {"code": code, "message": message}

# Malformed input hides every other reason: the other rules assume well-formed input.
_deny := _malformed if count(_malformed) > 0

_deny := _violations if {
	count(_malformed) == 0
	count(_violations) > 0
}

# METADATA
# description: Nothing objected, yet no role positively allows the call.
# custom:
#   code: default_deny
_deny := {_reason("default_deny", "no policy rule allowed this call")} if {
	count(_malformed) == 0
	count(_violations) == 0
	not _positively_allowed
}

_deny := set() if {
	count(_malformed) == 0
	count(_violations) == 0
	_positively_allowed
}

_positively_allowed if {
	count(_skill_roles) > 0
	not _has_disallowed_permission
}

# Not written with `every`: see input.rego.
_has_disallowed_permission if {
	some permission in _requested_permissions
	not permission in _allowed_permissions
}

_pending_approvals := set() if _approved

_pending_approvals := _approvals if not _approved

_approved if input.context.approved == true

default _allow := false

_allow if {
	count(_deny) == 0
	count(_pending_approvals) == 0
}

default _require_approval := false

_require_approval if {
	count(_deny) == 0
	count(_pending_approvals) > 0
}

_reasons := sort([r | some r in _deny]) if count(_deny) > 0

_reasons := sort([r | some r in _pending_approvals]) if count(_deny) == 0

_grants := {
	"filesystem": sort([g | some g in _filesystem_grants]),
	"network": sort([h | some h in _network_grants]),
	"limits": _granted_limits,
	"secrets": sort([s | some s in _secret_grants]),
} if {
	count(_deny) == 0
}

_grants := {"filesystem": [], "network": [], "limits": {}, "secrets": []} if count(_deny) > 0
