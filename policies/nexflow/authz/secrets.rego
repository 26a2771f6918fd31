# Secret grants
#
# A skill declares the secrets it needs (input.skill.secrets, SKILL.md `secrets:`).
# data.nexflow.config.secrets.grants says which secret may reach which skill for whom:
#   {"secret": "github_token", "skills": ["github-issues"], "principals": ["alice"], "roles": ["admin"]}
# "skills" lists skill names ("*" = any skill); the grant holds for a principal whose id
# is in "principals" or who holds a known role in "roles". Nothing is granted by default.
# A declared secret that no grant covers denies the whole call (secret_not_granted):
# a skill run without a secret it declared would fail later, or fall back to something
# the operator did not choose; the deny names the missing grant instead.
# Declaring any secret also requests the `secrets` permission class (roles.rego).
# An optional secret (input.skill.optional_secrets, SKILL.md `optional_secrets:`) is
# granted by the same rules but never denies: the skill can do without it (an anonymous
# read). It requests the `secrets` permission class, and so its approval, only when a
# grant covers it, that is when the call would receive it.
package nexflow.authz

_secret_requests contains name if {
	some name in object.get(input.skill, "secrets", [])
}

_optional_secret_requests contains name if {
	some name in object.get(input.skill, "optional_secrets", [])
}

_requested_permissions contains "secrets" if count(_secret_requests) > 0

_requested_permissions contains "secrets" if count(_optional_secret_grants) > 0

_secret_grant_rules := object.get(object.get(_cfg, "secrets", {}), "grants", [])

_grant_names_skill(grant) if "*" in object.get(grant, "skills", [])

_grant_names_skill(grant) if input.skill.name in object.get(grant, "skills", [])

_grant_names_principal(grant) if input.principal.id in object.get(grant, "principals", [])

_grant_names_principal(grant) if {
	some role in _known_roles
	role in object.get(grant, "roles", [])
}

_secret_grants contains name if {
	some name in _secret_requests
	some grant in _secret_grant_rules
	grant.secret == name
	_grant_names_skill(grant)
	_grant_names_principal(grant)
}

_optional_secret_grants contains name if {
	some name in _optional_secret_requests
	some grant in _secret_grant_rules
	grant.secret == name
	_grant_names_skill(grant)
	_grant_names_principal(grant)
}

_secret_grants contains name if some name in _optional_secret_grants

# METADATA
# description: The skill declares a secret that no grant gives it for this principal.
# custom:
#   code: secret_not_granted
_violations contains _reason("secret_not_granted", message) if {
	some name in _secret_requests
	not name in _secret_grants
	message := sprintf("no secret grant gives %s to skill %s for this principal", [name, input.skill.name])
}
