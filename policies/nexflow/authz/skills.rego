# Per-skill overrides
#
# data.nexflow.config.skills[name] adjusts the model for one skill; every key is optional:
#   "enabled": false           the skill cannot be run at all (skill_disabled)
#   "roles": [...]             only these roles may run it (on top of the roles' own lists)
#   "require_approval": true   every call needs a human's approval
#   "trusted": true            the operator vouches for it: no unknown-publisher and no
#                              new-version approval (see approvals.rego)
#   "allowed_hosts": [...]     endpoints allowed for this skill only, besides the global list
#   "filesystem_roots": [...]  directories allowed for this skill only, besides the global ones
#   "limits": {"defaults": {...}, "ceilings": {...}}  per-limit replacements
package nexflow.authz

_skill_cfg := object.get(object.get(_cfg, "skills", {}), input.skill.name, {})

# METADATA
# description: The skill's install-time scan blocked it (it should never have been placed).
# custom:
#   code: skill_scan_blocked
_violations contains _reason("skill_scan_blocked", message) if {
	input.skill.scan_verdict == "block"
	message := sprintf("skill %s failed its install-time scan", [input.skill.name])
}

# METADATA
# description: The operator disabled this skill.
# custom:
#   code: skill_disabled
_violations contains _reason("skill_disabled", message) if {
	_skill_cfg.enabled == false
	message := sprintf("skill %s is disabled by policy", [input.skill.name])
}
