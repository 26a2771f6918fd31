# Principals, roles, skills and permission classes
#
# data.nexflow.config.roles says which skills (by name, by tag, or "*") each role may run
# and which permission classes it may use. A principal holds the roles its credential
# carries (input.principal.roles) plus those data.nexflow.config.principals[id].roles
# gives it; role names the configuration does not define are ignored.
# data.nexflow.config.skills[name] holds per-skill overrides (see skills.rego).
package nexflow.authz

_principal_cfg := object.get(object.get(_cfg, "principals", {}), input.principal.id, {})

_roles_of_principal contains name if {
	some name in input.principal.roles
}

_roles_of_principal contains name if {
	some name in object.get(_principal_cfg, "roles", [])
}

# Roles of the principal that the configuration knows.
_known_roles contains name if {
	some name in _roles_of_principal
	_cfg.roles[name]
}

# Known roles of the principal that allow this particular skill.
_skill_roles contains name if {
	some name in _known_roles
	_role_allows_skill(_cfg.roles[name])
	_skill_open_to_role(name)
}

_role_allows_skill(role) if "*" in role.skills.names

_role_allows_skill(role) if input.skill.name in role.skills.names

_role_allows_skill(role) if {
	some tag in object.get(input.skill, "tags", [])
	tag in role.skills.tags
}

# A per-skill override may narrow the roles that may run it.
_skill_open_to_role(_) if object.get(_skill_cfg, "roles", null) == null

_skill_open_to_role(name) if name in _skill_cfg.roles

# Permission classes usable through the roles that allow this skill.
_allowed_permissions contains permission if {
	some name in _skill_roles
	some permission in _cfg.roles[name].permissions
}

# Declared classes, plus the classes implied by the sandbox requests themselves.
_requested_permissions contains permission if {
	some permission in input.skill.permissions
}

_requested_permissions contains "filesystem" if count(object.get(input.skill, "filesystem", [])) > 0

_requested_permissions contains "network" if count(object.get(input.skill, "network", [])) > 0

_requested_permissions contains "network" if count(object.get(input.call, "hosts", [])) > 0

# METADATA
# description: The principal holds no role the configuration knows.
# custom:
#   code: no_matching_role
_violations contains _reason("no_matching_role", "the principal has no known role") if {
	count(_known_roles) == 0
}

# METADATA
# description: None of the principal's roles may run this skill.
# custom:
#   code: skill_not_allowed_for_role
_violations contains _reason("skill_not_allowed_for_role", message) if {
	count(_known_roles) > 0
	count(_skill_roles) == 0
	message := sprintf("no role of the principal may run skill %s", [input.skill.name])
}

# METADATA
# description: The skill uses a permission class that the allowing roles do not grant.
# custom:
#   code: permission_not_allowed
_violations contains _reason("permission_not_allowed", message) if {
	count(_skill_roles) > 0
	some permission in _requested_permissions
	not permission in _allowed_permissions
	message := sprintf("the principal's roles do not grant the %s permission", [permission])
}
