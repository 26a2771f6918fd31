# Who may approve a call that needs approval
#
# Entry point data.nexflow.authz.approval, asked when someone approves or denies a pending
# call. input = {"principal": <who decides>, "request": {"principal": <who asked>,
# "skill": {"name", "digest"}, "reason_codes": [...]}}; the answer is {"allow", "reasons"}.
#
# data.nexflow.config.approvals.approvers:
#   "roles": [names]        roles whose holders may approve (the principal's roles plus
#                           those data.nexflow.config.principals[id].roles gives it)
#   "self_approval": bool   whether a principal may approve its own call (default false)
# The HTTP API also requires the token scope approvals:decide, which agent tokens never hold.
package nexflow.authz

_approvers_cfg := object.get(_approval_cfg, "approvers", {})

# METADATA
# description: Returned whenever the answer cannot be computed (e.g. malformed input).
# custom:
#   code: default_deny
default approval := {
	"allow": false,
	"reasons": [{"code": "default_deny", "message": "no policy rule allowed this approval"}],
}

# METADATA
# description: Whether input.principal may approve or deny the pending call input.request.
approval := {"allow": count(_approver_denies) == 0, "reasons": [r | some r in _approver_denies]}

_approver_input_ok if {
	is_string(input.principal.id)
	is_array(input.principal.roles)
	is_string(input.request.principal.id)
	is_string(input.request.skill.name)
	is_array(input.request.reason_codes)
}

# METADATA
# description: The approval request does not have the documented shape.
# custom:
#   code: malformed_input
_approver_denies contains _reason("malformed_input", "approval input does not have the documented shape") if {
	not _approver_input_ok
}

_approver_role if {
	some name in _roles_of_principal
	name in object.get(_approvers_cfg, "roles", [])
}

# METADATA
# description: None of the principal's roles may approve calls.
# custom:
#   code: approver_role_not_allowed
_approver_denies contains _reason("approver_role_not_allowed", "no role of this principal may approve calls") if {
	_approver_input_ok
	not _approver_role
}

# METADATA
# description: A principal may not approve its own call unless self_approval is configured.
# custom:
#   code: self_approval_not_allowed
_approver_denies contains _reason("self_approval_not_allowed", "a principal may not approve its own call") if {
	_approver_input_ok
	input.request.principal.id == input.principal.id
	object.get(_approvers_cfg, "self_approval", false) != true
}
