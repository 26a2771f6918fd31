# Sandbox backend
#
# A skill may ask for a sandbox backend: input.skill.backend is "docker" or "nsjail"
# (sandbox.backend in SKILL.md; a skill with its own image or Dockerfile asks for docker).
# The request is honoured only when data.nexflow.config.sandbox.backends lists it;
# otherwise the call is denied. A skill that asks for nothing runs on the executor's
# default backend. Both backends are allowed by default.
package nexflow.authz

_allowed_backends := object.get(object.get(_cfg, "sandbox", {}), "backends", [])

# METADATA
# description: The skill asks for a sandbox backend that policy does not allow.
# custom:
#   code: backend_not_allowed
_violations contains _reason("backend_not_allowed", message) if {
	backend := object.get(input.skill, "backend", null)
	is_string(backend)
	not backend in _allowed_backends
	message := sprintf("the skill asks for the %v sandbox backend, which policy does not allow", [backend])
}
