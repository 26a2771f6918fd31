# Resource limits
#
# Every limit in data.nexflow.config.limits.defaults is granted: the skill's ask when it
# gives one, else the default. An ask above data.nexflow.config.limits.ceilings is denied.
package nexflow.authz

_granted_limits := {name: value |
	some name, default_value in _cfg.limits.defaults
	value := object.get(object.get(input.skill, "limits", {}), name, default_value)
}

# METADATA
# description: The skill asks for more of a resource than the ceiling allows.
# custom:
#   code: limit_above_ceiling
_violations contains _reason("limit_above_ceiling", message) if {
	some name, value in object.get(input.skill, "limits", {})
	ceiling := _cfg.limits.ceilings[name]
	value > ceiling
	message := sprintf("the skill asks for %s=%v, above the ceiling %v", [name, value, ceiling])
}
